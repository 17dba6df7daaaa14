"""The owner's /sync: publishes the slash commands (Discord rate-limits this, so never on every start).

The very first sync, before any slash command exists, is the CLI step
`python -m bot.frontends.discord.sync`. /sync is hidden from everyone but
server administrators (default_permissions) and refuses anyone who is not the
bot's owner; it is answered privately.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.frontends.discord.config import SYNC_CLEAR, SYNC_GLOBAL
from bot.frontends.discord.rendering import error_text
from bot.i18n import _, ngettext, use_locale

if TYPE_CHECKING:
    from bot.frontends.discord.bot import VaniKeysBot

log = logging.getLogger(__name__)

SCOPES = [
    app_commands.Choice(name=locale_str("everywhere (up to an hour to show)"), value="global"),
    app_commands.Choice(name=locale_str("this server, at once"), value="here"),
    app_commands.Choice(name=locale_str("remove this server's copies"), value="clear"),
]


class AdminCog(commands.Cog, name="Admin"):
    """The owner's /sync (server administrators see it; only the bot's owner may run it)."""

    def __init__(self, bot: VaniKeysBot) -> None:
        self.bot = bot

    @app_commands.command(name="sync", description=locale_str("Owner only: publish VaniKeys' slash commands"))
    @app_commands.describe(scope=locale_str("Where to publish them"))
    @app_commands.choices(scope=SCOPES)
    @app_commands.guild_only()
    @app_commands.default_permissions(administrator=True)
    async def sync(self, interaction: discord.Interaction[VaniKeysBot], scope: str = "global") -> None:
        """Publish the slash commands globally, to this server, or clear this server's copies; answered privately.
        Anyone but the owner is refused; a refusal from Discord is logged and told, never raised. Answered in the
        interaction's locale, as every personal answer is."""
        with use_locale(str(interaction.locale)):
            await self._sync(interaction, scope)

    async def _sync(self, interaction: discord.Interaction[VaniKeysBot], scope: str) -> None:
        if not await self.bot.is_owner(interaction.user):
            await interaction.response.send_message(
                error_text(_("Only the bot's owner can sync commands.")), ephemeral=True
            )
            return
        await interaction.response.defer(thinking=True, ephemeral=True)
        guild_id = interaction.guild_id
        target = {"global": SYNC_GLOBAL, "here": str(guild_id), "clear": f"{SYNC_CLEAR}{guild_id}"}.get(scope)
        if target is None:
            await interaction.followup.send(
                error_text(_("Unknown scope {scope}: pick one from the list.", scope=repr(scope[:20]))), ephemeral=True
            )
            return
        try:
            count = await self.bot.sync_commands((target,))
        except discord.HTTPException as exc:
            log.warning("sync failed (status %s, code %s)", exc.status, exc.code)
            await interaction.followup.send(
                error_text(_("Discord refused the sync ({status}); try again later.", status=exc.status)),
                ephemeral=True,
            )
            return
        said = {
            "global": ngettext("Synced {n} command globally.", "Synced {n} commands globally.", count),
            "here": ngettext("Synced {n} command to this server.", "Synced {n} commands to this server.", count),
            "clear": ngettext(
                "Synced {n} command to this server (cleared).", "Synced {n} commands to this server (cleared).", count
            ),
        }[scope]
        await interaction.followup.send(said, ephemeral=True)
