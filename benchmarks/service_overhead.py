"""Service overhead per pull (everything but grinding) and ledger operations per second on SQLite.

    .venv/bin/python benchmarks/service_overhead.py [--pulls 300] [--ledger-ops 2000]

A pull here runs the whole service path on a real SQLite file: the charge and
job row, every persisted state transition, re-verification of the hit with
coincurve, sealing it in the vault, private delivery through a front end and
the answer with its rarity. Grinding is replaced by a client that hands back
a real result ground once beforehand (it still verifies), so what is timed is
the service's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from bot.answers import KeyDelivery, OrderView, UserRef
from bot.app import create_app
from bot.config import Settings
from bot.grinding import OrderOutcome
from gpu_worker.grinders.base import grind
from gpu_worker.job import GrindJob, GrindResult

BUDGET = 600


class PreGroundClient:
    """A GrindingClient whose every job returns one result ground in advance for the same job."""

    backend = "pre-ground"

    def __init__(self, result: GrindResult) -> None:
        self.result = result

    async def submit(self, job: GrindJob) -> str:
        return "pre-" + secrets.token_hex(6)

    async def wait(self, job_id: str, job: GrindJob, on_progress=None) -> GrindResult:  # noqa: ANN001
        return self.result

    async def cancel(self, job_id: str) -> None:
        return None

    async def run_order(self, *args, **kwargs) -> OrderOutcome:  # noqa: ANN002, ANN003
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
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def pull_overhead(workdir: Path, pulls: int) -> list[float]:
    job = GrindJob.parse({"v": 1, "format": "btc", "pattern": "ab", "budget": BUDGET})
    result = grind(job, "python")
    settings = Settings(db_path=workdir / "pulls.db", vault_key=secrets.token_hex(32), backend="python",
                        pull_budget_cpu=BUDGET, pull_price=1, free_pulls_per_day=0, daily_spend_limit=10**9)
    timings: list[float] = []
    async with create_app(settings, grinder=PreGroundClient(result)) as app:
        app.service.register_frontend(SilentFrontEnd())
        user = UserRef("bench", "u1")
        await app.service.grant(user, pulls + 10)
        for _ in range(10):  # warm up caches and the odds model
            await app.service.pull(user, None, "ab")
        for _ in range(pulls):
            began = time.perf_counter()
            await app.service.pull(user, None, "ab")
            timings.append(time.perf_counter() - began)
    return timings


async def ledger_ops(workdir: Path, ops: int) -> tuple[float, float, float]:
    settings = Settings(db_path=workdir / "ledger.db", vault_key=secrets.token_hex(32), backend="python",
                        free_pulls_per_day=0, daily_spend_limit=10**12)
    async with create_app(settings) as app:
        ledger = app.ledger
        user = UserRef("bench", "u2")
        began = time.perf_counter()
        for i in range(ops):
            await ledger.apply(user, 1, kind="grant", idempotency_key=f"c{i}")
        credits_per_s = ops / (time.perf_counter() - began)

        async def debit(i: int) -> None:
            async with app.db.transaction() as tx:
                await ledger.debit(tx, user, pulls=1, pull_price=1, kind="pull", idempotency_key=f"d{i}", job_id=None)

        began = time.perf_counter()
        for i in range(ops // 2):
            await debit(i)
        debits_per_s = (ops // 2) / (time.perf_counter() - began)
        began = time.perf_counter()
        await asyncio.gather(*(debit(ops + i) for i in range(ops // 2)))
        concurrent_per_s = (ops // 2) / (time.perf_counter() - began)
        assert await ledger.audit() == []
    return credits_per_s, debits_per_s, concurrent_per_s


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pulls", type=int, default=300)
    parser.add_argument("--ledger-ops", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        timings = await pull_overhead(Path(tmp), args.pulls)
        credits, debits, concurrent = await ledger_ops(Path(tmp), args.ledger_ops)
    ms = [t * 1000 for t in timings]
    print(f"machine: {platform.machine()} {platform.system()}, python {platform.python_version()}, SQLite WAL synchronous=FULL")
    print(f"pull overhead (no grinding), {len(ms)} pulls: p50 {percentile(ms, 0.5):.2f} ms, "
          f"p99 {percentile(ms, 0.99):.2f} ms, mean {statistics.fmean(ms):.2f} ms")
    print(f"ledger: {credits:,.0f} credits/s, {debits:,.0f} debits/s sequential, "
          f"{concurrent:,.0f} debits/s with {args.ledger_ops // 2} concurrent callers")


if __name__ == "__main__":
    asyncio.run(main())
