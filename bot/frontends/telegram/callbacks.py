"""Inline-button payloads: what a button does and whose it is, in at most 64 bytes of callback_data.

The buttons under a result (pull this too, 10-pull, order this: `OPEN_ACTIONS`) invite
everyone and act for whoever presses them, with the presser's own tokens; their
labels say so. Every other button (a quote's Confirm, "pull anyway" after the
easy-pattern warning) acts for one person, its owner (who asked for the message
it is on), and a press by anyone else is refused privately. Most payloads fit inline
(`p|42|btc|i|^Love`). A longer one is kept in a bounded in-memory table under a
random reference; after a restart such a button says it has expired and what to
type instead.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from gpu_worker.i18n import _

MAX_CALLBACK_BYTES = 64
Action = Literal["pull", "pull10", "quote", "order", "pull_easy"]
_CODES: dict[Action, str] = {"pull": "p", "pull10": "t", "quote": "q", "order": "o", "pull_easy": "e"}
_ACTIONS = {code: action for action, code in _CODES.items()}
OPEN_ACTIONS: frozenset[Action] = frozenset({"pull", "pull10", "quote"})  # act for whoever presses them


@dataclass(frozen=True)
class ButtonAction:
    """What one button does (`action`, on `pattern` in `format_id` with its flags) and the person it acts for
    (`owner`)."""

    action: Action
    owner: int  # the Telegram user id the button acts for
    format_id: str
    pattern: str
    exact_case: bool = False
    fuzzy: bool = False
    count: int = 1  # for pull_easy: the count the person asked for

    def flags(self) -> str:
        """The flags field: `e` exact case (else `i`), `f` fuzzy, `x` a count of 10 (any other count decodes as 1)."""
        return ("e" if self.exact_case else "i") + ("f" if self.fuzzy else "") + ("x" if self.count == 10 else "")

    def inline(self) -> str:
        """The inline payload `code|owner|format|flags|pattern`; it may be longer than callback_data allows (see
        encode)."""
        return f"{_CODES[self.action]}|{self.owner}|{self.format_id}|{self.flags()}|{self.pattern}"

    def belongs_to(self, user_id: int) -> bool:
        """True when `user_id` is the button's owner."""
        return self.owner == user_id

    def for_presser(self, user_id: int) -> ButtonAction | None:
        """What a press by `user_id` does: an open button acts for them; another's personal button, nothing."""
        if self.action in OPEN_ACTIONS:
            return ButtonAction(
                self.action, user_id, self.format_id, self.pattern, self.exact_case, self.fuzzy, self.count
            )
        return self if self.belongs_to(user_id) else None

    def with_action(self, action: Action) -> ButtonAction:
        """The same button doing `action` instead, for the same owner, pattern and flags."""
        return ButtonAction(action, self.owner, self.format_id, self.pattern, self.exact_case, self.fuzzy, self.count)

    def command(self) -> str:
        """What to type for the same thing, for when a button has expired or is someone else's."""
        verb = {"pull": "/pull", "pull10": "/pull", "quote": "/order", "order": "/order", "pull_easy": "/pull"}[
            self.action
        ]
        extra = " 10" if self.action == "pull10" or (self.action == "pull_easy" and self.count == 10) else ""
        flags = (" --exact" if self.exact_case else "") + (" --fuzzy" if self.fuzzy else "")
        return f"{verb} {self.pattern} {self.format_id}{extra}{flags}"


class CallbackCodec:
    """Turns ButtonActions into callback_data and back, and builds the keyboards that carry them.

    Payloads too long for callback_data are kept in memory (the newest `capacity`, the oldest forgotten), so such
    a button expires when the bot restarts or the table overflows."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._stored: OrderedDict[str, ButtonAction] = OrderedDict()
        self._capacity = capacity

    def encode(self, action: ButtonAction) -> str:
        """The callback_data for `action`: its inline payload when that fits 64 bytes, else `k|<random ref>` to the
        table."""
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
        owner, _, rest = rest.partition("|")
        format_id, _, rest = rest.partition("|")
        flags, sep, pattern = rest.partition("|")
        if action is None or not sep or not format_id or not pattern or not owner.isascii() or not owner.isdigit():
            return None
        return ButtonAction(
            action,
            int(owner),
            format_id,
            pattern,
            exact_case="e" in flags,
            fuzzy="f" in flags,
            count=10 if "x" in flags else 1,
        )

    def button(self, label: str, action: ButtonAction) -> InlineKeyboardButton:
        """An inline button with `label` that does `action` when pressed."""
        return InlineKeyboardButton(label, callback_data=self.encode(action))

    def result_keyboard(
        self,
        owner: int,
        format_id: str,
        pattern: str,
        exact_case: bool,
        fuzzy: bool,
        extra: list[InlineKeyboardButton] | None = None,
    ) -> InlineKeyboardMarkup:
        """The open buttons under a result (pull this too, 10-pull, order this), acting for whoever presses them;
        `extra` buttons go on a second row."""
        base = ButtonAction("pull", owner, format_id, pattern, exact_case, fuzzy)
        rows = [
            [
                self.button(_("🎰 Pull this too"), base),
                self.button(_("🔟 10-pull this too"), base.with_action("pull10")),
                self.button(_("🧾 Order this too"), base.with_action("quote")),
            ]
        ]
        if extra:
            rows.append(extra)
        return InlineKeyboardMarkup(rows)

    def confirm_keyboard(self, action: ButtonAction) -> InlineKeyboardMarkup:
        """The Confirm button under an order quote: places the quoted order, for its owner only."""
        return InlineKeyboardMarkup([[self.button(_("✅ Confirm order"), action.with_action("order"))]])

    def easy_keyboard(self, action: ButtonAction) -> InlineKeyboardMarkup:
        """The easy-pattern warning's choices, for the person who asked."""
        return InlineKeyboardMarkup(
            [
                [
                    self.button(_("🎰 Pull anyway"), action.with_action("pull_easy")),
                    self.button(_("🧾 Order instead"), action.with_action("quote")),
                ]
            ]
        )
