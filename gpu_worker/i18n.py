"""One source of the text people see: gettext catalogs, the locale of the moment, numbers as a locale writes them.

Every user-facing string is written in English inside `_()` (or `ngettext()` for a count) and looked up in
the compiled catalogs under gpu_worker/locale/<lang>/LC_MESSAGES/vanikeys.mo (docs/i18n.md says how to add
a language). Placeholders are str.format names (`_("{who} pulled {pattern}", who=..., pattern=...)`), so a
translation may put them in any order.

The locale is a context variable: a front end sets it once per update (`use_locale`) and everything that runs
for that update (renderers, service refusals, engine errors) answers in it. Asyncio tasks copy it when they
are created, so work a handler starts keeps the handler's language.

The catalogs are read with the standard library's gettext (plural forms from each catalog's header), so the
engine needs nothing more to translate; Babel (CLDR data) is imported only to write numbers and units.
"""

from __future__ import annotations

import gettext as _gettext
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import cache
from pathlib import Path

DOMAIN = "vanikeys"
LOCALE_DIR = Path(__file__).with_name("locale")
DEFAULT = "en"
# Shipped translations beside English, and the pseudo-locale the tests run every flow through: accented and
# 40% longer, so a message that would overflow a platform's limit in a wordier language overflows in the tests.
TRANSLATED = ("es", "pt_BR", "ru")
PSEUDO = "en_XA"
LOCALES = (DEFAULT, *TRANSLATED)
NAMES = {"en": "English", "es": "Español", "pt_BR": "Português (Brasil)", "ru": "Русский", PSEUDO: "Pseudo"}

_current: ContextVar[str] = ContextVar("vanikeys_locale", default=DEFAULT)


def negotiate(code: str | None, *, pseudo: bool = True) -> str | None:
    """A language tag as platforms send it ("es", "es-419", "pt-br", "pt_BR", "ru-RU") -> a shipped locale, or None.

    Portuguese of any region reads pt_BR (the largest community); any Spanish reads es."""
    if not code or not isinstance(code, str):
        return None
    tag = code.strip().replace("-", "_")
    if pseudo and tag.lower() in (PSEUDO.lower(), "en_xa", "qps", "qps_ploc"):
        return PSEUDO
    language = tag.split("_", 1)[0].lower()
    if language == "pt":
        return "pt_BR"
    if language in LOCALES:
        return language
    return None


def current() -> str:
    """The locale of the task running now (DEFAULT when none was set)."""
    return _current.get()


def set_locale(code: str | None) -> str:
    """Make `code` (negotiated; English when unknown) the locale of the running task from here on."""
    locale = negotiate(code) or DEFAULT
    _current.set(locale)
    return locale


@contextmanager
def use_locale(code: str | None) -> Iterator[str]:
    """Within the block, text and numbers are in `code` (negotiated; English when unknown)."""
    token = _current.set(negotiate(code) or DEFAULT)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


# ---- catalogs ------------------------------------------------------------------------------------------------

_PROTECTED = re.compile(r"(\{[^{}]*\}|<[^<>]*>|&[a-z#0-9]+;|/[a-z_]+|--[a-z_]+|https?://\S+|\\n|%\(\w+\)\w|%\w)")
_ACCENTS = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "åƀçðéƒĝĥîĵķļɱñöþǫŕšţûṽŵẋýžÅƁÇÐÉƑĜĤÎĴĶĻṀÑÖÞǪŔŠŢÛṼŴẊÝŽ"
)


def pseudo(text: str) -> str:
    """English made accented and 40% longer, placeholders, tags, entities and /commands kept as they are."""
    if not text:
        return text
    parts = _PROTECTED.split(text)
    shown = "".join(part if index % 2 else part.translate(_ACCENTS) for index, part in enumerate(parts))
    visible = sum(len(part) for index, part in enumerate(parts) if not index % 2)
    padding = math.ceil(visible * 0.4)
    return f"{shown}{'·' * padding}" if padding else shown


class _Pseudo(_gettext.NullTranslations):
    def gettext(self, message: str) -> str:
        return pseudo(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return pseudo(msgid1 if n == 1 else msgid2)


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    """The catalog for one locale; English (the msgids themselves) when there is none."""
    if locale == PSEUDO:
        return _Pseudo()
    if locale == DEFAULT:
        return _gettext.NullTranslations()
    return _gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[locale], fallback=True)


