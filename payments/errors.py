"""The one error payments raises for anything a person or an operator can fix."""

from __future__ import annotations

from typing import Literal

PaymentsErrorCode = Literal["bad_pack", "bad_config", "stripe_unavailable", "bad_user"]


class PaymentsError(Exception):
    """One line, ready to show: what is wrong and what to do instead."""

    def __init__(self, code: PaymentsErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: PaymentsErrorCode = code
        self.message = message

    def __str__(self) -> str:
        return self.message
