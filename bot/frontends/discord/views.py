"""Buttons under a reveal. Their custom_ids carry everything they need, so they work after a restart.

custom_id grammar (at most 100 characters, Discord's limit):
    vk:pull:<count>:<format>:<flags>:<pattern>            Pull this too (count 1) / 10-pull this too (count 10)
    vk:quote:<format>:<flags>:<pattern>                   Order this too: shows the price, asks to confirm
    vk:order:<owner>:<format>:<flags>:<pattern>           Confirm: places the order
    vk:pa:<owner>:<count>:<format>:<flags>:<pattern>      Pull anyway (after the easy-pattern warning)
    vk:oi:<owner>:<format>:<flags>:<pattern>              Order instead (after the easy-pattern warning)
flags: "e" exact case, "f" fuzzy, "-" neither. The pattern is last, so it may hold any character.
<owner>: the user id, base 36, of the person the button answers; anyone else who presses it is told so,
privately, and nothing happens. The buttons under a public reveal (pull this too, 10-pull this too, order this too)
belong to no one: whoever presses them pulls or gets a quote for themselves, with their own tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from bot.command_refs import commands, use_command_writer
from bot.i18n import _, ngettext, use_locale

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
        """The custom_id flags field: "e" exact case, "f" fuzzy, both, or "-" for neither."""
        return ("e" if self.exact_case else "") + ("f" if self.fuzzy else "") or "-"

    @classmethod
    def from_match(cls, match: re.Match[str]) -> PatternRequest:
        """The request a button's custom_id carries, from a match of its template (groups fmt, flags, pattern)."""
        flags = match["flags"]
        return cls(match["pattern"], match["fmt"], "e" in flags, "f" in flags)

    @property
    def tail(self) -> str:
        """ "<format>:<flags>:<pattern>", the end of every custom_id (the pattern last, so it may hold any
        character)."""
        return f"{self.format_id}:{self.flags}:{self.pattern}"

    def custom_id(self, action: str) -> str:
        """ "vk:<action>:<tail>"; may exceed MAX_CUSTOM_ID: the views check the length."""
        return f"vk:{action}:{self.tail}"


_TAIL = r"(?P<fmt>[a-z]{2,8}):(?P<flags>-|e|f|ef):(?P<pattern>.+)"
_OWNER = r"(?P<owner>[0-9a-z]{1,13}):"


def encode_owner(user_id: int) -> str:
    """A non-negative user id in base 36 (digits, then lower-case letters): the <owner> field of a custom_id."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        user_id, rest = divmod(user_id, 36)
        text = digits[rest] + text
        if not user_id:
            return text


def decode_owner(text: str) -> int:
    """The user id from encode_owner's text; ValueError when it is not base 36."""
    return int(text, 36)


