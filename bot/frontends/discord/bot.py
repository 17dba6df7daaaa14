"""The Discord bot: discord.py's AutoShardedBot wired to the one Service.

Intents are the minimum: guilds (interactions need them), nothing else. No
message events at all (commands are slash commands, the owner's sync too)
and no message cache: the bot's own DMs, which carry private keys, never
come back to it and are never kept in memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.frontends.discord.cogs import ALL_COGS
from bot.frontends.discord.config import SYNC_CLEAR, SYNC_GLOBAL, DiscordConfig
from bot.frontends.discord.cooldowns import Cooldowns
from bot.frontends.discord.flows import COMMAND, ODDS, ORDER, PULL, Flows
from bot.frontends.discord.frontend import DiscordFrontEnd
from bot.frontends.discord.mentions import CommandMentions
from bot.frontends.discord.options import AUTOCOMPLETE
from bot.frontends.discord.outbox import Outbox
from bot.frontends.discord.privacy import install_log_redaction
from bot.frontends.discord.rendering import error_text
from bot.frontends.discord.translator import CatalogTranslator
from bot.frontends.discord.views import DYNAMIC_ITEMS
from bot.i18n import _, set_locale as use_locale
from bot.service import Service

log = logging.getLogger(__name__)


class VaniKeysBot(commands.AutoShardedBot):
    """The Discord bot: the guilds intent only (no message content), the cogs and the buttons, and what the front end
    shares (Flows, Cooldowns, Outbox, DiscordFrontEnd). Log redaction is installed before anything connects;
    service and settings are kept, never owned: closing the bot does not close the service."""

    def __init__(
        self, service: Service, settings: Settings, config: DiscordConfig | None = None, **options: Any
    ) -> None:
        install_log_redaction()
        self.config = config or DiscordConfig()
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            max_messages=None,
            chunk_guilds_at_startup=False,
            guild_ready_timeout=self.config.guild_ready_timeout_s,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True, replied_user=False),
            **options,
        )
        self.service = service
        self.settings = settings
        self.clock: Callable[[], float] = time.monotonic  # interaction-token freshness is measured on it
        self.cooldowns = Cooldowns(
            {
                PULL: self.config.pull_cooldown_s,
                ORDER: self.config.order_cooldown_s,
                ODDS: self.config.odds_cooldown_s,
                COMMAND: self.config.command_cooldown_s,
                AUTOCOMPLETE: self.config.autocomplete_cooldown_s,
            }
        )
        self.outbox = Outbox()
        self._late_reveals: asyncio.Task[None] | None = None
        self.mentions = CommandMentions()  # the published commands' ids, for answers that name a command
        self._command_ids: asyncio.Task[None] | None = None
        self.frontend = DiscordFrontEnd(self)
        self.flows = Flows(self)
        self.tree.on_error = self._on_app_command_error  # type: ignore[method-assign]

    async def setup_hook(self) -> None:
        """Called by discord.py once logged in, before the gateway: translator, buttons and cogs in, the front end
        registered with the service, the commands synced when config.sync_on_start asks, the kept late reveals
        started in the background."""
        await self.tree.set_translator(CatalogTranslator())  # names and descriptions in each person's language
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        for cog in ALL_COGS:
            await self.add_cog(cog(self))
        self.service.register_frontend(self.frontend)
        if self.config.sync_on_start:
            await self.sync_commands(self.config.sync_on_start)
        if SYNC_GLOBAL not in self.config.sync_on_start:  # the ids published before, for mentions (until then: /name)
            self._command_ids = asyncio.create_task(self._learn_command_ids(), name="discord-command-ids")
        # Logged in (REST works): the reveals a previous stop kept go to their channels.
        self._late_reveals = asyncio.create_task(self.frontend.post_late_reveals(), name="discord-late-reveals")

    async def close(self) -> None:
        """Stops in order: sends in flight get config.stop_grace_s (reveals still waiting are kept for the next start),
        then progress edits still waiting are dropped and the connection closes."""
        if not self.is_closed():
            # What is in flight gets the grace period; reveals still waiting after it (a channel's 429) are kept
            # in the database and posted after the restart (reveal.py), before the connection closes.
            await self.outbox.close(self.config.stop_grace_s)
            await self.frontend.kept(self.config.stop_grace_s)
            if self._late_reveals is not None:
                await asyncio.gather(self._late_reveals, return_exceptions=True)  # ended by the closed outbox
        if self._command_ids is not None:
            self._command_ids.cancel()
            await asyncio.gather(self._command_ids, return_exceptions=True)
        await self.frontend.progress.close()  # progress still waiting is droppable; endings go through the outbox
        await super().close()

    async def sync_commands(self, targets: tuple[str, ...]) -> int:
        """Publish the slash commands: the CLI step, the owner's /sync, or VANIKEYS_DISCORD_SYNC_ON_START."""
        for target in targets:
            if target == SYNC_GLOBAL:
                synced = await self.tree.sync()
            elif target.startswith(SYNC_CLEAR):
                guild = discord.Object(int(target.removeprefix(SYNC_CLEAR)))
                self.tree.clear_commands(guild=guild)
                synced = await self.tree.sync(guild=guild)
            else:
                guild = discord.Object(int(target))
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
            self.mentions.learn(synced, None if target == SYNC_GLOBAL else guild.id)
            log.info("synced %d application commands to %s", len(synced), target)
        return len(synced) if targets else 0

    async def _learn_command_ids(self) -> None:
        try:
            await self.mentions.fetch(self.tree)
        except discord.HTTPException as exc:
            log.warning(
                "command ids not fetched (status %s, code %s): answers name commands as /name", exc.status, exc.code
            )

    async def _on_app_command_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        """Errors before a command body runs (an option Discord let through that does not convert)."""
        use_locale(interaction.locale.value if interaction.locale else None)
        if isinstance(error, app_commands.TransformerError):
            text = _("`{value}` is not a valid value for that option: pick one from the list.", value=error.value)
        elif isinstance(error, app_commands.CheckFailure):
            text = _("You can't use that command here.")
        else:
            log.error("app command failed: %s", type(error).__name__, exc_info=error)
            text = _("Something went wrong on our side; please try again in a minute.")
        try:
            if interaction.response.is_done():
                await interaction.followup.send(error_text(text), ephemeral=True)
            else:
                await interaction.response.send_message(error_text(text), ephemeral=True)
        except discord.HTTPException:
            pass
