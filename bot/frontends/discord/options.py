"""Slash-command option helpers: format choices and autocompletes that show odds and mistakes as you type."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import locale_str

from bot.answers import ServiceError
from bot.frontends.discord.flows import user_ref
from bot.frontends.discord.mentions import plain
from bot.frontends.discord.rendering import one_in_unit
from bot.i18n import _, ngettext, set_locale
from gpu_worker.errors import VanikeysError
from gpu_worker.formats import FORMATS

if TYPE_CHECKING:
    from bot.frontends.discord.bot import VaniKeysBot

MAX_CHOICE = 100
AUTOCOMPLETE = "autocomplete"  # a cooldown action: odds while typing cost CPU for each new pattern
FORMAT_CHOICES = [app_commands.Choice(name=f"{fmt.title} ({fmt.prefix}…)", value=fmt.id) for fmt in FORMATS.values()]
COUNT_CHOICES = [
    app_commands.Choice(name=locale_str("1 pull"), value=1),
    app_commands.Choice(name=locale_str("10-pull"), value=10),
]
PATTERN_EXAMPLES = ("^Love", "cafe$", "^Moon ?", "Vani Keys")


def _fit(text: str) -> str:
    return text if len(text) <= MAX_CHOICE else text[: MAX_CHOICE - 1] + "…"


async def pattern_autocomplete(
    interaction: discord.Interaction[VaniKeysBot], current: str
) -> list[app_commands.Choice[str]]:
    """The typed pattern with its odds, or with what is wrong with it, before anyone pays."""
    text = current.strip()[:MAX_CHOICE]
    locale = set_locale(interaction.locale.value if interaction.locale else None)
    if not text:
        return [
            app_commands.Choice(name=_("e.g. {example}", example=example), value=example)
            for example in PATTERN_EXAMPLES
        ]
    if interaction.client.cooldowns.wait_left(AUTOCOMPLETE, interaction.user.id) > 0:  # typing fast: no CPU
        # a choice shows plain text (no mentions): the command as this person's client names it
        odds_later = _("{text} · odds with {cmd_odds}", text=text, cmd_odds=plain("odds", locale))
        return [app_commands.Choice(name=_fit(odds_later), value=text)]
    namespace: Any = interaction.namespace
    format_id = getattr(namespace, "format", None) or "btc"
    exact = bool(getattr(namespace, "exact_case", False))
    fuzzy = bool(getattr(namespace, "fuzzy", False))
    try:
        odds = await interaction.client.service.odds(text, format_id, exact_case=exact, fuzzy=fuzzy)
    except (ServiceError, VanikeysError) as err:
        return [app_commands.Choice(name=_fit(f"⚠ {err}"), value=text)]
    shown = _("{text} · exact match {odds}", text=text, odds=one_in_unit(odds.expected_keys, "key"))
    return [app_commands.Choice(name=_fit(shown), value=text)]


async def pack_autocomplete(
    interaction: discord.Interaction[VaniKeysBot], current: str
) -> list[app_commands.Choice[str]]:
    """The packs whose id contains what was typed (at most 25, Discord's limit); none when the service refuses."""
    try:
        answer = await interaction.client.service.topup(user_ref(interaction.user), None)
    except (ServiceError, VanikeysError):
        return []
    typed = current.strip().lower()
    return [
        app_commands.Choice(
            name=_fit(
                ngettext(
                    "{pack}: {n} token for {price}",
                    "{pack}: {n} tokens for {price}",
                    p.tokens,
                    pack=p.pack_id,
                    price=p.price,
                )
            ),
            value=p.pack_id,
        )
        for p in answer.packs
        if typed in p.pack_id.lower()
    ][:25]
