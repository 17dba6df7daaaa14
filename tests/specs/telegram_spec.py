"""The Telegram Bot API's method and type tables (tests/specs/telegram/api.json), as a checker.

A request is checked against its method's field table: every required field present, no field the method
does not take, each value of a type the table allows (decoded as Telegram decodes a form: a String field is
the text itself, any other is JSON), and the limits the descriptions state ("1-64 bytes", "0-200 characters",
"1-4096 characters after entities parsing", "Values between 1-100"). An answer's `result` is checked against
the method's return type, and every object in it against its type's table, recursively: required fields,
no unknown fields, field types, and the values a description fixes ('always "creator"', 'can be either
"private", ...'). An update the fake delivers is checked as an Update.

Each check returns a list of faults, one line each; an empty list is conformance.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).parent / "telegram" / "api.json"

_RANGE = re.compile(r"(?<![\w.-])(\d+)-(\d+) (characters|bytes|Bytes)( after entit(?:y|ies) parsing)?")
_VALUES_BETWEEN = re.compile(r"Values between (\d+)-(\d+) are accepted")
_ALWAYS = re.compile(r'\balways "([^"]+)"')
_EITHER = re.compile(
    r"\b(?:can be either|can be one of|must be one of|Must be one of|Currently, can be)\s+"
    r'((?:"[^"]+"(?: \([^)]*\))?(?:, | or |, or )?)+)'
)
_QUOTED = re.compile(r'"([^"]+)"')


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Limit:
    low: int
    high: int
    unit: str  # "characters" (UTF-16 code units, as Telegram counts) or "bytes" (UTF-8)
    after_entities: bool  # counted on the text Telegram shows, after parse_mode is applied

    def measure(self, text: str) -> int:
        return len(text.encode()) if self.unit == "bytes" else utf16_len(text)


@dataclass(frozen=True)
class Field:
    name: str
    types: tuple[str, ...]
    required: bool
    limit: Limit | None
    number_range: tuple[int, int] | None
    allowed: frozenset[str] | None  # the only values a String field may take


def _field(raw: dict[str, Any]) -> Field:
    description = raw["description"]
    limit = number_range = allowed = None
    if "String" in raw["types"] and (match := _RANGE.search(description)):
        limit = Limit(int(match[1]), int(match[2]), match[3].lower(), bool(match[4]))
    if "Integer" in raw["types"] and (match := _VALUES_BETWEEN.search(description)):
        number_range = (int(match[1]), int(match[2]))
    if raw["types"] == ["String"]:
        if match := _ALWAYS.search(description):
            allowed = frozenset({match[1]})
        elif match := _EITHER.search(description):
            allowed = frozenset(_QUOTED.findall(match[1]))
    return Field(raw["name"], tuple(raw["types"]), bool(raw["required"]), limit, number_range, allowed)


class TelegramSpec:
    """The tables of one Bot API version; build it once (spec()), check any number of exchanges."""

    def __init__(self, document: dict[str, Any], *, visible_text: Callable[[str, str | None], str]) -> None:
        self.version: str = document["version"]
        self.methods = {
            name: {f.name: f for f in map(_field, m.get("fields", []))} for name, m in document["methods"].items()
        }
        self.returns = {name: tuple(m["returns"]) for name, m in document["methods"].items()}
        self.types = {
            name: {f.name: f for f in map(_field, t.get("fields", []))} for name, t in document["types"].items()
        }
        self.subtypes = {name: tuple(t["subtypes"]) for name, t in document["types"].items() if "subtypes" in t}
        self._visible_text = visible_text

    # --- requests -------------------------------------------------------------------------------

    def check_request(self, method: str, params: dict[str, Any]) -> list[str]:
        """`params` as they arrived: strings from a form (JSON inside for non-String fields), bytes for a file."""
        fields = self.methods.get(method)
        if fields is None:
            return [f"{method}: no such method in {self.version}"]
        faults = [
            f"{method}: required field {name!r} missing"
            for name, f in fields.items()
            if f.required and name not in params
        ]
        for name, raw in params.items():
            field = fields.get(name)
            if field is None:
                faults.append(f"{method}: {name!r} is not a field of {method}")
                continue
            value, fault = _decode(raw, field.types)
            if fault:
                faults.append(f"{method}.{name}: {fault}")
                continue
            faults += self._value(value, field, f"{method}.{name}", params.get("parse_mode"))
        return faults

    # --- answers --------------------------------------------------------------------------------

    def check_result(self, method: str, result: Any) -> list[str]:
        returns = self.returns.get(method)
        if returns is None:
            return [f"{method}: no such method in {self.version}"]
        return self._typed(result, returns, f"{method} result")

    def check_object(self, type_name: str, value: Any, where: str | None = None) -> list[str]:
        return self._typed(value, (type_name,), where or type_name)

    # --- the recursion --------------------------------------------------------------------------

    def _typed(self, value: Any, types: tuple[str, ...], where: str) -> list[str]:
        """Faults of `value` against the first of `types` it fits best (none if it fits one)."""
        best: list[str] | None = None
        for type_name in types:
            faults = self._one_type(value, type_name, where)
            if not faults:
                return []
            if best is None or len(faults) < len(best):
                best = faults
        return best or [f"{where}: no type to check against"]

    def _one_type(self, value: Any, type_name: str, where: str) -> list[str]:
        if type_name.startswith("Array of "):
            if not isinstance(value, list):
                return [f"{where}: {type_name} expected, got {_kind(value)}"]
            inner = type_name.removeprefix("Array of ")
            return [fault for i, item in enumerate(value) for fault in self._typed(item, (inner,), f"{where}[{i}]")]
        scalar = _SCALARS.get(type_name)
        if scalar is not None:
            return [] if scalar(value) else [f"{where}: {type_name} expected, got {_kind(value)} {value!r:.60}"]
        if type_name == "InputFile":
            return [] if isinstance(value, (bytes, bytearray)) else [f"{where}: a file upload expected"]
        if type_name in self.subtypes:
            return self._typed(value, self.subtypes[type_name], where)
        fields = self.types.get(type_name)
        if fields is None:
            return [f"{where}: unknown type {type_name}"]
        if not isinstance(value, dict):
            return [f"{where}: {type_name} object expected, got {_kind(value)}"]
        faults = [
            f"{where}: {type_name} lacks required field {name!r}"
            for name, f in fields.items()
            if f.required and name not in value
        ]
        for name, item in value.items():
            field = fields.get(name)
            if field is None:
                faults.append(f"{where}: {name!r} is not a field of {type_name}")
                continue
            faults += self._value(item, field, f"{where}.{name}", value.get("parse_mode"))
        return faults

    def _value(self, value: Any, field: Field, where: str, parse_mode: Any) -> list[str]:
        faults = self._typed(value, field.types, where)
        if faults:
            return faults
        if isinstance(value, str):
            if field.allowed is not None and value not in field.allowed:
                faults.append(f"{where}: {value!r} is not one of {sorted(field.allowed)}")
            if field.limit is not None:
                text = (
                    self._visible_text(value, parse_mode if isinstance(parse_mode, str) else None)
                    if field.limit.after_entities
                    else value
                )
                size = field.limit.measure(text)
                if not field.limit.low <= size <= field.limit.high:
                    faults.append(
                        f"{where}: {size} {field.limit.unit}, the spec allows {field.limit.low}-{field.limit.high}"
                    )
        if (
            field.number_range is not None
            and isinstance(value, int)
            and not field.number_range[0] <= value <= field.number_range[1]
        ):
            faults.append(f"{where}: {value} is outside {field.number_range[0]}-{field.number_range[1]}")
        return faults


_SCALARS: dict[str, Callable[[Any], bool]] = {
    "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "String": lambda v: isinstance(v, str),
    "Boolean": lambda v: isinstance(v, bool),
    "True": lambda v: v is True,
}


def _decode(raw: Any, types: tuple[str, ...]) -> tuple[Any, str | None]:
    """A request value as Telegram reads it: a String field takes the text as it is; any other is JSON."""
    if isinstance(raw, (bytes, bytearray)):
        return raw, None if "InputFile" in types else "a file was uploaded where the spec takes no file"
    if not isinstance(raw, str):
        return raw, None  # a JSON body: already typed
    if "String" in types:
        if types == ("String",):
            return raw, None
        try:  # "Integer or String" (chat_id): a number when it reads as one
            decoded = json.loads(raw)
        except ValueError:
            return raw, None
        return (decoded, None) if not isinstance(decoded, str) else (raw, None)
    try:
        return json.loads(raw), None
    except ValueError:
        return raw, f"{raw!r:.60} is not JSON for {' or '.join(types)}"


def _kind(value: Any) -> str:
    return type(value).__name__


@cache
def spec() -> TelegramSpec:
    """The Bot API tables, read once per process."""
    from tests.telegram.fake_bot_api import TelegramError, parse_telegram_html

    def visible_text(text: str, parse_mode: str | None) -> str:
        if parse_mode != "HTML":
            return text
        try:
            return parse_telegram_html(text)[0]
        except TelegramError:  # markup Telegram refuses: the fake answers 400 for it; measure the source
            return text

    return TelegramSpec(json.loads(SPEC_PATH.read_text(encoding="utf-8")), visible_text=visible_text)
