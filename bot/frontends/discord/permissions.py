"""The bot's own permissions where a public reveal would go, checked before anything is posted there.

An interaction carries them (`app_permissions`). Without them Discord would
refuse the post (50013) or silently drop the embed, and the person would see
nothing: instead the answer comes privately with what an admin must grant.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.i18n import N_, _
from gpu_worker.i18n import gettext_now

# What a reveal uses: the channel, messages, the embed, the card image, and the message it edits later.
REVEAL_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("view_channel", N_("View Channel")),
    ("send_messages", N_("Send Messages")),
    ("embed_links", N_("Embed Links")),
    ("attach_files", N_("Attach Files")),
    ("read_message_history", N_("Read Message History")),
)


def missing_reveal_permissions(interaction: discord.Interaction[Any]) -> list[str]:
    """Names of the permissions the bot lacks for a public reveal here; empty in DMs or when all are there."""
    if interaction.guild_id is None:
        return []
    have = interaction.app_permissions
    return [gettext_now(label) for attribute, label in REVEAL_PERMISSIONS if not getattr(have, attribute)]


def missing_permissions_text(missing: list[str]) -> str:
    """The person's notice that the result is private because the bot lacks the named permissions here."""
    names = ", ".join(f"**{name}**" for name in missing)
    return _(
        "I can't post results in this channel: I'm missing {names} here. Your result is shown only to you. A "
        "server admin can fix it in the channel's settings → Permissions → VaniKeys.",
        names=names,
    )
