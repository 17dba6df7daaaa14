"""Gifts: tokens from one person to another, both ledger rows in one transaction, exactly once per key.

The sender's row is a debit (kind `gift_sent`): refused from a frozen
account, past the daily spend limit, or past the balance, like any spend.
The recipient's row is a credit (kind `gift_received`). Both rows take their
idempotency keys from the gift's key, so a retried gift moves nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.answers import ServiceError, UserRef
from bot.ledger import Ledger
from bot.storage import Database
from gpu_worker.i18n import _, number

MAX_GIFT_TOKENS = 1_000_000_000
MAX_KEY_CHARS = 200


@dataclass(frozen=True)
class GiftOutcome:
    """A gift's result: whether it applied (False: a replay of its idempotency key) and both balances after."""

    applied: bool
    sender_balance: int
    recipient_balance: int


def gift_keys(sender: UserRef, idempotency_key: str) -> tuple[str, str]:
    """The ledger idempotency keys of the sender's debit and the recipient's credit for one gift."""
    base = f"gift:{sender.platform}:{sender.user_id}:{idempotency_key}"
    return f"{base}:sent", f"{base}:received"


async def give(
    db: Database, ledger: Ledger, sender: UserRef, recipient: UserRef, tokens: int, idempotency_key: str
) -> GiftOutcome:
    """Move `tokens` from sender to recipient in one transaction, exactly once per (sender, idempotency_key).

    ServiceError for a gift to oneself or across platforms, an amount outside 1..MAX_GIFT_TOKENS, a missing or too-long
    key, or a sender who cannot afford it; a replay changes nothing and answers applied=False.
    """
    if sender.key == recipient.key:
        raise ServiceError("bad_gift", _("you cannot gift tokens to yourself: name someone else"))
    if sender.platform != recipient.platform:
        raise ServiceError("bad_gift", _("gifts go to someone on the same platform"))
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= MAX_GIFT_TOKENS:
        raise ServiceError(
            "bad_amount", _("gift a whole number of tokens from 1 to {max}", max=number(MAX_GIFT_TOKENS))
        )
    if not isinstance(idempotency_key, str) or not idempotency_key or len(idempotency_key) > MAX_KEY_CHARS:
        raise ServiceError("bad_gift", "a gift needs an idempotency key of 1 to 200 characters")
    sent_key, received_key = gift_keys(sender, idempotency_key)
    async with db.transaction() as tx:
        await ledger.lock_accounts(tx, sender, recipient)  # one order across gifts: no deadlock on PostgreSQL
        debit = await ledger.debit(
            tx,
            sender,
            pulls=0,
            pull_price=0,
            tokens=tokens,
            kind="gift_sent",
            idempotency_key=sent_key,
            job_id=None,  # type: ignore[arg-type]
            reason=f"gift to {recipient.label}",
        )
        if debit.replayed:
            recipient_account = await ledger.account_in(tx, recipient)
            return GiftOutcome(False, debit.balance_after, recipient_account.balance)
        credit = await ledger.credit(
            tx,
            recipient,
            tokens,
            kind="gift_received",
            idempotency_key=received_key,
            reason=f"gift from {sender.label}",
        )
    return GiftOutcome(True, debit.balance_after, credit.balance_after)
