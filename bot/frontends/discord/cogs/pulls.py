"""/pull, /order, /odds: the gacha itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.frontends.discord.options import COUNT_CHOICES, FORMAT_CHOICES, pattern_autocomplete
from bot.frontends.discord.views import PatternRequest
from gpu_worker.patterns import MAX_PATTERN_LENGTH

if TYPE_CHECKING:
    from bot.frontends.discord.bot import VaniKeysBot

PatternText = app_commands.Range[str, 1, MAX_PATTERN_LENGTH]  # the one limit: Discord refuses longer ones
PATTERN_HELP = locale_str("Terms in order, e.g. ^Love (start), cafe$ (end), ? for any character")
FORMAT_HELP = locale_str("Address format (default: Bitcoin)")
EXACT_CASE_HELP = locale_str("Match upper/lower case exactly")
FUZZY_HELP = locale_str("Also accept look-alikes: 0/o, 1/i/l, 3/e, 4/a, 5/s, 7/t, 8/b")


class PullsCog(commands.Cog, name="Pulls"):
    """/pull, /order, /odds: the pattern and its options become a PatternRequest for the bot's Flows."""

    def __init__(self, bot: VaniKeysBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="pull", description=locale_str("Grind keys and reveal the best match for your pattern, with its rarity")
    )
    @app_commands.describe(
        pattern=PATTERN_HELP,
        format=FORMAT_HELP,
        count=locale_str("One pull, or a 10-pull at a discount"),
        exact_case=EXACT_CASE_HELP,
        fuzzy=FUZZY_HELP,
    )
    @app_commands.choices(format=FORMAT_CHOICES)  # one decorator per choice type: they merge
    @app_commands.choices(count=COUNT_CHOICES)
    @app_commands.autocomplete(pattern=pattern_autocomplete)
    async def pull(
        self,
        interaction: discord.Interaction[VaniKeysBot],
        pattern: PatternText,
        format: str = "btc",
        count: int = 1,
        exact_case: bool = False,
        fuzzy: bool = False,
    ) -> None:
        """A pull (or a 10-pull) for the pattern: revealed in public where the bot may post, else privately."""
        await self.bot.flows.pull(interaction, PatternRequest(pattern, format, exact_case, fuzzy), count)

    @app_commands.command(
        name="order", description=locale_str("Order an exact match: we grind until it is found, progress shown live")
    )
    @app_commands.describe(
        pattern=PATTERN_HELP,
        format=FORMAT_HELP,
        pubkey=locale_str("Your public key (hex) for a split-key order: you get an offset, never our key"),
        exact_case=EXACT_CASE_HELP,
        fuzzy=FUZZY_HELP,
    )
    @app_commands.choices(format=FORMAT_CHOICES)
    @app_commands.autocomplete(pattern=pattern_autocomplete)
    async def order(
        self,
        interaction: discord.Interaction[VaniKeysBot],
        pattern: PatternText,
        format: str = "btc",
        pubkey: str | None = None,
        exact_case: bool = False,
        fuzzy: bool = False,
    ) -> None:
        """An exact-match order, paid now; its public message follows the grind (a private receipt where the bot may
        not post). With pubkey a split-key order: the key found is an offset to it."""
        await self.bot.flows.order(interaction, PatternRequest(pattern, format, exact_case, fuzzy), pubkey)

    @app_commands.command(
        name="odds", description=locale_str("The chance of a match, the rarity table and an exact order's price")
    )
    @app_commands.describe(
        pattern=PATTERN_HELP,
        format=FORMAT_HELP,
        exact_case=EXACT_CASE_HELP,
        fuzzy=FUZZY_HELP,
    )
    @app_commands.choices(format=FORMAT_CHOICES)
    @app_commands.autocomplete(pattern=pattern_autocomplete)
    async def odds(
        self,
        interaction: discord.Interaction[VaniKeysBot],
        pattern: PatternText,
        format: str = "btc",
        exact_case: bool = False,
        fuzzy: bool = False,
    ) -> None:
        """The match odds, the rarity table and the order price: public where the bot may post, else privately."""
        await self.bot.flows.odds(interaction, PatternRequest(pattern, format, exact_case, fuzzy))
