"""Long-running upkeep of the job runner: no per-job memory kept after a job settles; old settled jobs pruned on
the operator's schedule without touching an unsettled job or an undelivered secret."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.app import create_app
from bot.config import Settings
from bot.jobs import JobLocks

from .conftest import ALICE, RecordingFrontEnd


@pytest.fixture
def settings(store_settings: Settings) -> Settings:
    return store_settings


async def test_job_locks_are_released_once_nobody_holds_or_waits() -> None:
    locks = JobLocks()
    order: list[str] = []

    async def hold(name: str) -> None:
        async with locks.hold("job-1"):
            order.append(name)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(hold(str(n)) for n in range(5)))
    assert sorted(order) == [str(n) for n in range(5)] and len(locks) == 0


async def test_no_lock_is_kept_per_job_after_many_pulls(settings: Settings) -> None:
    async with create_app(settings) as app:
        app.service.register_frontend(RecordingFrontEnd())
        await app.service.grant(ALICE, 40)
        await asyncio.gather(*(app.service.pull(ALICE, None, "ab", allow_easy=True) for _ in range(40)))
        await app.jobs.wait_idle()
        assert len(app.jobs._locks) == 0 and app.jobs._tasks == {}


async def test_prune_drops_old_settled_history_and_nothing_unsettled_or_undelivered(settings: Settings) -> None:
    async with create_app(settings.replace(job_retention_days=30)) as app:
        fe = RecordingFrontEnd()
        app.service.register_frontend(fe)
        await app.service.grant(ALICE, 10)
        delivered = await app.service.pull(ALICE, None, "ab", allow_easy=True)
        app.service.register_frontend(RecordingFrontEnd(dms_open=False))
        kept = await app.service.pull(
            ALICE, None, "cd", allow_easy=True
        )  # found, undelivered: its secret waits in the vault
        async with app.db.transaction() as tx:  # a refunded job and an unsettled one
            now = time.time()
            for job_id, status in (("old-refunded", "refunded"), ("old-running", "running")):
                await tx.execute(
                    "INSERT INTO jobs (job_id, kind, platform, user_id, format, pattern, case_mode, fuzzy, count, "
                    "budget, price, free_pulls, status, created_at, updated_at) "
                    "VALUES (?, 'pull', 'test', 'alice', 'btc', 'ab', 'insensitive', 0, 1, 60, 1, 0, ?, ?, ?)",
                    (job_id, status, now, now),
                )
                await tx.execute("INSERT INTO job_steps (job_id, status, at) VALUES (?, ?, ?)", (job_id, status, now))
        await app.vault.purge(now=time.time() + 10**7)  # the delivered secret's grace period is over
        assert await app.jobs.prune(now=time.time() + 10**5) == 0  # nothing is 30 days old yet
        later = time.time() + 31 * 86400
        removed = await app.jobs.prune(now=later)
        assert removed > 0
        statuses = {r["job_id"]: r["status"] for r in await app.db.fetchall("SELECT job_id, status FROM jobs")}
        assert "old-refunded" not in statuses
        assert statuses["old-running"] == "running" and statuses[kept.job_id] == "found"
        assert statuses[delivered.job_id] == "delivered"  # its row stays: leaderboards and history read it
        steps = {r["job_id"] for r in await app.db.fetchall("SELECT DISTINCT job_id FROM job_steps")}
        assert delivered.job_id not in steps and kept.job_id in steps and "old-running" in steps
        assert len(await app.vault.open_job(kept.job_id)) == 1
        assert await app.ledger.audit() == []
        assert await app.jobs.prune(now=later) == 0


async def test_retention_zero_keeps_everything(settings: Settings) -> None:
    async with create_app(settings.replace(job_retention_days=0)) as app:
        app.service.register_frontend(RecordingFrontEnd())
        await app.service.grant(ALICE, 1)
        await app.service.pull(ALICE, None, "ab", allow_easy=True)
        assert await app.jobs.prune(now=time.time() + 10**9) == 0
