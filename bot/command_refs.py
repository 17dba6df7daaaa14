"""How a message names a command, as the front end answering writes it.

The service's messages are shared by every front end, so a command is a placeholder in them
(`_("buy more with {topup}", topup=command("topup"))`) and the front end answering fills it in: Telegram and the
console write `/topup` (their command names are English on every client: Telegram allows only a-z, 0-9 and _),
Discord a clickable mention that each client shows in its own language (bot/frontends/discord/mentions.py).

The writer is a context variable, like the locale: a front end sets it where it sets the language of an update, and
everything that runs for that update (service refusals, renderers, tasks started there) writes commands its way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

CommandWriter = Callable[[str], str]


def slash(name: str) -> str:
    """Telegram's and the console's way: "/pull" ("config language" -> "/config language")."""
    return f"/{name}"


_writer: ContextVar[CommandWriter] = ContextVar("vanikeys_command_writer", default=slash)


def command(name: str) -> str:
    """The command `name` (its English name; "group sub" for a subcommand) as the front end answering writes it."""
    return _writer.get()(name)


def set_command_writer(writer: CommandWriter) -> None:
    """Commands are written by `writer` in the running task from here on (and in tasks it starts)."""
    _writer.set(writer)


@contextmanager
def use_command_writer(writer: CommandWriter) -> Iterator[None]:
    """Within the block, commands are written by `writer`."""
    token = _writer.set(writer)
    try:
        yield
    finally:
        _writer.reset(token)


def commands(*names: str) -> dict[str, str]:
    """The placeholders a message names commands with: commands("keys") -> {"cmd_keys": "/keys"} on Telegram."""
    return {f"cmd_{name.replace(' ', '_')}": command(name) for name in names}
