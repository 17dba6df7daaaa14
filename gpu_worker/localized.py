"""Text written in the locale of whoever reads it: English where a log or a script reads it, the reader's own
where a person does.

A settings, storage or vault error can be raised before the command line has decided its language, or in a
process with no terminal at all, and the same error is logged: so it is raised with a `Localized` message.
`str()` of the error is English (the log, a script); where a person reads it, `in_current_locale(exc)` writes it
again in the locale current there (the command line's, docs/i18n.md). The variable names and values it quotes
are the same in both.
"""

from __future__ import annotations

from collections.abc import Callable

from gpu_worker.i18n import DEFAULT, _, use_locale


class Localized:
    """A message rendered when it is read: `render()` writes it in the current locale (with `_()` and friends)."""

    __slots__ = ("render",)

    def __init__(self, render: Callable[[], str]) -> None:
        self.render = render

    def now(self) -> str:
        """The message in the current locale."""
        return self.render()

    def __str__(self) -> str:
        with use_locale(DEFAULT):
            return self.render()


def phrase(message: str, /, **values: object) -> Localized:
    """A message marked with N_ and its values (fixed now), written in the locale current when it is read."""
    return Localized(lambda: _(message, **values))


def in_current_locale(exc: BaseException) -> str:
    """`exc`'s message in the current locale when it carries a `Localized` one (`localized`), else `str(exc)`."""
    localized = getattr(exc, "localized", None)
    return localized.now() if isinstance(localized, Localized) else str(exc)
