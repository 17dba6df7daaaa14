"""The front ends: Discord, Telegram and the console, each a thin translation onto `Service` calls.

The protocol the service calls them back through, `FrontEnd`, lives below the service in bot/ports.py
(docs/architecture.md, Layers): a front end imports the service, never the other way round.
"""
