"""The one error type the engine raises for anything a caller can fix."""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal[
    "bad_format",
    "bad_pattern",
    "bad_job",
    "bad_number",
    "bad_pubkey",
    "bad_secret",
    "too_hard",
    "verification_failed",
    "backend_unavailable",
]


class VanikeysError(Exception):
    """Bad input or an untrustworthy result, with a one-line message for people.

    The message says what is wrong and what to do instead; it never contains a
    private key.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"VanikeysError({self.code!r}, {self.message!r})"
