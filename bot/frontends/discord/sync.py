"""`python -m bot.frontends.discord.sync [global | GUILD_ID | clear:GUILD_ID ...]`: publish the slash commands.

A CLI step for the first deployment (and after the commands change): it logs
in over HTTP only (no gateway, no intents), syncs, and exits. Afterwards the
owner can use /sync from Discord.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot.config import ConfigError, Settings
from bot.frontends.discord.config import SYNC_CLEAR, SYNC_GLOBAL, DiscordConfig
from gpu_worker.i18n import N_
from gpu_worker.localized import phrase


def parse_targets(values: Sequence[str]) -> tuple[str, ...]:
    """The sync targets, trimmed and lower-cased; none given means ("global",). ConfigError for a target that is not
    "global", a server id or clear:<server id>."""
    targets = tuple(v.strip().lower() for v in values if v.strip()) or (SYNC_GLOBAL,)
    for target in targets:
        guild = target.removeprefix(SYNC_CLEAR)
        if target != SYNC_GLOBAL and not (guild.isascii() and guild.isdigit()):
            raise ConfigError(
                phrase(
                    N_(
                        "{target} is not a sync target: give 'global', a server id such as "
                        "123456789012345678, or clear:<server id>"
                    ),
                    target=repr(target),
                )
            )
    return targets


async def sync(settings: Settings, targets: tuple[str, ...]) -> int:
    """Log in over HTTP only (no gateway), sync the commands to each target and return how many the last sync
    published. ConfigError without DISCORD_TOKEN. Opens and closes the app for it (the bot needs a service)."""
    from bot.app import create_app
    from bot.frontends.discord.bot import VaniKeysBot

    if not settings.discord_token:
        raise ConfigError(
            phrase(
                N_(
                    "DISCORD_TOKEN is not set: put the bot token from the Discord developer portal in the environment "
                    "or .env"
                )
            )
        )
    async with create_app(settings) as app:
        bot = VaniKeysBot(app.service, settings, DiscordConfig())
        async with bot:
            await bot.login(settings.discord_token)  # HTTP only: loads the commands, opens no gateway
            return await bot.sync_commands(targets)


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: 0 when synced, 2 on a configuration error (told on stderr)."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.frontends.discord.sync", description="Publish VaniKeys' Discord slash commands"
    )
    parser.add_argument("targets", nargs="*", help="'global' (default), a server id, or clear:<server id>")
    args = parser.parse_args(argv)
    try:
        targets = parse_targets(args.targets)
        count = asyncio.run(sync(Settings.from_env(), targets))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"synced {count} commands to {', '.join(targets)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
