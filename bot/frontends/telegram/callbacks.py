"""Inline-button payloads: what a button does, in at most 64 bytes of callback_data.

Most patterns fit inline (`p|btc|i|^Love`). A longer one is kept in a bounded
in-memory table under a random reference; after a restart such a button says
it has expired and what to type instead.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

MAX_CALLBACK_BYTES = 64
Action = Literal["pull", "pull10", "quote", "order"]
_CODES: dict[Action, str] = {"pull": "p", "pull10": "t", "quote": "q", "order": "o"}
_ACTIONS = {code: action for action, code in _CODES.items()}


@dataclass(frozen=True)
class ButtonAction:
    action: Action
    format_id: str
    pattern: str
    exact_case: bool = False
    fuzzy: bool = False

    def flags(self) -> str:
        return ("e" if self.exact_case else "i") + ("f" if self.fuzzy else "")

    def inline(self) -> str:
        return f"{_CODES[self.action]}|{self.format_id}|{self.flags()}|{self.pattern}"

    def command(self) -> str:
        """What to type for the same thing, for when a button has expired."""
        verb = {"pull": "/pull", "pull10": "/pull", "quote": "/order", "order": "/order"}[self.action]
        extra = " 10" if self.action == "pull10" else ""
        flags = (" --exact" if self.exact_case else "") + (" --fuzzy" if self.fuzzy else "")
        return f"{verb} {self.pattern} {self.format_id}{extra}{flags}"


class CallbackCodec:
    def __init__(self, capacity: int = 10_000) -> None:
        self._stored: OrderedDict[str, ButtonAction] = OrderedDict()
        self._capacity = capacity

    def encode(self, action: ButtonAction) -> str:
        data = action.inline()
        if len(data.encode()) <= MAX_CALLBACK_BYTES:
            return data
        ref = secrets.token_urlsafe(12)
        self._stored[ref] = action
        while len(self._stored) > self._capacity:
            self._stored.popitem(last=False)
        return f"k|{ref}"

    def decode(self, data: str) -> ButtonAction | None:
        """The action, or None when the button is unknown or has expired."""
        code, _, rest = data.partition("|")
        if code == "k":
            return self._stored.get(rest)
        action = _ACTIONS.get(code)
        format_id, _, rest = rest.partition("|")
        flags, sep, pattern = rest.partition("|")
        if action is None or not sep or not format_id or not pattern:
            return None
        return ButtonAction(action, format_id, pattern, exact_case="e" in flags, fuzzy="f" in flags)

    def result_keyboard(self, format_id: str, pattern: str, exact_case: bool, fuzzy: bool,
                        extra: list[InlineKeyboardButton] | None = None) -> InlineKeyboardMarkup:
        def button(label: str, action: Action) -> InlineKeyboardButton:
            return InlineKeyboardButton(label, callback_data=self.encode(
                ButtonAction(action, format_id, pattern, exact_case, fuzzy)))

        rows = [[button("🎰 Pull again", "pull"), button("🔟 10-pull", "pull10"), button("🧾 Order this", "quote")]]
        if extra:
            rows.append(extra)
        return InlineKeyboardMarkup(rows)

    def confirm_keyboard(self, action: ButtonAction) -> InlineKeyboardMarkup:
        confirm = ButtonAction("order", action.format_id, action.pattern, action.exact_case, action.fuzzy)
        return InlineKeyboardMarkup([[InlineKeyboardButton("✅ Confirm order", callback_data=self.encode(confirm))]])
