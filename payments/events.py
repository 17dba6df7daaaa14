"""What payments hands to the bot: ledger instructions, and what the bot answers.

`payments` never touches the database. Each Stripe event it accepts becomes one
`LedgerInstruction`; the bot applies it exactly once per `idempotency_key`
(credits add tokens; clawbacks take them, never below zero, recording what
cannot be taken as debt) and tells the buyer `notice` on the platform they
bought from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from gpu_worker.i18n import current, ngettext, use_locale

InstructionReason = Literal["purchase", "refund", "refund_reversed", "dispute", "dispute_closed"]


@dataclass(frozen=True)
class LedgerInstruction:
    """One change a verified Stripe event asks of a balance: credit or claw back, exactly once per idempotency key."""

    platform: str  # "discord" | "telegram" | "console": where the buyer bought, and is told
    user_id: str  # the buyer's id on that platform
    tokens: int  # signed: > 0 credits, < 0 takes back (clawback); 0 with `reverses`
    idempotency_key: str  # stable across Stripe retries and duplicate events: "stripe:checkout:cs_…"
    reason: InstructionReason
    notice: str  # one line for the buyer, ready to show; tell them notice_for(outcome)
    stripe_id: str  # the Stripe object this came from: cs_… / re_… / dp_…
    pack_id: str | None = None
    amount_cents: int = 0  # money involved (paid, refunded or disputed), in the smallest currency unit
    currency: str = "usd"
    # The idempotency key of a clawback to undo: the bot gives back exactly what that row took
    # (a refund that failed after its tokens were taken back). `tokens` is then 0.
    reverses: str | None = None
    locale: str | None = None  # the buyer's language: `notice` is in it, and so is what notice_for() adds

    def __post_init__(self) -> None:
        if (self.tokens == 0) != (self.reverses is not None):
            raise ValueError("a ledger instruction moves at least one token, or (tokens=0) reverses a clawback")
        if not self.idempotency_key:
            raise ValueError("a ledger instruction needs an idempotency key")
        if not self.platform or not self.user_id:
            raise ValueError("a ledger instruction needs a platform and a user id")

    @property
    def is_clawback(self) -> bool:
        """Whether this takes tokens back (a refund or a dispute) rather than crediting them."""
        return self.tokens < 0

    def notice_for(self, outcome: ApplyOutcome) -> str:
        """What to tell the buyer once applied: `notice`, plus what debt changed (in the buyer's language)."""
        with use_locale(self.locale or current()):
            return self._told(outcome)

    def _told(self, outcome: ApplyOutcome) -> str:
        if self.is_clawback and outcome.tokens_moved > self.tokens:
            owed = ngettext(
                "Your balance covered {covered} of them, so you owe {n} token: pulls and orders are paused until a "
                "top-up (/topup) settles it.",
                "Your balance covered {covered} of them, so you owe {n} tokens: pulls and orders are paused until a "
                "top-up (/topup) settles it.",
                outcome.debt,
                covered=-outcome.tokens_moved,
            )
            return f"{self.notice} {owed}"
        if not self.is_clawback and outcome.tokens_moved < self.tokens:
            settled = self.tokens - outcome.tokens_moved
            if outcome.debt > 0:
                said = ngettext(
                    "{settled} of them settled what your account owed; you still owe {n}.",
                    "{settled} of them settled what your account owed; you still owe {n}.",
                    outcome.debt,
                    settled=settled,
                )
            else:
                said = ngettext(
                    "{n} of them settled what your account owed; pulls and orders are open again.",
                    "{n} of them settled what your account owed; pulls and orders are open again.",
                    settled,
                )
            return f"{self.notice} {said}"
        return self.notice


@dataclass(frozen=True)
class ApplyOutcome:
    """What applying an instruction did: whether it applied (False: a replay), tokens moved, debt and balance after."""

    applied: bool  # False: this idempotency key was applied before (a replay); nothing changed
    tokens_moved: int = 0  # signed change actually made to the balance (a clawback may take less than asked)
    debt: int = 0  # the account's debt after applying (what clawbacks could not take); paid actions frozen while > 0
    balance: int | None = None  # balance after applying, when known


@dataclass(frozen=True)
class PaymentIssue:
    """A verified event the bot will not honour as asked (its amount, currency or metadata does not match a pack
    on sale): answered 200 so Stripe stops retrying, and recorded for the operator to settle by hand."""

    event_id: str
    event_type: str
    stripe_id: str  # the checkout session (or other object) concerned
    reason: str  # one line: what did not match
    platform: str | None = None
    user_id: str | None = None
    amount_cents: int = 0
    currency: str = ""


# The callable the bot gives the webhook server to record a PaymentIssue (it must be idempotent per event_id).
ReportIssue = Callable[[PaymentIssue], Awaitable[None]]


# The callable the bot gives the webhook server. It must be safe to call
# concurrently with the same instruction: the ledger's idempotency key decides.
ApplyInstruction = Callable[[LedgerInstruction], Awaitable[ApplyOutcome]]
