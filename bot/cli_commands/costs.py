"""`vanikeys costs`: GPU cost per pull and per order, by provider, beside revenue (bot/costs.py)."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from bot.cli_commands import fail, settings
from gpu_worker.errors import VanikeysError
from gpu_worker.i18n import _
from gpu_worker.numbers import parse_int

if TYPE_CHECKING:
    from bot.config import Settings


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `costs` (what grinding cost over the last days) to the subcommands."""
    costs_cmd = commands.add_parser("costs", description=_("What grinding cost over the last days (bot/costs.py)."))
    costs_cmd.add_argument("--days", default="7", metavar="N", help=_("how many days back (default 7)"))
    costs_cmd.set_defaults(func=cmd_costs)


def cmd_costs(args: argparse.Namespace) -> int:
    """Run `vanikeys costs`: print the cost report for --days (1..3650); 2 with one line for a bad number."""
    try:
        days = parse_int(args.days, what="--days", minimum=1, maximum=3650)
    except VanikeysError as exc:
        return fail(exc.message)
    from bot.storage.opening import storage_faults_answered

    with storage_faults_answered():
        return asyncio.run(_costs(settings(), days))


async def _costs(settings: Settings, days: int) -> int:
    from bot.costs import cost_report
    from bot.settings import load_settings
    from bot.storage.opening import open_configured

    usd_per_token = load_settings().usd_per_token  # validated with the rest by settings()
    db = await open_configured(settings)
    try:
        print((await cost_report(db, days, usd_per_token=usd_per_token)).render())
    finally:
        await db.close()
    return 0
