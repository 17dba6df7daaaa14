"""Slash commands in each person's Discord language: names, descriptions, option names and descriptions, and choices
come from the message catalogs (gpu_worker/locale) when the commands are published (`tree.sync`).

Names are translated under their own context (msgctxt COMMAND_NAME / OPTION_NAME), apart from the same English word
in a sentence, and must follow Discord's naming rule (`valid_name`); a translation that breaks it is not published
(Discord would refuse the whole sync). Answers that tell people to run a command name it through mentions.py, so
they read what each person's client shows.
"""

from __future__ import annotations

import unicodedata

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation, TranslationContextTypes, locale_str

from bot.i18n import DEFAULT, _, negotiate, use_locale
from gpu_worker.i18n import NC_, pgettext

COMMAND_NAME = "discord command name"
OPTION_NAME = "discord option name"
NAME_CONTEXTS = {
    TranslationContextLocation.command_name: COMMAND_NAME,
    TranslationContextLocation.group_name: COMMAND_NAME,
    TranslationContextLocation.parameter_name: OPTION_NAME,
}
MAX_DESCRIPTION = 100  # Discord's limit for command, option and choice texts (choice names too)
MAX_NAME = 32

# Every command and option name, marked for the catalogs (the cogs name them in code; discord.py hands each one to
# the translator). tests/discord/test_command_names.py checks this list against the commands themselves.
COMMAND_NAMES = (
    NC_("discord command name", "pull"),
    NC_("discord command name", "order"),
    NC_("discord command name", "odds"),
    NC_("discord command name", "balance"),
    NC_("discord command name", "topup"),
    NC_("discord command name", "keys"),
    NC_("discord command name", "history"),
    NC_("discord command name", "leaderboard"),
    NC_("discord command name", "season"),
    NC_("discord command name", "profile"),
    NC_("discord command name", "streak"),
    NC_("discord command name", "card"),
    NC_("discord command name", "gift"),
    NC_("discord command name", "config"),
    NC_("discord command name", "help"),
    NC_("discord command name", "sync"),
)
OPTION_NAMES = (
    NC_("discord option name", "pattern"),
    NC_("discord option name", "format"),
    NC_("discord option name", "count"),
    NC_("discord option name", "exact_case"),
    NC_("discord option name", "fuzzy"),
    NC_("discord option name", "pubkey"),
    NC_("discord option name", "pack"),
    NC_("discord option name", "share"),
    NC_("discord option name", "hide"),
    NC_("discord option name", "pull_id"),
    NC_("discord option name", "user"),
    NC_("discord option name", "tokens"),
    NC_("discord option name", "setting"),
    NC_("discord option name", "value"),
    NC_("discord option name", "channel"),
    NC_("discord option name", "scope"),
)
_SCRIPTS_ALLOWED = ("DEVANAGARI", "THAI")


def valid_name(name: str) -> bool:
    """Discord's rule for slash command and option names: 1-32 characters, each a letter, a digit, - or _ (or
    Devanagari or Thai), letters in lower case where they have one (`^[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`
    with the unicode flag; Discord's docs now also allow an apostrophe, left out here to stay within the older rule)."""
    if not 1 <= len(name) <= MAX_NAME or name != name.lower():
        return False
    for char in name:
        if char in "-_" or unicodedata.category(char)[0] in "LN":
            continue
        if not unicodedata.name(char, "").startswith(_SCRIPTS_ALLOWED):
            return False
    return True


def localized_name(name: str, locale: str, *, option: bool = False) -> str:
    """A command's (or an option's) name in a shipped locale ("pull", "es" -> "tirar"); the English name where the
    catalog has no valid translation."""
    with use_locale(locale):
        shown = pgettext(OPTION_NAME if option else COMMAND_NAME, name)
    return shown if valid_name(shown) else name


class CatalogTranslator(app_commands.Translator):
    """discord.py's translator for the published commands: names, descriptions and choice names from the catalogs."""

    async def translate(
        self, string: locale_str, locale: discord.Locale, context: TranslationContextTypes
    ) -> str | None:
        """The text in the locale's catalog language (a description cut to MAX_DESCRIPTION; a name under its
        context, and only when valid by Discord's rule); None (Discord shows the source text) for the default or an
        unknown language and where the catalog has no translation."""
        target = negotiate(locale.value, pseudo=False)
        if target is None or target == DEFAULT:
            return None
        name_context = NAME_CONTEXTS.get(context.location)
        if name_context is not None:
            shown = localized_name(string.message, target, option=name_context == OPTION_NAME)
            return shown if shown != string.message else None
        with use_locale(target):
            text = _(string.message)
        return text[:MAX_DESCRIPTION] if text != string.message else None
