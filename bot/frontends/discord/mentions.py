"""How a Discord answer names a command: as the person's client shows it.

A command mention (`</pull:123>`, `</group sub:123>`) is drawn by each client in its own language and fills the
command in when clicked; it needs the command's id, learned from each sync and from `tree.fetch_commands()` once
logged in. Until an id is known the answer writes the command's name in the language it is written in (`/tirar`),
which is what a client in that language shows. Shared messages name commands through bot/command_refs.py's
placeholders; the Discord flows set `CommandMentions.writer` as the writer for everything they answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.command_refs import CommandWriter
from bot.frontends.discord.translator import localized_name
from bot.i18n import current

if TYPE_CHECKING:
    from discord.app_commands import CommandTree


def plain(name: str, locale: str | None = None) -> str:
    """The command as typed in `locale` (default: the current one): "pull" -> "/tirar" in Spanish."""
    where = locale or current()
    return "/" + " ".join(localized_name(part, where) for part in name.split(" "))


class CommandMentions:
    """The ids of one application's published commands, global and per server, by their (English) name."""

    def __init__(self) -> None:
        self._global: dict[str, int] = {}
        self._guilds: dict[int, dict[str, int]] = {}
        self._global_known = False

    def learn(self, commands: Iterable[app_commands.AppCommand], guild_id: int | None = None) -> None:
        """Remember the commands a sync published (or a fetch listed) globally, or in one server."""
        ids = {command.name: command.id for command in commands}
        if guild_id is None:
            self._global, self._global_known = ids, True
        else:
            self._guilds[guild_id] = ids

    async def fetch(self, tree: CommandTree[Any]) -> None:
        """Learn the global commands' ids from Discord (once logged in), unless a sync told them meanwhile."""
        listed = await tree.fetch_commands()
        if not self._global_known:
            self.learn(listed)

    def seen(self, interaction: discord.Interaction[Any]) -> None:
        """Learn the id of the command an interaction ran (Discord sends it, and its server for a server's copy)."""
        data: Any = interaction.data or {}
        if interaction.type is not discord.InteractionType.application_command or not str(data.get("id", "")).isdigit():
            return
        guild = str(data.get("guild_id", ""))
        known = self._guilds.setdefault(int(guild), {}) if guild.isdigit() else self._global
        known[str(data.get("name", ""))] = int(data["id"])

    def mention(self, name: str, guild_id: int | None = None) -> str | None:
        """`</name:id>` for a command whose id is known (the server's own copy first), else None."""
        command_id = self._guilds.get(guild_id, {}).get(name.split(" ")[0]) if guild_id else None
        command_id = command_id or self._global.get(name.split(" ")[0])
        return f"</{name}:{command_id}>" if command_id else None

    def refer(self, name: str, guild_id: int | None = None) -> str:
        """Discord's one way to write a command in an answer: its mention, else /name in the answer's language (no
        markup: answers may pass through escape_markdown, which keeps a mention but not code marks)."""
        return self.mention(name, guild_id) or plain(name)

    def writer(self, guild_id: int | None) -> CommandWriter:
        """`refer` for answers in one server (None: a DM, or a message whose server is not known)."""
        return partial(self.refer, guild_id=guild_id)


def usage(command: app_commands.Command[Any, ..., Any] | None, name: str) -> str:
    """A command with its options as the current language's client shows them: "/tirar <patrón> [formato]"."""
    if command is None:
        return plain(name)
    where = current()
    options = [
        f"<{localized_name(p.name, where, option=True)}>"
        if p.required
        else f"[{localized_name(p.name, where, option=True)}]"
        for p in command.parameters
    ]
    return " ".join([plain(name), *options])
