"""Service overhead per pull (everything but grinding) and ledger debits per second, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/service_overhead.py [--store both|sqlite|postgresql] [--pulls 200] [--debits 2000]
                                                    [--pg-url postgresql://…] [--pulls-only]

A pull here runs the whole service path on a real store: the charge and job
row, every persisted state transition, re-verification of the hit with
coincurve, sealing it in the vault, private delivery through a front end and
the answer with its rarity. Grinding is replaced by a client that hands back
a real result ground once beforehand (it still verifies), so what is timed is
the service's own cost. It also counts the store's statements and
transactions per pull (on PostgreSQL each statement is a round trip, and each
transaction two more: BEGIN and COMMIT).

Debits: each is one transaction (lock the account, check the idempotency key,
today's usage and the balance, conditional update, ledger row), from 1, 10 and
1,000 concurrent callers in one process (each caller its own account), then
from 3 processes at once with 10 callers each. SQLite runs in WAL mode with
synchronous=FULL; PostgreSQL (without --pg-url, a server this script starts
in a temp dir with fsync on, as in production) on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.answers import KeyDelivery, OrderView, UserRef  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.grinding import OrderOutcome  # noqa: E402
from bot.ledger import Ledger  # noqa: E402
from bot.storage import Database, open_database  # noqa: E402
from gpu_worker.grinders.base import grind  # noqa: E402
from gpu_worker.job import GrindJob, GrindResult  # noqa: E402

BUDGET = 600
COUNTS: Counter[str] = Counter()  # statements and transactions the stores ran (count_statements)


def count_statements() -> None:
    """Count every statement and transaction both stores run, from here on (this process only)."""
    from bot.storage import postgres, sqlite

    def counted(original, what: str):
        if what == "transactions":

            def transaction(self):
                COUNTS[what] += 1
                return original(self)

            return transaction

        async def statement(self, *args, **kwargs):
            COUNTS[what] += 1
            return await original(self, *args, **kwargs)

        return statement

    for cls in (sqlite.SqliteDatabase, sqlite.SqliteTx, postgres.PostgresDatabase, postgres.PostgresTx):
        for name in ("execute", "fetchone", "fetchall", "transaction"):
            if name in cls.__dict__:
                setattr(
                    cls, name, counted(cls.__dict__[name], "transactions" if name == "transaction" else "statements")
                )


class PreGroundClient:
    """A GrindingClient whose jobs return results ground in advance for the same job, each once
    (the service refuses a key it has handed out before)."""

    backend = "pre-ground"

    def __init__(self, results: list[GrindResult]) -> None:
        self.results = list(results)

    async def submit(self, job: GrindJob) -> str:
        return "pre-" + secrets.token_hex(6)

    async def wait(self, job_id: str, job: GrindJob, on_progress=None) -> GrindResult:
        return self.results.pop()

    async def cancel(self, job_id: str) -> None:
        return None

    async def run_order(self, *args, **kwargs) -> OrderOutcome:
        raise NotImplementedError("pulls only")

    async def close(self) -> None:
        return None


class SilentFrontEnd:
    platform = "bench"

    async def deliver_private(self, user: UserRef, delivery: KeyDelivery) -> bool:
        return True

    async def order_progress(self, order: OrderView) -> None: ...

    async def order_finished(self, order: OrderView) -> None: ...

    async def notify(self, user: UserRef, text: str) -> None: ...


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def store_settings(target: str | Path) -> Settings:
    where = {"db_url": target} if isinstance(target, str) else {"db_path": target}
    return Settings(
        vault_key=secrets.token_hex(32),
        backend="python",
        pull_budget_cpu=BUDGET,
        pull_price=1,
        free_pulls_per_day=0,
        daily_spend_limit=10**12,
        **where,
    )  # type: ignore[arg-type]


async def pull_overhead(target: str | Path, pulls: int) -> list[float]:
    job = GrindJob.parse({"v": 1, "format": "btc", "pattern": "ab", "budget": BUDGET})
    results = [grind(job, "python") for _ in range(pulls + 10)]
    timings: list[float] = []
    async with create_app(store_settings(target), grinder=PreGroundClient(results)) as app:
        app.service.register_frontend(SilentFrontEnd())
        user = UserRef("bench", "u1")
        await app.service.grant(user, pulls + 10)
        for _ in range(10):  # warm up caches and the odds model
            await app.service.pull(user, None, "ab", allow_easy=True)
        await app.service.wait_idle()
        COUNTS.clear()
        for _ in range(pulls):
            began = time.perf_counter()
            await app.service.pull(user, None, "ab", allow_easy=True)
            timings.append(time.perf_counter() - began)
        await app.service.wait_idle()
    return timings


async def debits(db: Database, total: int, callers: int, tag: str) -> float:
    """`total` debits from `callers` concurrent callers, each on its own account; returns debits per second."""
    ledger = Ledger(db, free_pulls_per_day=0, daily_spend_limit=10**12)
    users = [UserRef("bench", f"{tag}-{c}") for c in range(callers)]
    per_caller = max(1, total // callers)
    for user in users:
        await ledger.apply(user, per_caller, kind="grant", idempotency_key=f"grant-{tag}-{user.user_id}")

    async def caller(user: UserRef) -> None:
        for i in range(per_caller):
            async with db.transaction() as tx:
                await ledger.debit(
                    tx, user, pulls=1, pull_price=1, kind="pull", idempotency_key=f"d-{user.user_id}-{i}", job_id=None
                )

    began = time.perf_counter()
    await asyncio.gather(*(caller(u) for u in users))
    return per_caller * callers / (time.perf_counter() - began)


async def in_process_debits(target: str | Path, total: int) -> dict[int, float]:
    db = await open_database(target)
    try:
        rates = {callers: await debits(db, total, callers, f"p{callers}") for callers in (1, 10, 1000)}
        assert await Ledger(db, free_pulls_per_day=0, daily_spend_limit=0).audit() == []
        return rates
    finally:
        await db.close()


async def child(target: str, total: int, callers: int, tag: str, start_at: float) -> None:
    db = await open_database(target)
    try:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        began = time.time()
        rate = await debits(db, total, callers, tag)
        print(f"{total} {began} {time.time()} {rate}")
    finally:
        await db.close()


def across_processes(target: str | Path, total: int, processes: int = 3, callers: int = 10) -> float:
    """Debits per second summed over `processes` processes debiting at once (wall clock over all of them)."""
    start_at = time.time() + 3.0  # after every child has connected
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                str(target),
                "--debits",
                str(total),
                "--callers",
                str(callers),
                "--tag",
                f"x{n}",
                "--start-at",
                str(start_at),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    lines = [p.communicate(timeout=600)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    began = min(float(line[1]) for line in lines)
    ended = max(float(line[2]) for line in lines)
    return sum((total // callers) * callers for _ in lines) / (ended - began)


async def measure(name: str, target: str | Path, args: argparse.Namespace) -> dict[str, float]:
    ms = [t * 1000 for t in await pull_overhead(target, args.pulls)]
    statements, transactions = COUNTS["statements"] / len(ms), COUNTS["transactions"] / len(ms)
    if args.pulls_only:
        print(
            f"{name}: pull overhead ({len(ms)} pulls) p50 {percentile(ms, 0.5):.1f} ms, "
            f"p99 {percentile(ms, 0.99):.1f} ms; per pull {statements:.1f} statements in "
            f"{transactions:.1f} transactions",
            flush=True,
        )
        return {
            "p50": percentile(ms, 0.5),
            "p99": percentile(ms, 0.99),
            "statements": statements,
            "transactions": transactions,
        }
    rates = await in_process_debits(target, args.debits)
    spread = across_processes(target, args.debits)
    figures = {
        "p50": percentile(ms, 0.5),
        "p99": percentile(ms, 0.99),
        "mean": statistics.fmean(ms),
        **{f"debits_{c}": r for c, r in rates.items()},
        "debits_3proc": spread,
    }
    print(
        f"{name}: pull overhead ({len(ms)} pulls) p50 {figures['p50']:.1f} ms, p99 {figures['p99']:.1f} ms; "
        f"debits/s: 1 caller {rates[1]:,.0f}, 10 callers {rates[10]:,.0f}, 1000 callers {rates[1000]:,.0f}, "
        f"3 processes x 10 callers {spread:,.0f}",
        flush=True,
    )
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("both", "sqlite", "postgresql"), default="both")
    parser.add_argument("--pulls", type=int, default=200)
    parser.add_argument("--debits", type=int, default=2000)
    parser.add_argument("--pg-url", default=None, help="an empty PostgreSQL database (default: start one here)")
    parser.add_argument("--pulls-only", action="store_true", help="the pull overhead alone, without the debits")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--callers", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="x", help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        await child(args.child, args.debits, args.callers, args.tag, args.start_at)
        return
    print(
        f"machine: {platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    count_statements()
    with tempfile.TemporaryDirectory() as tmp:
        if args.store in ("both", "sqlite"):
            await measure("sqlite (WAL, synchronous=FULL)", Path(tmp) / "bench.db", args)
        if args.store in ("both", "postgresql"):
            if args.pg_url:
                await measure("postgresql", args.pg_url, args)
            else:
                from tests.postgres import PostgresServer

                server = PostgresServer(durable=True).start()
                try:
                    await measure("postgresql (loopback, fsync on)", await server.fresh_database(), args)
                finally:
                    server.destroy()


if __name__ == "__main__":
    asyncio.run(main())
