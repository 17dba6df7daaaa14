"""Which language each answer is in, for the front ends (the catalogs and formatting: gpu_worker/i18n.py).

- A person's own answers (private chats, DMs, a key's delivery): their platform language (Telegram's
  `language_code`, Discord's interaction locale), remembered here so a DM sent later (a key found after the
  command's answer) is in it too.
- A community's public messages: the language an admin set with `/config language <code>`, else the language
  of the person being answered.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from gpu_worker.i18n import (  # the front ends' one import for text
    DEFAULT,
    LOCALES,
    N_,
    NAMES,
    PSEUDO,
    _,
    current,
    negotiate,
    ngettext,
    set_locale,
    use_locale,
)

__all__ = [
    "DEFAULT",
    "LOCALES",
    "NAMES",
    "N_",
    "PEOPLE",
    "PSEUDO",
    "PeopleLanguages",
    "_",
    "current",
    "in_public",
    "negotiate",
    "ngettext",
    "public_locale",
    "public_now",
    "set_locale",
    "set_public_locale",
    "use_locale",
]

PEOPLE_REMEMBERED = 50_000  # bounded: only the most recently seen people


class PeopleLanguages:
    """The language each recently seen person uses, by (platform, user id): most recent last."""

    def __init__(self, limit: int = PEOPLE_REMEMBERED) -> None:
        self._seen: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._limit = limit

    def remember(self, platform: str, user_id: str, code: str | None) -> None:
        """Note the language `code` a person's client reports (ignored when no shipped locale matches it)."""
        locale = negotiate(code)
        if locale is None:
            return
        key = (platform, str(user_id))
        self._seen[key] = locale
        self._seen.move_to_end(key)
        while len(self._seen) > self._limit:
            self._seen.popitem(last=False)

    def of(self, platform: str, user_id: str) -> str | None:
        """The locale last seen for this person, or None when not seen recently."""
        return self._seen.get((platform, str(user_id)))


PEOPLE = PeopleLanguages()


def public_locale(community_language: str | None, person_code: str | None) -> str:
    """A community's messages: its admin's choice, else the language of whoever is answered, else English."""
    return negotiate(community_language) or negotiate(person_code) or DEFAULT


# The language of the community messages an update leads to (a group's, a server's), beside the current locale,
# which is the person's own: a front end sets both per update; tasks started from there inherit both.
_public: ContextVar[str | None] = ContextVar("vanikeys_public_locale", default=None)


def set_public_locale(code: str | None) -> None:
    """From here on in this task, public messages are in `code` (negotiated; None: the current locale's)."""
    _public.set(negotiate(code))


def public_now() -> str:
    """The locale public messages are in now: the community's as a front end set it, else the current one."""
    return _public.get() or current()


@contextmanager
def in_public() -> Iterator[str]:
    """Within the block, text is in the public messages' locale (public_now)."""
    with use_locale(public_now()) as locale:
        yield locale
