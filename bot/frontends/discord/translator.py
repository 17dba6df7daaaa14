"""Slash commands in each person's Discord language: descriptions, option descriptions and choices come from
the message catalogs (gpu_worker/locale) when the commands are published (`tree.sync`).

Command and option names are not translated: they are what the help text, the error messages and the docs tell
people to type, the same in every language.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation, TranslationContextTypes, locale_str

from bot.i18n import DEFAULT, _, negotiate, use_locale

UNTRANSLATED = frozenset(
    {
        TranslationContextLocation.command_name,
        TranslationContextLocation.group_name,
        TranslationContextLocation.parameter_name,
    }
)
MAX_DESCRIPTION = 100  # Discord's limit for command, option and choice texts (choice names too)


class CatalogTranslator(app_commands.Translator):
    """discord.py's translator for the published commands: descriptions and choice names from the message catalogs."""

    async def translate(
        self, string: locale_str, locale: discord.Locale, context: TranslationContextTypes
    ) -> str | None:
        """The text in the locale's catalog language, cut to MAX_DESCRIPTION; None (Discord shows the source text) for
        names, for the default or an unknown language, and where the catalog has no translation."""
        if context.location in UNTRANSLATED:
            return None
        target = negotiate(locale.value, pseudo=False)
        if target is None or target == DEFAULT:
            return None
        with use_locale(target):
            text = _(string.message)
        return text[:MAX_DESCRIPTION] if text != string.message else None
