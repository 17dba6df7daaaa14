"""Which language a page is in: `?lang=` (a link a bot message carries), else the browser's Accept-Language, else
English. The choice is negotiated with the chat's own rules (`negotiate`: any Spanish reads es, any Portuguese
pt_BR), so a page and the bot's answers agree."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from bot.i18n import DEFAULT, current, negotiate

MAX_RANGES = 20  # an Accept-Language header is short; more ranges than this are ignored, never parsed at length
_explicit: ContextVar[str | None] = ContextVar("vanikeys_page_lang", default=None)


@dataclass(frozen=True)
class PageLanguage:
    """The locale a request is answered in, and whether the address chose it (then links on the page keep it)."""

    locale: str
    explicit: bool


def accepted(header: str | None) -> list[str]:
    """The language ranges of an Accept-Language header, most wanted first (q-values respected, q=0 and * left out,
    ties in the header's order)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")[:MAX_RANGES]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        tag = tag.strip()
        if tag and tag != "*" and 0 < weight <= 1:
            ranked.append((-weight, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def page_language(query_lang: str | None, accept_language: str | None) -> PageLanguage:
    """`?lang=` when it names a shipped language, else the first shipped one the browser accepts, else English."""
    chosen = negotiate(query_lang[:20]) if query_lang else None
    if chosen is not None:
        return PageLanguage(chosen, True)
    for tag in accepted(accept_language):
        found = negotiate(tag, pseudo=False)
        if found is not None:
            return PageLanguage(found, False)
    return PageLanguage(DEFAULT, False)


def remember_explicit(language: PageLanguage) -> None:
    """Note for this request whether `?lang=` chose its language (links() then carries it on)."""
    _explicit.set(language.locale if language.explicit else None)


def html_lang() -> str:
    """The current locale as an HTML lang attribute (BCP 47): "pt-BR", "en-XA"."""
    return current().replace("_", "-")


def link(path: str) -> str:
    """`path` (no query of its own) with `?lang=` when this request's address chose the language, so a reader who
    followed a bot's link stays in it from page to page."""
    explicit = _explicit.get()
    return f"{path}?lang={explicit}" if explicit else path


def explicit_lang() -> str | None:
    """The `?lang=` that chose this request's language, or None (a form carries it on as a hidden field)."""
    return _explicit.get()
