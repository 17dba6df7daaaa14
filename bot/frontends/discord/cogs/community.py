"""/leaderboard and /help."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.frontends.discord.flows import community_ref
from bot.frontends.discord.rendering import help_embed, leaderboard_embed

if TYPE_CHECKING:
    from bot.frontends.discord.bot import VaniKeysBot


class CommunityCog(commands.Cog, name="Community"):
    def __init__(self, bot: VaniKeysBot) -> None:
        self.bot = bot

    @app_commands.command(name="leaderboard", description="The rarest pulls in this server")
    async def leaderboard(self, interaction: discord.Interaction[VaniKeysBot]) -> None:
        async def render() -> dict[str, Any]:
            return {"embed": leaderboard_embed(await self.bot.service.leaderboard(community_ref(interaction)))}
        await self.bot.flows.public(interaction, render)

    @app_commands.command(name="help", description="How VaniKeys works: commands, patterns and formats")
    async def help(self, interaction: discord.Interaction[VaniKeysBot]) -> None:
        async def render() -> dict[str, Any]:
            return {"embed": help_embed(self.bot.service.help())}
        await self.bot.flows.private(interaction, render)
