"""`vanikeys console`: the chat commands (/pull, /order, ...) typed at this terminal or piped in."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from bot.cli_commands import fail, settings, storage_faults
from gpu_worker.i18n import _

if TYPE_CHECKING:
    from bot.config import Settings


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `console` (the chat commands typed at a terminal) to the subcommands."""
    console_cmd = commands.add_parser(
        "console", description=_("The chat commands (/pull, /order, ...) typed at the console.")
    )
    console_cmd.add_argument(
        "--user", default="you", metavar="NAME", help=_("who you are at the console (default: you)")
    )
    console_cmd.add_argument(
        "--community", default="console", metavar="NAME", help=_("the community for leaderboards (default: console)")
    )
    console_cmd.add_argument(
        "--json",
        action="store_true",
        help=_("one JSON object per reply, private deliveries marked (English, for scripts)"),
    )
    console_cmd.set_defaults(func=cmd_console)


def cmd_console(args: argparse.Namespace) -> int:
    """Run the console front end until EOF; 2 with one line for a bad --user or a storage fault."""
    user = args.user.strip()
    if not user or len(user) > 64:
        return fail(_("--user must be a name of 1 to 64 characters"))
    try:
        return asyncio.run(_console(settings(), user, args.community.strip() or None, args.json))
    except storage_faults() as exc:
        return fail(str(exc))


async def _console(settings: Settings, user: str, community: str | None, as_json: bool) -> int:
    from bot.app import create_app
    from bot.frontends.console import run_console

    async with create_app(settings) as app:
        return await run_console(app.service, user_name=user, community_name=community, as_json=as_json)
