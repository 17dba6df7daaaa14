from __future__ import annotations

import pytest

from payments.events import ApplyOutcome, LedgerInstruction

REFUND = LedgerInstruction(
    "discord",
    "1",
    -500,
    "stripe:refund:re_1",
    "refund",
    "Your payment was refunded ($3.99): 500 tokens taken back.",
    "re_1",
)
PURCHASE = LedgerInstruction(
    "telegram",
    "2",
    100,
    "stripe:checkout:cs_1",
    "purchase",
    "Payment received ($0.99): 100 tokens added to your balance. Thank you!",
    "cs_1",
)


def test_clawback_the_balance_covered_says_only_that() -> None:
    assert REFUND.notice_for(ApplyOutcome(True, -500, 0, 20)) == REFUND.notice


def test_clawback_beyond_the_balance_states_the_debt_and_the_freeze() -> None:
    assert REFUND.notice_for(ApplyOutcome(True, -90, 410, 0)) == (
        "Your payment was refunded ($3.99): 500 tokens taken back. Your balance covered 90 of them, "
        "so you owe 410 tokens: pulls and orders are paused until a top-up (/topup) settles it."
    )


def test_credit_that_settles_debt_says_what_is_left() -> None:
    assert PURCHASE.notice_for(ApplyOutcome(True, 0, 310, 0)).endswith(
        "100 of them settled what your account owed; you still owe 310."
    )
    assert PURCHASE.notice_for(ApplyOutcome(True, 60, 0, 60)).endswith(
        "40 of them settled what your account owed; pulls and orders are open again."
    )
    assert PURCHASE.notice_for(ApplyOutcome(True, 100, 0, 150)) == PURCHASE.notice


@pytest.mark.parametrize(
    "changes",
    [{"tokens": 0}, {"idempotency_key": ""}, {"user_id": ""}, {"platform": ""}, {"reverses": "stripe:refund:re_1"}],
)
def test_instructions_that_cannot_be_applied_safely_cannot_be_built(changes: dict) -> None:
    fields = {
        "platform": "discord",
        "user_id": "1",
        "tokens": 5,
        "idempotency_key": "k",
        "reason": "purchase",
        "notice": "n",
        "stripe_id": "cs_1",
        **changes,
    }
    with pytest.raises(ValueError):
        LedgerInstruction(**fields)
