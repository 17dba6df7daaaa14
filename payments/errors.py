"""The one error payments raises for anything a person or an operator can fix."""

from __future__ import annotations

from typing import Literal

from gpu_worker.localized import Localized

PaymentsErrorCode = Literal["bad_pack", "bad_config", "stripe_unavailable", "bad_user"]


class PaymentsError(Exception):
    """One line, ready to show: what is wrong and what to do instead."""

    def __init__(self, code: PaymentsErrorCode, message: str | Localized) -> None:
        super().__init__(str(message))
        self.code: PaymentsErrorCode = code
        self.message = str(message)  # English for a Localized message (logs); in_current_locale(exc) for a person
        self.localized = message if isinstance(message, Localized) else None

    def __str__(self) -> str:
        return self.message
