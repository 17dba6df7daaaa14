"""`vanikeys bot`, exactly, with discord.py's REST base pointed at a loopback fake.

    VANIKEYS_LOAD_DISCORD_API=http://127.0.0.1:PORT/api/v10 python benchmarks/load_bot.py

The load benchmark (benchmarks/load.py) runs the bot in this child process so
that the bot has an interpreter (and a GIL) of its own, as it has in
production, and so that its memory can be read from /proc. Everything else is
configured from the environment as for `vanikeys bot` (TELEGRAM_API_BASE_URL
points python-telegram-bot at the Telegram fake; discord.py has no setting for
its API base, hence the one assignment below). It refuses to start when the
Discord base is not a loopback address: this process must reach nothing else.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LOOPBACK = "http://127.0.0.1:"


def main() -> int:
    api = os.environ.get("VANIKEYS_LOAD_DISCORD_API", "")
    telegram = os.environ.get("TELEGRAM_API_BASE_URL", "")
    if not api.startswith(LOOPBACK) or not telegram.startswith(LOOPBACK):
        print("load_bot: VANIKEYS_LOAD_DISCORD_API and TELEGRAM_API_BASE_URL must be loopback URLs", file=sys.stderr)
        return 2
    import discord.http

    discord.http.Route.BASE = api
    from benchmarks import mallocstats, memtrace

    memtrace.start_from_environment()  # VANIKEYS_LOAD_TRACEMALLOC (load.py --trace-memory): snapshots to diff
    mallocstats.start_from_environment()  # VANIKEYS_LOAD_MALLOC_STATS (load.py --malloc-stats): where RSS goes
    from bot.cli import main as vanikeys

    return vanikeys(["bot"])


if __name__ == "__main__":
    sys.exit(main())
