"""Numbers typed by people: the one parser every command line and chat front end uses.

ASCII digits only (``"²"`` and ``"٣"`` pass ``str.isdigit()`` and must not
count), bounded before conversion (a 400-digit string or ``1e309`` never
reaches ``int()`` or ``float()`` unchecked), and one line that says what to type
instead when the text is not a number in range.
"""

from __future__ import annotations

import re

from gpu_worker.errors import VanikeysError
from gpu_worker.i18n import _, number

_PLAIN = re.compile(r"[0-9]{1,30}")
_SEPARATORS = str.maketrans("", "", "_,")
_SCALED = re.compile(r"(?P<mantissa>[0-9]{1,12}(?:\.[0-9]{1,12})?)(?:e(?P<exponent>[0-9]{1,2}))?(?P<suffix>[kmgt]?)")
_POWER = re.compile(r"2\^(?P<power>[0-9]{1,2})")
_HUGE = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?[kmgt]?|2\^[0-9]+")
_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def is_ascii_number(text: str) -> bool:
    """True for a plain whole number written in ASCII digits (``"10"``, not ``"²"`` or ``"1e3"``)."""
    return _PLAIN.fullmatch(text.strip()) is not None


def _refuse_negative(cleaned: str, text: str, *, what: str, minimum: float, maximum: float) -> None:
    """A minus sign in front of what is otherwise a number is a negative number, not "not a number"."""
    if cleaned.startswith("-") and _HUGE.fullmatch(cleaned[1:].lower()) is not None:
        raise VanikeysError(
            "bad_number",
            _(
                "{text} is negative: give {what} from {minimum} to {maximum}",
                text=_shown(text),
                what=what,
                minimum=number(minimum),
                maximum=number(maximum),
            ),
        )


def parse_int(text: str, *, what: str, minimum: int, maximum: int) -> int:
    """A whole number in [minimum, maximum], written in ASCII digits (``_`` and ``,`` allowed as separators)."""
    cleaned = text.strip().translate(_SEPARATORS)
    if _PLAIN.fullmatch(cleaned) is None:
        _refuse_negative(cleaned, text, what=what, minimum=minimum, maximum=maximum)
        if cleaned.isascii() and cleaned.isdigit():
            raise _too_large(text, what=what, minimum=minimum, maximum=maximum)
        raise VanikeysError(
            "bad_number",
            _(
                "{text} is not a number: give {what} as digits, from {minimum} to {maximum}",
                text=_shown(text),
                what=what,
                minimum=number(minimum),
                maximum=number(maximum),
            ),
        )
    return _in_range(int(cleaned), text, what=what, minimum=minimum, maximum=maximum)


def parse_count(text: str, *, what: str, minimum: int, maximum: int) -> int:
    """A count that may be scaled: 200000, 200_000, 200k, 1.5M, 1e6 or 2^28, within [minimum, maximum]."""
    cleaned = text.strip().lower().translate(_SEPARATORS)
    power = _POWER.fullmatch(cleaned)
    if power is not None:
        return _in_range(1 << int(power["power"]), text, what=what, minimum=minimum, maximum=maximum)
    if _PLAIN.fullmatch(cleaned) is not None:
        return _in_range(int(cleaned), text, what=what, minimum=minimum, maximum=maximum)
    scaled = _SCALED.fullmatch(cleaned)
    if scaled is None:
        _refuse_negative(cleaned, text, what=what, minimum=minimum, maximum=maximum)
        if _HUGE.fullmatch(cleaned):  # a number, but past any bound (a 400-digit count, 1e309, 2^4096)
            raise _too_large(text, what=what, minimum=minimum, maximum=maximum)
        raise VanikeysError(
            "bad_number",
            _(
                "{text} is not a number: give {what} as e.g. 200000, 200k, 1M, 1e6 or 2^28",
                text=_shown(text),
                what=what,
            ),
        )
    whole, _dot, fraction = scaled["mantissa"].partition(".")
    # Exact integer arithmetic: mantissa * 10^exponent * suffix, with no float rounding or overflow.
    numerator = int(whole + fraction) * 10 ** int(scaled["exponent"] or 0) * _SUFFIX[scaled["suffix"]]
    value, remainder = divmod(numerator, 10 ** len(fraction))
    if remainder:
        raise VanikeysError(
            "bad_number", _("{text} is not a whole number: give {what} as e.g. 200000", text=_shown(text), what=what)
        )
    return _in_range(value, text, what=what, minimum=minimum, maximum=maximum)


_DECIMAL = re.compile(r"(?P<whole>[0-9]{1,12})(?:\.(?P<fraction>[0-9]{1,9}))?")


def parse_decimal(text: str, *, what: str, minimum: float, maximum: float) -> float:
    """A plain decimal in [minimum, maximum] (seconds, say): ASCII digits, at most one point, no exponent."""
    cleaned = text.strip().translate(_SEPARATORS)
    match = _DECIMAL.fullmatch(cleaned)
    if match is None:
        _refuse_negative(cleaned, text, what=what, minimum=minimum, maximum=maximum)
        raise VanikeysError(
            "bad_number",
            _(
                "{text} is not a number: give {what} as e.g. 30 or 2.5, from {minimum} to {maximum}",
                text=_shown(text),
                what=what,
                minimum=format(minimum, ",g"),
                maximum=format(maximum, ",g"),
            ),
        )
    value = float(cleaned)
    if not minimum <= value <= maximum:
        raise VanikeysError(
            "bad_number",
            _(
                "{text} is out of range: give {what} from {minimum} to {maximum}",
                text=_shown(text),
                what=what,
                minimum=format(minimum, ",g"),
                maximum=format(maximum, ",g"),
            ),
        )
    return value


def _too_large(text: str, *, what: str, minimum: int, maximum: int) -> VanikeysError:
    """A number past any bound (more digits than fit, 1e309, 2^4096): the refusal for both parsers."""
    return VanikeysError(
        "bad_number",
        _(
            "{text} is far too large: give {what} from {minimum} to {maximum}",
            text=_shown(text),
            what=what,
            minimum=number(minimum),
            maximum=number(maximum),
        ),
    )


def _in_range(value: int, text: str, *, what: str, minimum: int, maximum: int) -> int:
    if not minimum <= value <= maximum:
        raise VanikeysError(
            "bad_number",
            _(
                "{text} is out of range: give {what} from {minimum} to {maximum}",
                text=_shown(text),
                what=what,
                minimum=number(minimum),
                maximum=number(maximum),
            ),
        )
    return value


def _shown(text: str) -> str:
    """The offending text, quoted and cut short so a hostile paste cannot flood the answer."""
    text = text.strip()
    return repr(text if len(text) <= 24 else text[:21] + "...")
