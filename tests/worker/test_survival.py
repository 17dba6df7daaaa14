"""Paid work through the whole bot and the RunPod emulator across restarts, kills and API outages.

Each test ends with the work delivered (or found, waiting for /keys) or refunded exactly once, and no
job left running at the emulator. Outages are scaled down: the client's own retries give up within
about 0.1 s, and the outage lasts tens of times that, so only the wait's ride-through can save the pull.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, create_app
from bot.config import Settings
from bot.grinding import OrderPolicy
from bot.grinding.router import Provider, RouterGrindingClient
from bot.grinding.runpod_backend import RunpodGrindingClient
from bot.storage import open_database
from bot.vault import parse_vault_key
from gpu_worker.sealing import ResultSealer

from ..bot.conftest import ALICE, RecordingFrontEnd, small_settings
from .conftest import API_KEY, ENDPOINT_ID
from .runpod_emulator import RunpodEmulator
from .test_runpod_client import make

REPO = Path(__file__).resolve().parents[2]
VAULT_KEY = "33" * 32
SETTLE_LIMIT_S = 60
ORDER_PATTERN = "^abcd"  # eth: about 65,000 keys, several chunks of the emulator's CPU worker
CHUNKS = OrderPolicy(chunk_seconds=0.3, initial_rate=2e4, max_parallel=2, max_failures=2)


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    return small_settings(
        tmp_path,
        **{
            "vault_key": VAULT_KEY,
            "pull_budget_cpu": 300,
            "job_lease_s": 5.0,
            "daily_spend_limit": 1_000_000,
            **overrides,
        },
    )


def client_for(emulator: RunpodEmulator, **overrides: Any) -> RunpodGrindingClient:
    sealer = ResultSealer.from_vault_key(parse_vault_key(VAULT_KEY))  # what make_grinder derives: it outlives restarts
    return make(emulator, sealer=sealer, order_policy=CHUNKS, **overrides)


@asynccontextmanager
async def bot(
    tmp_path: Path,
    emulator: RunpodEmulator,
    platform: str = "test",
    settings: dict[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[tuple[App, RecordingFrontEnd]]:
    client = RouterGrindingClient(
        [Provider("runpod", client_for(emulator, **overrides), 0.00031)], order_policy=CHUNKS
    )  # what make_grinder builds for VANIKEYS_BACKEND=runpod
    try:
        async with create_app(settings_for(tmp_path, **(settings or {})), grinder=client) as app:
            frontend = RecordingFrontEnd(platform)
            app.service.register_frontend(frontend)
            yield app, frontend
    finally:
        await client.close()


async def settled(app: App, job_id: str) -> str:
    for _ in range(SETTLE_LIMIT_S * 20):
        row = await app.db.fetchone("SELECT status FROM jobs WHERE job_id = ?", (job_id,))
        if row["status"] in ("delivered", "refunded"):
            return str(row["status"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not settle: {row['status']}")


async def ledger_kinds(app: App, job_id: str) -> list[str]:
    rows = await app.db.fetchall("SELECT kind FROM ledger WHERE job_id = ? ORDER BY id", (job_id,))
    return [r["kind"] for r in rows]


async def until(condition: Any, what: str) -> None:
    for _ in range(SETTLE_LIMIT_S * 20):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def no_job_left_running(emulator: RunpodEmulator) -> None:
    async def idle() -> bool:
        return not emulator.running()

    await until(idle, "every emulator job finished or cancelled")


async def chunks_persisted(app: App, job_id: str) -> bool:
    row = await app.db.fetchone("SELECT order_state FROM jobs WHERE job_id = ?", (job_id,))
    return bool(row["order_state"]) and '"running": [{' in row["order_state"] and bool(row["order_state"])


async def test_a_graceful_restart_mid_order_reattaches_to_its_chunks(tmp_path: Path, emulator: RunpodEmulator) -> None:
    async with bot(tmp_path, emulator) as (app, _):
        await app.service.grant(ALICE, 100_000)
        answer = await app.service.order(ALICE, None, ORDER_PATTERN, "eth")
        job_id = answer.order.order_id
        await until(lambda: chunks_persisted(app, job_id), "a chunk recorded in the order's state")
    # The deploy's SIGTERM path ran: nothing was cancelled at RunPod, the order was not refunded.
    assert emulator.cancelled == []
    async with bot(tmp_path, emulator) as (app, frontend):
        assert await settled(app, job_id) == "delivered"
        assert await ledger_kinds(app, job_id) == ["order"]
        assert len(frontend.deliveries) == 1
    await no_job_left_running(emulator)
    assert not any(
        job.status == "CANCELLED" and job_id not in emulator.cancelled for job_id, job in emulator.jobs.items()
    )


async def test_a_killed_bot_mid_order_resumes_and_delivers_once(tmp_path: Path, emulator: RunpodEmulator) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_"))
    }
    env.update(
        VANIKEYS_DB=str(tmp_path / "vanikeys.db"),
        VANIKEYS_BACKEND="runpod",
        VANIKEYS_VAULT_KEY=VAULT_KEY,
        VANIKEYS_FREE_PULLS_PER_DAY="0",
        VANIKEYS_DAILY_SPEND_LIMIT="100000",
        VANIKEYS_KEYS_PER_TOKEN="50",
        VANIKEYS_ORDER_PREMIUM="2",
        VANIKEYS_GPU_KEYS_PER_S="20000",
        RUNPOD_API_KEY=API_KEY,
        RUNPOD_ENDPOINT_ID=ENDPOINT_ID,
        RUNPOD_BASE_URL=emulator.base_url,
        VANIKEYS_POLL_INTERVAL_S="0.05",
    )
    emulator.queue_delay_s = 0.5  # the kill lands while the first chunk is queued or running
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "console",
        "--user",
        "alice",
        "--json",
        cwd=REPO,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write(f"/grant alice 100000\n/order {ORDER_PATTERN} eth\n".encode())
        await proc.stdin.drain()

        async def a_chunk_submitted() -> bool:
            return bool(emulator.jobs)

        await until(a_chunk_submitted, "the order's first chunk reached RunPod")
        db_path = tmp_path / "vanikeys.db"

        async def chunk_recorded() -> bool:
            db = await open_database(db_path)
            try:
                row = await db.fetchone("SELECT order_state FROM jobs")
            finally:
                await db.close()
            return bool(row and row["order_state"] and '"running": [{' in row["order_state"])

        await until(chunk_recorded, "the chunk's job id in the order's state")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)  # no shutdown path at all
        await proc.communicate()
    db = await open_database(db_path)
    try:
        [row] = await db.fetchall("SELECT job_id, order_state FROM jobs")
    finally:
        await db.close()
    job_id = row["job_id"]
    persisted = [c["job_id"].partition(":")[2] for c in json.loads(row["order_state"])["running"]]
    assert persisted
    async with bot(tmp_path, emulator, "console") as (app, frontend):
        assert await settled(app, job_id) == "delivered"
        assert await ledger_kinds(app, job_id) == ["order"]
        assert len(frontend.deliveries) == 1
    # The restarted bot asked RunPod about the chunks the killed one had started: it re-attached.
    assert all(("GET", f"/v2/{ENDPOINT_ID}/status/{chunk}") in emulator.requests for chunk in persisted)
    await no_job_left_running(emulator)


async def test_a_pull_rides_through_an_api_outage(tmp_path: Path, emulator: RunpodEmulator) -> None:
    emulator.queue_delay_s = 0.3
    async with bot(tmp_path, emulator) as (app, frontend):
        await app.service.grant(ALICE, 100)
        pull = asyncio.create_task(app.service.pull(ALICE, None, "ab", "btc", allow_easy=True))

        async def submitted() -> bool:
            return bool(emulator.jobs)

        await until(submitted, "the pull reached RunPod")
        emulator.outage(3.0)  # 30 times what the client's own retries sit out
        answer = await asyncio.wait_for(pull, SETTLE_LIMIT_S)
        assert answer.delivered and len(frontend.deliveries) == 1
        assert await ledger_kinds(app, answer.job_id) == ["pull"]
    assert emulator.count("/status/") > 10  # it kept asking through the outage
    await no_job_left_running(emulator)


async def test_a_ten_pull_is_one_job_and_refunds_only_what_did_not_finish(
    tmp_path: Path, emulator: RunpodEmulator
) -> None:
    async with bot(tmp_path, emulator) as (app, _frontend):
        await app.service.grant(ALICE, 100)
        whole = await app.service.pull(ALICE, None, "ab", "btc", 10, allow_easy=True)
        assert len(whole.keys) == 10 and whole.delivered
        assert len(emulator.jobs) == 1 and emulator.count("/run") == 1
        assert await ledger_kinds(app, whole.job_id) == ["pull"]

        emulator.job_faults.append("short")
        short = await app.service.pull(ALICE, None, "ab", "btc", 10, allow_easy=True)
        assert len(short.keys) == 7
        rows = await app.db.fetchall("SELECT kind, tokens FROM ledger WHERE job_id = ? ORDER BY id", (short.job_id,))
        assert [r["kind"] for r in rows] == ["pull", "refund"]
        assert rows[1]["tokens"] == -rows[0]["tokens"] * 3 // 10
        assert short.cut_short is not None and short.cut_short.ground_pct == 70
        assert whole.cut_short is None
        assert await app.ledger.audit() == []
    await no_job_left_running(emulator)


async def test_a_single_pull_cut_short_refunds_its_unground_share_like_a_ten_pull(
    tmp_path: Path, emulator: RunpodEmulator
) -> None:
    """Before: a single pull its time limit stopped at a quarter of its keys was charged in full, while a 10-pull
    in the same state refunded its unfinished pulls."""
    from bot.frontends.console import render

    async with bot(tmp_path, emulator, settings={"pull_price": 10, "free_pulls_per_day": 1}) as (app, _):
        await app.service.grant(ALICE, 100)
        emulator.job_faults.append("cut")
        free = await app.service.pull(ALICE, None, "ab", "btc", allow_easy=True)  # the day's free pull, cut short
        rows = await app.db.fetchall("SELECT kind, free_pulls FROM ledger WHERE job_id = ? ORDER BY id", (free.job_id,))
        assert [(r["kind"], r["free_pulls"]) for r in rows] == [("pull", 1), ("refund", -1)]  # given back whole
        await app.service.pull(ALICE, None, "ab", "btc", allow_easy=True)  # the free pull again, ground in full
        emulator.job_faults.append("cut")
        cut = await app.service.pull(ALICE, None, "ab", "btc", allow_easy=True)
        rows = await app.db.fetchall(
            "SELECT kind, tokens, free_pulls FROM ledger WHERE job_id = ? ORDER BY id", (cut.job_id,)
        )
        assert [r["kind"] for r in rows] == ["pull", "refund"]
        assert (rows[0]["tokens"], rows[1]["tokens"]) == (-10, 7)  # 10 tokens, three quarters unground: 7 back
        assert cut.cut_short is not None and cut.cut_short.ground_pct == 25
        assert "cut short by its time limit at 25% of its keys: the unground share was refunded" in render(cut)
        assert await app.ledger.audit() == []
    await no_job_left_running(emulator)


async def test_an_ambiguous_submit_refunds_the_pull_without_a_second_job(
    tmp_path: Path, emulator: RunpodEmulator
) -> None:
    async with bot(tmp_path, emulator) as (app, _):
        await app.service.grant(ALICE, 100)
        emulator.accept_then_fail.append(502)
        with pytest.raises(Exception, match="pull failed"):
            await app.service.pull(ALICE, None, "ab", "btc", allow_easy=True)
        [row] = await app.db.fetchall("SELECT job_id, status FROM jobs")
        assert row["status"] == "refunded"
        assert await ledger_kinds(app, row["job_id"]) == ["pull", "refund"]
    assert len(emulator.jobs) == 1 and emulator.count("/run") == 1


async def test_an_order_that_fails_after_a_restart_is_refunded_once_with_nothing_left_running(
    tmp_path: Path, emulator: RunpodEmulator
) -> None:
    async with bot(tmp_path, emulator) as (app, _):
        await app.service.grant(ALICE, 100_000)
        answer = await app.service.order(ALICE, None, "^abcde", "eth")  # about a million keys: not found soon
        job_id = answer.order.order_id
        await until(lambda: chunks_persisted(app, job_id), "a chunk recorded in the order's state")
    # While the bot is down its chunks fail, and so will every chunk it starts next.
    for chunk in emulator.running():
        emulator.finish_now(chunk, "FAILED", error="worker_error: the grinder failed (RuntimeError)")
    emulator.job_faults.extend(["fail"] * 10)
    async with bot(tmp_path, emulator) as (app, _frontend):
        assert await settled(app, job_id) == "refunded"
        assert await ledger_kinds(app, job_id) == ["order", "refund"]
        assert await app.ledger.audit() == []
    async with bot(tmp_path, emulator) as (app, _):  # a third start changes nothing
        await asyncio.sleep(0.3)
        assert await ledger_kinds(app, job_id) == ["order", "refund"]
    await no_job_left_running(emulator)
