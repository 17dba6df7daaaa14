"""The `vanikeys` command: the engine's subcommands (grind, odds, combine, bench) plus `bot` and `console`.

    vanikeys bot                                   every configured front end (console when none is)
    vanikeys console [--user NAME] [--community NAME] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import sys
from collections.abc import Sequence

from gpu_worker.cli import build_parser, run

from bot.config import ConfigError, Settings

log = logging.getLogger("vanikeys")


def add_bot_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bot_cmd = commands.add_parser("bot", help="run the bot: Discord and/or Telegram when their tokens are set, "
                                              "else the console", description="Run every configured front end.")
    bot_cmd.set_defaults(func=cmd_bot)
    console_cmd = commands.add_parser("console", help="use the bot from this terminal (or a pipe)",
                                      description="The chat commands (/pull, /order, ...) typed at the console.")
    console_cmd.add_argument("--user", default="you", metavar="NAME", help="who you are at the console (default: you)")
    console_cmd.add_argument("--community", default="console", metavar="NAME",
                             help="the community for leaderboards (default: console)")
    console_cmd.add_argument("--json", action="store_true", help="one JSON object per reply, private deliveries marked")
    console_cmd.set_defaults(func=cmd_console)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise SystemExit(_fail(str(exc))) from None


def _fail(message: str) -> int:
    print(f"vanikeys: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def cmd_console(args: argparse.Namespace) -> int:
    user = args.user.strip()
    if not user or len(user) > 64:
        return _fail("--user must be a name of 1 to 64 characters")
    return asyncio.run(_console(_settings(), user, args.community.strip() or None, args.json))


async def _console(settings: Settings, user: str, community: str | None, as_json: bool) -> int:
    from bot.app import create_app
    from bot.frontends.console import run_console

    async with create_app(settings) as app:
        return await run_console(app.service, user_name=user, community_name=community, as_json=as_json)


def cmd_bot(args: argparse.Namespace) -> int:
    settings = _settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    platforms = [name for name, token in (("discord", settings.discord_token), ("telegram", settings.telegram_token))
                 if token]
    if not platforms:
        return asyncio.run(_console(settings, "you", "console", False))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_bot(settings, platforms))
    return 0


async def _bot(settings: Settings, platforms: list[str]) -> None:
    from bot.app import create_app

    async with create_app(settings) as app, contextlib.AsyncExitStack() as stack:
        if settings.stripe_configured:
            from payments.config import StripeSettings
            from payments.webhook import webhook_server

            stripe_settings = StripeSettings.from_env()
            if stripe_settings is not None:
                await stack.enter_async_context(webhook_server(stripe_settings, app.service.apply_instruction))
        runners = []
        for platform in platforms:
            module = importlib.import_module(f"bot.frontends.{platform}")
            runners.append(asyncio.create_task(module.run(app, settings), name=platform))
        log.info("running: %s", ", ".join(platforms))
        try:
            await asyncio.gather(*runners)
        finally:
            for task in runners:
                task.cancel()
            await asyncio.gather(*runners, return_exceptions=True)


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(extra=add_bot_commands), argv)


if __name__ == "__main__":
    sys.exit(main())
