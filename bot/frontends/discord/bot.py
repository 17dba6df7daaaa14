"""The Discord bot: discord.py's AutoShardedBot wired to the one Service.

Intents are the unprivileged minimum: guilds (interactions need them) and
guild messages (for the owner's `@VaniKeys sync`; a mention carries its text
without the privileged message-content intent). No DM message events and no
message cache: the bot's own DMs, which carry private keys, never come back
to it and are never kept in memory.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.frontends.discord.cogs import ALL_COGS
from bot.frontends.discord.config import SYNC_GLOBAL, DiscordConfig
from bot.frontends.discord.cooldowns import Cooldowns
from bot.frontends.discord.flows import COMMAND, ORDER, PULL, Flows
from bot.frontends.discord.frontend import DiscordFrontEnd
from bot.frontends.discord.privacy import install_log_redaction
from bot.frontends.discord.rendering import error_text
from bot.frontends.discord.views import DYNAMIC_ITEMS
from bot.service import Service

log = logging.getLogger(__name__)


class VaniKeysBot(commands.AutoShardedBot):
    def __init__(self, service: Service, settings: Settings, config: DiscordConfig | None = None,
                 **options: Any) -> None:
        install_log_redaction()
        self.config = config or DiscordConfig()
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
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
        self.cooldowns = Cooldowns({PULL: self.config.pull_cooldown_s, ORDER: self.config.order_cooldown_s,
                                    COMMAND: self.config.command_cooldown_s})
        self.frontend = DiscordFrontEnd(self)
        self.flows = Flows(self)
        self.tree.on_error = self._on_app_command_error  # type: ignore[method-assign]

    async def setup_hook(self) -> None:
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        for cog in ALL_COGS:
            await self.add_cog(cog(self))
        self.service.register_frontend(self.frontend)
        if self.config.sync_on_start:
            await self.sync_commands(self.config.sync_on_start)

    async def sync_commands(self, targets: tuple[str, ...]) -> None:
        """Development only (VANIKEYS_DISCORD_SYNC_ON_START): publish the commands as the bot starts."""
        for target in targets:
            if target == SYNC_GLOBAL:
                synced = await self.tree.sync()
            else:
                guild = discord.Object(int(target))
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
            log.info("synced %d application commands to %s", len(synced), target)

    async def on_command_error(self, context: commands.Context[Any], exception: commands.CommandError, /) -> None:
        if isinstance(exception, commands.CommandNotFound):
            return  # someone mentioned the bot in conversation
        await super().on_command_error(context, exception)

    async def _on_app_command_error(self, interaction: discord.Interaction[Any],
                                    error: app_commands.AppCommandError) -> None:
        """Errors before a command body runs (an option Discord let through that does not convert)."""
        if isinstance(error, app_commands.TransformerError):
            text = f"`{error.value}` is not a valid value for that option: pick one from the list."
        elif isinstance(error, app_commands.CheckFailure):
            text = "You can't use that command here."
        else:
            log.error("app command failed: %s", type(error).__name__, exc_info=error)
            text = "Something went wrong on our side; please try again in a minute."
        try:
            if interaction.response.is_done():
                await interaction.followup.send(error_text(text), ephemeral=True)
            else:
                await interaction.response.send_message(error_text(text), ephemeral=True)
        except discord.HTTPException:
            pass