async def is_owner(interaction: discord.Interaction[Any], owner_id: int) -> bool:
    """True when the presser is the button's owner; anyone else is told privately and nothing happens."""
    if interaction.user.id == owner_id:
        return True
    writer = _bot(interaction).mentions.writer(interaction.guild_id)
    with use_locale(interaction.locale.value if interaction.locale else None), use_command_writer(writer):
        text = _(
            "⚠️ That button belongs to {owner}, so it did nothing for you. Use {cmd_pull} or {cmd_order} to do it "
            "yourself.",
            **commands("pull", "order"),
            owner="<@" + str(owner_id) + ">",
        )
    await interaction.response.send_message(text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
    return False


def _bot(interaction: discord.Interaction[discord.Client]) -> VaniKeysBot:
    """The bot a press reached. discord.py types an item's callback for any client; these items are added to
    VaniKeysBot only (its DYNAMIC_ITEMS), so any other client is a wiring bug: TypeError."""
    from bot.frontends.discord.bot import VaniKeysBot  # at run time only: bot.py imports this module

    client = interaction.client
    if not isinstance(client, VaniKeysBot):
        raise TypeError(f"a VaniKeys button pressed on {type(client).__name__}, not VaniKeysBot")
    return client


class PullButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"vk:pull:(?P<count>1|10):" + _TAIL):
    """ "Pull this too" (count 1) / "10-pull this too" (count 10) under a public reveal: the presser pulls for
    themselves."""

    def __init__(self, request: PatternRequest, count: int) -> None:
        self.request = request
        self.count = count
        super().__init__(
            discord.ui.Button(
                label=_("Pull this too")
                if count == 1
                else _("10-pull this too"),  # whoever presses pulls for themselves
                emoji="🎲" if count == 1 else "🎰",
                style=discord.ButtonStyle.primary if count == 1 else discord.ButtonStyle.success,
                custom_id=f"vk:pull:{count}:{request.tail}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PullButton:
        """Rebuilt from its custom_id (after a restart too)."""
        return cls(PatternRequest.from_match(match), int(match["count"]))

    async def callback(self, interaction: discord.Interaction[discord.Client]) -> None:
        """A pull of the same pattern, for whoever pressed, with their own tokens."""
        await _bot(interaction).flows.pull(interaction, self.request, self.count)


class QuoteOrderButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"vk:quote:" + _TAIL):
    """ "Order this too" under a public reveal: whoever presses gets the exact order's price, privately."""

    def __init__(self, request: PatternRequest) -> None:
        self.request = request
        super().__init__(
            discord.ui.Button(
                label=_("Order this too"),
                emoji="🎯",
                style=discord.ButtonStyle.secondary,
                custom_id=request.custom_id("quote"),
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> QuoteOrderButton:
        """Rebuilt from its custom_id (after a restart too)."""
        return cls(PatternRequest.from_match(match))

    async def callback(self, interaction: discord.Interaction[discord.Client]) -> None:
        """The price and odds, privately, with a button to confirm the order."""
        await _bot(interaction).flows.quote_order(interaction, self.request)


class ConfirmOrderButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"vk:order:" + _OWNER + _TAIL):
    """Confirms a quoted order; it answers its owner only (label cut to 80 characters, Discord's limit)."""

    def __init__(self, request: PatternRequest, owner_id: int, label: str | None = None) -> None:
        label = label or _("Confirm order")
        self.request = request
        self.owner_id = owner_id
        super().__init__(
            discord.ui.Button(
                label=label[:80],
                style=discord.ButtonStyle.danger,
                custom_id=f"vk:order:{encode_owner(owner_id)}:{request.tail}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ConfirmOrderButton:
        """Rebuilt from its custom_id (after a restart too)."""
        return cls(PatternRequest.from_match(match), decode_owner(match["owner"]))

    async def callback(self, interaction: discord.Interaction[discord.Client]) -> None:
        """Places the order for its owner (no pubkey); anyone else is told privately and nothing happens."""
        if await is_owner(interaction, self.owner_id):
            await _bot(interaction).flows.order(interaction, self.request, pubkey=None)


class PullAnywayButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"vk:pa:" + _OWNER + r"(?P<count>1|10):" + _TAIL
):
    """After the easy-pattern warning: pull it all the same (the asker only)."""

    def __init__(self, request: PatternRequest, owner_id: int, count: int) -> None:
        self.request, self.owner_id, self.count = request, owner_id, count
        super().__init__(
            discord.ui.Button(
                label=_("Pull anyway"),
                emoji="🎲",
                style=discord.ButtonStyle.primary,
                custom_id=f"vk:pa:{encode_owner(owner_id)}:{count}:{request.tail}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PullAnywayButton:
        """Rebuilt from its custom_id (after a restart too)."""
        return cls(PatternRequest.from_match(match), decode_owner(match["owner"]), int(match["count"]))

    async def callback(self, interaction: discord.Interaction[discord.Client]) -> None:
        """The pull the easy-pattern warning stopped, with the warning waived; for the owner only."""
        if await is_owner(interaction, self.owner_id):
            await _bot(interaction).flows.pull(interaction, self.request, self.count, allow_easy=True)


class OrderInsteadButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"vk:oi:" + _OWNER + _TAIL):
    """After the easy-pattern warning: the exact order's price, privately (the asker only)."""

    def __init__(self, request: PatternRequest, owner_id: int) -> None:
        self.request, self.owner_id = request, owner_id
        super().__init__(
            discord.ui.Button(
                label=_("Order instead"),
                emoji="🎯",
                style=discord.ButtonStyle.success,
                custom_id=f"vk:oi:{encode_owner(owner_id)}:{request.tail}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> OrderInsteadButton:
        """Rebuilt from its custom_id (after a restart too)."""
        return cls(PatternRequest.from_match(match), decode_owner(match["owner"]))

    async def callback(self, interaction: discord.Interaction[discord.Client]) -> None:
        """The exact order's price, privately, with a button to confirm; for the owner only."""
        if await is_owner(interaction, self.owner_id):
            await _bot(interaction).flows.quote_order(interaction, self.request)


DYNAMIC_ITEMS = (PullButton, QuoteOrderButton, ConfirmOrderButton, PullAnywayButton, OrderInsteadButton)


def reveal_view(request: PatternRequest) -> discord.ui.View | None:
    """Pull this too, 10-pull this too, Order this too (for whoever presses them); None when the pattern is too
    long for a custom_id."""
    if len(PullButton(request, 10).item.custom_id or "") > MAX_CUSTOM_ID:  # the longest of the three
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(PullButton(request, 1))
    view.add_item(PullButton(request, 10))
    view.add_item(QuoteOrderButton(request))
    return view


def confirm_view(request: PatternRequest, owner_id: int, price: int) -> discord.ui.View | None:
    """The owner's "Order for N tokens" button; None when the pattern is too long for a custom_id."""
    button = ConfirmOrderButton(request, owner_id, ngettext("Order for {n} token", "Order for {n} tokens", price))
    if len(button.item.custom_id or "") > MAX_CUSTOM_ID:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(button)
    return view


def easy_pattern_view(request: PatternRequest, owner_id: int, count: int) -> discord.ui.View | None:
    """ "Pull anyway" / "Order instead", for the person who was warned; None when the pattern is too long."""
    buttons = [PullAnywayButton(request, owner_id, count), OrderInsteadButton(request, owner_id)]
    if any(len(b.item.custom_id or "") > MAX_CUSTOM_ID for b in buttons):
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(button)
    return view


def link_view(label: str, url: str) -> discord.ui.View:
    """One link button to url (label cut to 80 characters); a link button sends no interaction."""
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label=label[:80], url=url, style=discord.ButtonStyle.link))
    return view
