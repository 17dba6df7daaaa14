"""Any sequence of purchases, spending and clawbacks keeps the ledger's rules (hypothesis)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings, strategies as st

from bot.answers import ServiceError, UserRef
from bot.ledger import Ledger
from bot.storage import open_database

USER = UserRef("test", "prop")
operations = st.lists(
    st.tuples(st.sampled_from(["buy", "spend", "clawback", "replay"]), st.integers(min_value=1, max_value=40)),
    min_size=1,
    max_size=25,
)


async def play(ops: list[tuple[str, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = await open_database(Path(tmp) / "p.db")
        ledger = Ledger(db, free_pulls_per_day=0, daily_spend_limit=10**9)
        balance = debt = 0
        keys: list[str] = []
        for n, (op, amount) in enumerate(ops):
            key = f"{op}-{n}"
            if op == "replay" and keys:
                before = await ledger.account(USER)
                outcome = await ledger.apply(USER, 5, kind="grant", idempotency_key=keys[amount % len(keys)])
                assert not outcome.applied and await ledger.account(USER) == before
                continue
            if op in ("buy", "replay"):
                await ledger.apply(USER, amount, kind="payment_purchase", idempotency_key=key)
                settle = min(amount, debt)
                debt, balance = debt - settle, balance + amount - settle
            elif op == "clawback":
                await ledger.apply(USER, -amount, kind="payment_refund", idempotency_key=key)
                taken = min(amount, balance)
                balance, debt = balance - taken, debt + amount - taken
            else:
                try:
                    async with db.transaction() as tx:
                        await ledger.debit(
                            tx, USER, pulls=amount, pull_price=1, kind="pull", idempotency_key=key, job_id=None
                        )
                    assert debt == 0 and amount <= balance
                    balance -= amount
                except ServiceError as err:
                    assert err.code == ("account_frozen" if debt else "insufficient_tokens")
                    key = ""  # nothing was recorded under it
            if key:
                keys.append(key)
            account = await ledger.account(USER)
            assert (account.balance, account.debt) == (balance, debt)
            assert account.balance >= 0 and account.debt >= 0
        assert await ledger.audit() == []
        await db.close()


@settings(max_examples=40, deadline=None)
@given(operations)
def test_ledger_model(ops: list[tuple[str, int]]) -> None:
    asyncio.run(play(ops))
