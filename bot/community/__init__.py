"""What keeps a community coming back: its settings, personal bests, streaks, gifts, weekly seasons, profiles.

Each module has one job; the service (bot/service.py) calls them and turns
their results into answers (bot/answers.py).
"""
