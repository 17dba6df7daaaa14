"""Buttons under a reveal. Their custom_ids carry everything they need, so they work after a restart.

custom_id grammar (at most 100 characters, Discord's limit):
    vk:pull:<count>:<format>:<flags>:<pattern>     Pull again (count 1) / 10-pull (count 10)
    vk:quote:<format>:<flags>:<pattern>            Order this pattern: shows the price, asks to confirm
    vk:order:<format>:<flags>:<pattern>            Confirm: places the order
flags: "e" exact case, "f" fuzzy, "-" neither. The pattern is last, so it may hold any character.
Whoever presses a button pulls or orders for themselves, with their own tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

if TYPE_CHECKING:
    from bot.frontends.discord.bot import VaniKeysBot

MAX_CUSTOM_ID = 100


@dataclass(frozen=True)
class PatternRequest:
    """A pattern as a pull or order needs it: what to grind for, in which format, how to match."""

    pattern: str
    format_id: str
    exact_case: bool = False
    fuzzy: bool = False

    @property
    def flags(self) -> str:
        return ("e" if self.exact_case else "") + ("f" if self.fuzzy else "") or "-"

    @classmethod
    def from_match(cls, match: re.Match[str]) -> PatternRequest:
        flags = match["flags"]
        return cls(match["pattern"], match["fmt"], "e" in flags, "f" in flags)

    @property
    def tail(self) -> str:
        return f"{self.format_id}:{self.flags}:{self.pattern}"

    def custom_id(self, action: str) -> str:
        return f"vk:{action}:{self.tail}"


_TAIL = r"(?P<fmt>[a-z]{2,8}):(?P<flags>-|e|f|ef):(?P<pattern>.+)"


class PullButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"vk:pull:(?P<count>1|10):" + _TAIL):
    def __init__(self, request: PatternRequest, count: int) -> None:
        self.request = request
        self.count = count
        super().__init__(discord.ui.Button(
            label="Pull again" if count == 1 else "10-pull",
            emoji="🎲" if count == 1 else "🎰",
            style=discord.ButtonStyle.primary if count == 1 else discord.ButtonStyle.success,
            custom_id=f"vk:pull:{count}:{request.tail}",
        ))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> PullButton:
        return cls(PatternRequest.from_match(match), int(match["count"]))

    async def callback(self, interaction: discord.Interaction[VaniKeysBot]) -> None:
        await interaction.client.flows.pull(interaction, self.request, self.count)


class QuoteOrderButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"vk:quote:" + _TAIL):
    def __init__(self, request: PatternRequest) -> None:
        self.request = request
        super().__init__(discord.ui.Button(label="Order this pattern", emoji="🎯",
                                           style=discord.ButtonStyle.secondary, custom_id=request.custom_id("quote")))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> QuoteOrderButton:
        return cls(PatternRequest.from_match(match))

    async def callback(self, interaction: discord.Interaction[VaniKeysBot]) -> None:
        await interaction.client.flows.quote_order(interaction, self.request)


class ConfirmOrderButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"vk:order:" + _TAIL):
    def __init__(self, request: PatternRequest, label: str = "Confirm order") -> None:
        self.request = request
        super().__init__(discord.ui.Button(label=label[:80], style=discord.ButtonStyle.danger,
                                           custom_id=request.custom_id("order")))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> ConfirmOrderButton:
        return cls(PatternRequest.from_match(match))

    async def callback(self, interaction: discord.Interaction[VaniKeysBot]) -> None:
        await interaction.client.flows.order(interaction, self.request, pubkey=None)


DYNAMIC_ITEMS = (PullButton, QuoteOrderButton, ConfirmOrderButton)


def reveal_view(request: PatternRequest) -> discord.ui.View | None:
    """Pull again, 10-pull, Order this pattern; None when the pattern is too long for a custom_id."""
    if len(PullButton(request, 10).item.custom_id or "") > MAX_CUSTOM_ID:  # the longest of the three
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(PullButton(request, 1))
    view.add_item(PullButton(request, 10))
    view.add_item(QuoteOrderButton(request))
    return view


def confirm_view(request: PatternRequest, price: int) -> discord.ui.View | None:
    if len(request.custom_id("order")) > MAX_CUSTOM_ID:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(ConfirmOrderButton(request, f"Order for {price} tokens"))
    return view


def link_view(label: str, url: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label=label[:80], url=url, style=discord.ButtonStyle.link))
    return view
