"""How much text one Telegram message holds: 4,096 characters as Telegram counts them, in UTF-16 code units
(an emoji is two), measured here on the HTML source, which is never shorter than the text Telegram counts."""

from __future__ import annotations

MAX_MESSAGE = 4096


def utf16_len(text: str) -> int:
    """The length Telegram counts: UTF-16 code units (a character outside the BMP, such as most emoji, is two)."""
    return len(text.encode("utf-16-le")) // 2


def lines_in_one_digest(lines: list[str], limit: int) -> int:
    """How many of the leading lines one digest message holds (at least one); the rest wait for the next."""
    used = 0
    for count, line in enumerate(lines):
        used += utf16_len(line) + 3  # "• " and the newline
        if count and used > limit:
            return count
    return len(lines)
