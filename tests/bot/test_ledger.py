"""The ledger: never below zero (coroutines and processes), exactly once per idempotency key, debt and freezes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.answers import ServiceError, UserRef
from bot.ledger import Ledger
from bot.storage import Database, IntegrityError, open_database
from bot.storage.migrations import MIGRATIONS

ALICE = UserRef("test", "alice")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def db(db_target: str | Path):
    database = await open_database(db_target)
    yield database
    await database.close()


def make_ledger(db: Database, free: int = 0, limit: int = 10_000) -> Ledger:
    return Ledger(db, free_pulls_per_day=free, daily_spend_limit=limit)


async def debit(ledger: Ledger, key: str, pulls: int = 1, price: int = 1):
    async with ledger.db.transaction() as tx:
        return await ledger.debit(
            tx, ALICE, pulls=pulls, pull_price=price, kind="pull", idempotency_key=key, job_id=key
        )


async def test_debit_takes_tokens_and_refuses_past_zero(db: Database) -> None:
    ledger = make_ledger(db)
    await ledger.apply(ALICE, 5, kind="grant", idempotency_key="g1")
    taken = await debit(ledger, "a", pulls=3)
    assert (taken.tokens, taken.balance_after) == (3, 2)
    with pytest.raises(ServiceError) as err:
        await debit(ledger, "b", pulls=3)
    assert err.value.code == "insufficient_tokens" and "balance is 2" in err.value.message
    assert (await ledger.account(ALICE)).balance == 2
    assert await ledger.audit() == []


async def test_idempotency_key_charges_once(db: Database) -> None:
    ledger = make_ledger(db)
    await ledger.apply(ALICE, 10, kind="grant", idempotency_key="g1")
    first = await debit(ledger, "same", pulls=4)
    again = await debit(ledger, "same", pulls=4)
    assert not first.replayed and again.replayed
    assert (await ledger.account(ALICE)).balance == 6
    replay = await ledger.apply(ALICE, 10, kind="grant", idempotency_key="g1")
    assert not replay.applied and (await ledger.account(ALICE)).balance == 6


async def test_concurrent_debits_never_overdraw(db: Database) -> None:
    ledger = make_ledger(db)
    await ledger.apply(ALICE, 50, kind="grant", idempotency_key="g")
    outcomes = await asyncio.gather(*(debit(ledger, f"k{i}") for i in range(200)), return_exceptions=True)
    ok = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, ServiceError)]
    assert len(ok) == 50 and len(refused) == 150
    assert all(r.code == "insufficient_tokens" for r in refused)
    assert (await ledger.account(ALICE)).balance == 0
    assert await ledger.audit() == []


async def test_free_pulls_first_then_tokens_and_daily_limit(db: Database) -> None:
    ledger = make_ledger(db, free=3, limit=25)
    await ledger.apply(ALICE, 100, kind="grant", idempotency_key="g")
    first = await debit(ledger, "a", pulls=2, price=10)
    assert (first.free_pulls, first.tokens) == (2, 0)
    second = await debit(ledger, "b", pulls=2, price=10)
    assert (second.free_pulls, second.tokens) == (1, 10)
    with pytest.raises(ServiceError) as err:
        await debit(ledger, "c", pulls=2, price=10)
    assert err.value.code == "daily_limit" and "leaves 15 today" in err.value.message
    usage = await ledger.usage(ALICE)
    assert (usage.free_pulls_used, usage.spent) == (3, 10)
    # a refund gives back the free pulls and the tokens, once
    async with db.transaction() as tx:
        await ledger.credit(tx, ALICE, 10, kind="refund", idempotency_key="refund:b", free_pulls_back=1)
        again = await ledger.credit(tx, ALICE, 10, kind="refund", idempotency_key="refund:b", free_pulls_back=1)
    assert not again.applied
    usage = await ledger.usage(ALICE)
    assert (usage.free_pulls_used, usage.spent) == (2, 0)
    assert (await ledger.account(ALICE)).balance == 100


async def test_clawback_records_debt_freezes_and_credit_settles(db: Database) -> None:
    ledger = make_ledger(db)
    await ledger.apply(ALICE, 30, kind="payment_purchase", idempotency_key="p1")
    await debit(ledger, "spend", pulls=20)
    taken = await ledger.apply(ALICE, -30, kind="payment_refund", idempotency_key="r1")
    assert (taken.tokens_moved, taken.debt_change, taken.balance_after, taken.debt_after) == (-10, 20, 0, 20)
    assert not (await ledger.apply(ALICE, -30, kind="payment_refund", idempotency_key="r1")).applied
    with pytest.raises(ServiceError) as err:
        await debit(ledger, "frozen", pulls=1, price=0)
    assert err.value.code == "account_frozen" and "owes 20" in err.value.message
    settled = await ledger.apply(ALICE, 25, kind="payment_purchase", idempotency_key="p2")
    assert (settled.tokens_moved, settled.debt_after, settled.balance_after) == (5, 0, 5)
    await debit(ledger, "thawed", pulls=1)
    assert await ledger.audit() == []


async def test_reversing_a_clawback_gives_back_exactly_what_it_took_once(db: Database) -> None:
    ledger = make_ledger(db)
    await ledger.apply(ALICE, 30, kind="payment_purchase", idempotency_key="p1")
    await debit(ledger, "spend", pulls=20)  # balance 10
    await ledger.apply(ALICE, -30, kind="payment_refund", idempotency_key="r1")  # 10 taken, 20 owed
    await ledger.apply(ALICE, 5, kind="payment_purchase", idempotency_key="p2")  # settles 5 of the debt
    back = await ledger.reverse(ALICE, "r1", kind="payment_refund_reversed", idempotency_key="rr1")
    assert back.applied and (back.balance_after, back.debt_after) == (15, 0)  # as if r1 never happened: 30-20+5
    again = await asyncio.gather(
        *(ledger.reverse(ALICE, "r1", kind="payment_refund_reversed", idempotency_key="rr1") for _ in range(10))
    )
    assert not any(credit.applied for credit in again)
    nothing = await ledger.reverse(ALICE, "no-such-clawback", kind="payment_refund_reversed", idempotency_key="rr2")
    credit_is_no_clawback = await ledger.reverse(ALICE, "p1", kind="payment_refund_reversed", idempotency_key="rr3")
    assert not nothing.applied and not credit_is_no_clawback.applied
    assert (await ledger.account(ALICE)).balance == 15
    assert await ledger.audit() == []


async def test_database_refuses_a_negative_balance_even_by_hand(db: Database) -> None:
    ledger = make_ledger(db)
    await ledger.apply(ALICE, 1, kind="grant", idempotency_key="g")
    with pytest.raises(IntegrityError):
        async with db.transaction() as tx:
            await tx.execute("UPDATE accounts SET balance = balance - 2")


async def test_migrations_are_recorded_and_rerun_safely(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    first = await open_database(path)
    await first.close()
    again = await open_database(path)
    rows = await again.fetchall("SELECT version FROM schema_version")
    assert [r["version"] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
    mode = await again.fetchone("PRAGMA journal_mode")
    assert mode[0] == "wal"
    await again.close()


DEBITS_IN_A_PROCESS = textwrap.dedent("""
    import asyncio, sys
    from bot.answers import ServiceError, UserRef
    from bot.ledger import Ledger
    from bot.storage import Database, IntegrityError, open_database

    async def main(path, tag, n):
        db = await open_database(path)
        ledger = Ledger(db, free_pulls_per_day=0, daily_spend_limit=10**9)
        user = UserRef("test", "alice")
        async def one(i):
            try:
                async with db.transaction() as tx:
                    await ledger.debit(tx, user, pulls=1, pull_price=1, kind="pull",
                                       idempotency_key=f"{tag}-{i}", job_id=None)
                return 1
            except ServiceError:
                return 0
        done = await asyncio.gather(*(one(i) for i in range(n)))
        await db.close()
        print(sum(done))

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
""")


async def test_processes_sharing_the_store_never_overdraw(db: Database, db_target: str | Path) -> None:
    ledger = make_ledger(db)
    await ledger.apply(ALICE, 50, kind="grant", idempotency_key="g")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", DEBITS_IN_A_PROCESS, str(db_target), f"p{i}", "40"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    assert sum(int(out.strip()) for out, _ in outputs) == 50
    assert (await ledger.account(ALICE)).balance == 0
    assert await ledger.audit() == []
