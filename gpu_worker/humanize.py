"""Quantities as people read them: durations and counts with their plural. One place for every front end and the CLI.

Figures past any meaning are said in words ("far beyond any budget", not
"13,228,076,481,706.6 years"); a count of one takes the singular ("1 pull",
"1 day"). Words come from the catalogs and figures are written as the current locale writes them
(gpu_worker/i18n.py); English reads as it always did.
"""

from __future__ import annotations

import math

from gpu_worker.i18n import DEFAULT, N_, _, babel_locale, compact as _compact, unit

FAR_BEYOND_S = 1000 * 365 * 86400.0  # past a thousand years, a time is no figure anyone can use
FAR_BEYOND = N_("far beyond any budget")
_UNITS = (
    (365 * 86400, "year", "y"),
    (86400, "day", "d"),
    (3600, "hour", "h"),
    (60, "minute", "min"),
    (1, "second", "s"),
)


def plural(count: float, word: str, many: str | None = None) -> str:
    """ "1 pull", "2 pulls", "1.5 days": the word agrees with the figure as shown (thousands separated)."""
    shown = f"{count:,}" if isinstance(count, int) else _figure(count)
    return f"{shown} {word if shown == '1' else (many or word + 's')}"


def duration(seconds: float | None, *, short: bool = False) -> str:
    """ "about 3.4 minutes" style figures: "3.4 minutes" ("3.4 min" when `short`), "under a second",
    FAR_BEYOND past a thousand years or forever, "unknown" for no figure at all."""
    if seconds is None or math.isnan(seconds):
        return _("unknown")
    if seconds >= FAR_BEYOND_S:
        return _(FAR_BEYOND)
    if seconds < 1:
        return _("under a second")
    for size, word, abbreviation in _UNITS:
        if seconds >= size:
            value = seconds / size
            if babel_locale() == DEFAULT:  # English needs no CLDR data (the worker image ships without Babel)
                return f"{_figure(value)} {abbreviation}" if short else plural(value, word)
            return unit(value, f"duration-{word}", short=short)
    raise AssertionError("unreachable: seconds >= 1 matches the last unit")


def _figure(value: float) -> str:
    """As precise as a person needs, no trailing zeros: 1, 3.4, 12, 1,250."""
    return f"{value:.2g}" if value < 10 else f"{value:,.0f}"


def compact(value: float) -> str:
    """12,400 -> "12.4K"; 3.2 -> "3.2"; 245 -> "245"; past any figure, "∞". Other locales as they abbreviate
    ("12,4 mil", "12,4 тыс.")."""
    if not math.isfinite(value) or value >= 1e300:
        return "∞"
    if babel_locale() != DEFAULT:
        return _compact(value)
    for threshold, suffix in ((1e15, "Q"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= threshold:
            return f"{value / threshold:.3g}{suffix}"
    return f"{value:.2g}" if value < 10 else f"{value:.0f}"


def one_in_pulls(one_in: float) -> str:
    """A rarity as people read it, the same words everywhere: "1 in 12.4K pulls"; "every pull" for what
    (almost) every pull gets, so a full match of an easy pattern never reads "1 in 1 pulls"; "rarer than
    1 in 10^300 pulls" past any figure."""
    if not math.isfinite(one_in) or one_in >= 1e300:
        return _("rarer than 1 in 10^300 pulls")
    if one_in < 1.5:
        return _("every pull")
    return _("1 in {count} pulls", count=compact(one_in))


TIERS = {
    "Common": N_("Common"),
    "Uncommon": N_("Uncommon"),
    "Rare": N_("Rare"),
    "Epic": N_("Epic"),
    "Legendary": N_("Legendary"),
    "Mythic": N_("Mythic"),
}


def tier_name(tier: object) -> str:
    """A rarity tier ("Rare", or the Tier enum) in the current locale."""
    value = str(getattr(tier, "value", tier))
    return _(TIERS[value]) if value in TIERS else value


def large(value: float) -> str:
    """A big count in words as the locale says it: "13.2 trillion", "13,2 billones"; whole below a million."""
    from babel.numbers import format_compact_decimal

    from gpu_worker.i18n import number

    if not math.isfinite(value):
        return "∞"
    if value >= 1e15:
        return _compact(value)
    if value >= 1e6:
        return format_compact_decimal(value, format_type="long", fraction_digits=1, locale=babel_locale())
    if value >= 100:
        return number(round(value))
    return number(float(value), digits=2 if value < 10 else 1) if value != int(value) else number(int(value))
