"""The Discord front end: slash commands, public reveals, private keys by DM, buttons that survive restarts.

`vanikeys bot` calls `run(app, settings)`; tests build `VaniKeysBot` directly
against a loopback fake of Discord (tests/discord/fake_discord.py).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from bot.config import ConfigError, Settings
from gpu_worker.i18n import N_
from gpu_worker.localized import phrase

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["run"]


async def run(app: App, settings: Settings) -> None:
    """Run the Discord bot until it is closed (Ctrl-C or a fatal gateway error)."""
    from bot.frontends.discord.bot import VaniKeysBot
    from bot.frontends.discord.config import DiscordConfig

    if not settings.discord_token:
        raise ConfigError(
            phrase(
                N_(
                    "DISCORD_TOKEN is not set: put the bot token from the Discord developer portal in the "
                    "environment or .env, or run `vanikeys console` to try the bot locally"
                )
            )
        )
    from bot.frontends.discord.shards import shard_options
    from bot.startup import run_discord

    config = DiscordConfig.from_env()
    bot = VaniKeysBot(app.service, settings, config, **shard_options())
    async with bot:
        app.health.watch(
            "discord",
            lambda: (
                bot.is_ready() and not bot.is_closed() and math.isfinite(bot.latency),
                f"{len(bot.shards)} shard(s), latency {bot.latency:.2f} s",
            ),
        )
        try:
            # bot.start() is login + connect: the login is retried with a bounded wait, the gateway must make
            # the bot ready in bounded time, and either failure is one line (bot/startup.py).
            await run_discord(
                bot, settings.discord_token, settings.start_retry_s, ready_margin_s=config.guild_ready_timeout_s + 5.0
            )
        finally:
            app.health.stopped("discord")
