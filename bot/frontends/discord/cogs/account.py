"""/balance, /topup, /keys, /history: answered privately (ephemeral)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.frontends.discord.options import pack_autocomplete

if TYPE_CHECKING:
    from bot.frontends.discord.bot import VaniKeysBot


class AccountCog(commands.Cog, name="Account"):
    """/balance, /topup, /keys, /history: each answered privately by the bot's Flows (cooldown, language, errors)."""

    def __init__(self, bot: VaniKeysBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="balance", description=locale_str("Your tokens, free pulls left today and your daily limit")
    )
    async def balance(self, interaction: discord.Interaction[VaniKeysBot]) -> None:
        """Privately: the tokens, the free pulls left today and the daily limit."""
        await self.bot.flows.balance(interaction)

    @app_commands.command(
        name="topup", description=locale_str("Buy tokens: pick a pack and get a private payment link")
    )
    @app_commands.describe(pack=locale_str("Which pack to buy (leave empty to see them all)"))
    @app_commands.autocomplete(pack=pack_autocomplete)
    async def topup(self, interaction: discord.Interaction[VaniKeysBot], pack: str | None = None) -> None:
        """Privately: the packs, or with `pack` a payment link for it (the service makes the checkout)."""
        await self.bot.flows.topup(interaction, pack)

    @app_commands.command(
        name="keys", description=locale_str("Get the private keys we could not DM you yet (open your DMs first)")
    )
    async def keys(self, interaction: discord.Interaction[VaniKeysBot]) -> None:
        """Privately: the keys not delivered by DM yet (their secrets, so never in public)."""
        await self.bot.flows.keys(interaction)

    @app_commands.command(name="history", description=locale_str("Your recent pulls, orders, refunds and purchases"))
    async def history(self, interaction: discord.Interaction[VaniKeysBot]) -> None:
        """Privately: recent pulls, orders, refunds and purchases."""
        await self.bot.flows.history(interaction)