def _(message: str, /, **values: object) -> str:
    """`message` in the current locale, its {placeholders} filled from `values`."""
    text = translations(current()).gettext(message)
    return text.format(**values) if values else text


def ngettext(singular: str, plural: str, count: int | float, /, **values: object) -> str:
    """The form for `count` in the current locale ("1 pull", "2 pulls"; Russian's three forms); `{n}` is the
    count as the locale writes it unless `values` gives it."""
    whole = count if isinstance(count, int) else (int(count) if float(count).is_integer() else 2)
    text = translations(current()).ngettext(singular, plural, abs(whole))
    values.setdefault("n", number(count))
    return text.format(**values)


def pgettext(context: str, message: str) -> str:
    """`message` in the current locale as translated in `context` (the catalogs' msgctxt): the same English word
    may read differently as a Discord command's name and in a sentence."""
    return translations(current()).pgettext(context, message)


def NC_(context: str, message: str) -> str:
    """Marks text for extraction under a context (msgctxt), translated later with pgettext."""
    return message


def N_(message: str) -> str:
    """Marks text for extraction that is translated later, where it is shown (tables of labels)."""
    return message


def gettext_now(message: str) -> str:
    """A marked (N_) message in the current locale."""
    return translations(current()).gettext(message) if message else message


# ---- numbers, as the locale writes them ------------------------------------------------------------------------


def babel_locale(locale: str | None = None) -> str:
    """The locale Babel formats numbers in: `locale` or the current one, English for the pseudo-locale."""
    found = locale or current()
    return DEFAULT if found == PSEUDO else found


def number(value: int | float, *, digits: int | None = None) -> str:
    """1234567 -> "1,234,567" (en), "1.234.567" (es), "1 234 567" (ru); floats to `digits` decimals (or ~3 figures)."""
    from babel.numbers import format_decimal

    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "∞"
    if isinstance(value, int):
        return format_decimal(value, locale=babel_locale())
    if digits is None:
        digits = 0 if abs(value) >= 10 else 2 if abs(value) < 1 else 1
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(round(value, digits), format=pattern, locale=babel_locale())


def fixed(value: float, digits: int = 1) -> str:
    """A figure with exactly `digits` decimals, in the locale's separators: 12.0, "12,0"."""
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=babel_locale())


def compact(value: float) -> str:
    """12,400 -> "12.4K" / "12,4 mil" / "12,4 тыс."; 3.2 -> "3.2"; past any figure, "∞"."""
    from babel.numbers import format_compact_decimal

    if not math.isfinite(value) or value >= 1e300:
        return "∞"
    if value >= 1e15:  # past the locales' largest word: a power of ten reads better than "1000000 bn"
        exponent = math.floor(math.log10(value))
        return f"{number(value / 10**exponent, digits=1)}×10^{exponent}"
    if value < 1000:
        return number(value, digits=2 if value < 10 else 0)
    return format_compact_decimal(value, format_type="short", fraction_digits=1, locale=babel_locale())


def percent(fraction: float, digits: int = 1) -> str:
    """0.123 -> "12.3%" / "12,3 %" as the locale writes a percentage."""
    from babel.numbers import format_percent

    pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
    return format_percent(fraction, format=pattern, locale=babel_locale())


def unit(value: float, measure: str, *, short: bool = False) -> str:
    """A value with its CLDR unit, plural and all ("3.4 minutes", "3,4 минуты", "1 día"): measure is CLDR's
    ("duration-minute"). The figure to two significant digits below 10, whole above."""
    from babel.units import format_unit

    rounded = round(value) if abs(value) >= 10 else round(value, 1)
    figure = int(rounded) if float(rounded).is_integer() else rounded
    text = format_unit(figure, measure, length="short" if short else "long", locale=babel_locale(), format="#,##0.#")
    return pseudo(text) if current() == PSEUDO else text


def short_datetime(moment: datetime | float) -> str:
    """A date and time as the locale writes it, short: "Sun 07 Dec 23:59", "dom 07 dic 23:59"."""
    from babel.dates import format_datetime

    return format_datetime(moment, "EEE dd MMM HH:mm", locale=babel_locale())
