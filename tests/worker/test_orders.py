"""Order fan-out over the emulator: first verified match wins, failures are bounded, state resumes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from bot.grinding import GrindingError, OrderPolicy, OrderProgress, OrderState, RunningChunk
from bot.grinding.orders import chunk_job
from bot.grinding.runpod_backend import RunpodGrindingClient
from gpu_worker.job import GrindJob
from gpu_worker.verify import verify_hit

from .runpod_emulator import RunpodEmulator
from .test_runpod_client import make

EASY = GrindJob.parse({"v": 1, "format": "btc", "pattern": "ab", "budget": 1, "stop": "full"})  # about 1 in 26 keys
HARD = GrindJob.parse({"v": 1, "format": "btc", "pattern": "^zzzzzz", "budget": 1, "stop": "full"})
ANY = GrindJob.parse({"v": 1, "format": "btc", "pattern": "^?", "budget": 1, "stop": "full"})  # every key matches
TINY_CHUNKS = OrderPolicy(chunk_seconds=0.002, initial_rate=5000, max_parallel=3, max_failures=2)
ORDER_LIMIT_S = 30


@pytest.fixture
async def client(emulator: RunpodEmulator) -> AsyncIterator[RunpodGrindingClient]:
    c = make(emulator, order_policy=TINY_CHUNKS)
    yield c
    await c.close()


async def test_first_full_match_wins_and_the_rest_are_cancelled(
    emulator: RunpodEmulator, client: RunpodGrindingClient
) -> None:
    emulator.job_faults.append("hang")  # the first chunk never finishes: it must be cancelled, not waited for
    reports: list[OrderProgress] = []
    outcome = await asyncio.wait_for(client.run_order(EASY, 26.0, reports.append), ORDER_LIMIT_S)
    assert outcome.hit.full
    verify_hit(EASY, outcome.hit)
    hung = next(job_id for job_id, job in emulator.jobs.items() if job.fault == "hang")
    assert hung in emulator.cancelled and emulator.jobs[hung].status == "CANCELLED"
    assert not any(job.status in ("IN_QUEUE", "IN_PROGRESS") for job in emulator.jobs.values())
    finished = [job for job in emulator.jobs.values() if job.status == "COMPLETED"]
    # A chunk may finish at RunPod in the instant the winner is collected; only collected chunks are counted.
    assert 0 < outcome.checked <= sum(job.output["checked"] for job in finished)
    assert 0 < outcome.chunks <= len(finished)
    assert reports[-1].state.running == () and reports[-1].state.checked == outcome.checked
    for job in emulator.jobs.values():
        assert job.input["stop"] == "full" and job.input["top"] == 1 and job.input["budget"] >= 1


async def test_failed_chunks_are_retried_within_the_limit(emulator: RunpodEmulator) -> None:
    emulator.job_faults.extend(["fail", "wrong_key"])
    client = make(emulator, order_policy=replace(TINY_CHUNKS, max_parallel=1))  # one chunk at a time: faults land first
    reports: list[OrderProgress] = []
    try:
        outcome = await asyncio.wait_for(client.run_order(ANY, 1.0, reports.append), ORDER_LIMIT_S)
    finally:
        await client.close()
    verify_hit(ANY, outcome.hit)
    assert reports[-1].state.failures == 2 and emulator.count("/run") == 3


async def test_too_many_failed_chunks_fail_the_order(emulator: RunpodEmulator, client: RunpodGrindingClient) -> None:
    emulator.job_faults.extend(["fail", "timed_out", "garbage", "fail", "fail"])
    emulator.max_concurrent = 1
    with pytest.raises(GrindingError) as caught:
        await asyncio.wait_for(client.run_order(ANY, 1.0), ORDER_LIMIT_S)
    assert caught.value.code == "order_failed"
    assert "3 chunks failed" in caught.value.message and "refunded" in caught.value.message
    assert 3 <= emulator.count("/run") <= TINY_CHUNKS.max_failures + TINY_CHUNKS.max_parallel


async def test_a_chunk_the_worker_refuses_fails_the_order_at_once(
    emulator: RunpodEmulator, client: RunpodGrindingClient
) -> None:
    emulator.job_faults.append("reject")
    emulator.max_concurrent = 1
    with pytest.raises(GrindingError) as caught:
        await asyncio.wait_for(client.run_order(HARD, 1e9), ORDER_LIMIT_S)
    assert caught.value.code == "order_failed" and "bad_pattern" in caught.value.message
    assert not any(job.status in ("IN_QUEUE", "IN_PROGRESS") for job in emulator.jobs.values())


async def test_an_order_gives_up_after_its_key_cap(emulator: RunpodEmulator) -> None:
    policy = OrderPolicy(chunk_seconds=0.002, initial_rate=5000, max_parallel=2, max_expected_multiple=2)
    client = make(emulator, order_policy=policy)
    try:
        with pytest.raises(GrindingError) as caught:
            await asyncio.wait_for(client.run_order(HARD, 40.0), ORDER_LIMIT_S)
    finally:
        await client.close()
    assert caught.value.code == "order_failed" and "no exact match in 80 keys" in caught.value.message
    assert sum(job.input["budget"] for job in emulator.jobs.values()) == 80


async def test_a_shutdown_leaves_chunks_running_and_a_new_client_reattaches(emulator: RunpodEmulator) -> None:
    policy = OrderPolicy(chunk_seconds=5.0, initial_rate=1e9, max_parallel=2)
    client = make(emulator, order_policy=policy)
    reports: list[OrderProgress] = []
    order = asyncio.create_task(client.run_order(HARD, 1e12, reports.append))
    try:
        for _ in range(200):
            await asyncio.sleep(0.05)
            if any(r.checked > 0 and r.chunks_running == 2 for r in reports):
                break
        order.cancel()  # what the bot's shutdown does to its order tasks
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(order, ORDER_LIMIT_S)
    finally:
        await client.close()
    # Progress was reported from both chunks; a rate (and an ETA) only once measured between two reports of a
    # chunk, never from a chunk's start-up sample (tests/worker/test_order_eta.py), so not asserted here.
    assert any(r.checked > 0 and r.chunks_running == 2 for r in reports), "no progress was reported"
    assert all(r.eta_s is None or r.eta_s > 0 for r in reports)
    assert len(emulator.jobs) == 2 and emulator.cancelled == []
    assert all(job.status == "IN_PROGRESS" for job in emulator.jobs.values())
    saved = OrderState.from_json(reports[-1].state.to_json())
    assert {c.job_id for c in saved.running} == set(emulator.jobs)

    # The next start: a new client (same sealing key) picks the order up from the saved state.
    again = make(emulator, order_policy=replace(policy, max_failures=0), sealer=client.sealer)
    order = asyncio.create_task(again.run_order(HARD, 1e12, reports.append, resume_state=saved))
    try:
        for _ in range(200):
            await asyncio.sleep(0.05)
            if emulator.count("/status/") >= 6:
                break
        for job_id in list(emulator.jobs):
            emulator.finish_now(job_id, "FAILED", error="worker_error: boom")  # max_failures=0: the order gives up ...
        with pytest.raises(GrindingError, match="refunded"):
            await asyncio.wait_for(order, ORDER_LIMIT_S)
    finally:
        await again.close()
    # ... and every chunk it abandons is cancelled: none is left running.
    assert not any(job.status in ("IN_QUEUE", "IN_PROGRESS") for job in emulator.jobs.values())


async def test_an_order_resumes_from_its_persisted_state(
    emulator: RunpodEmulator, client: RunpodGrindingClient
) -> None:
    running = chunk_job(ANY, 10, 1.0)
    job_id = await client.submit(running)  # submitted before the "crash"
    saved = OrderState(
        checked=1000,
        elapsed_s=2.0,
        chunks_done=5,
        failures=1,
        running=(RunningChunk(job_id=job_id, budget=10, time_limit_s=1.0), RunningChunk("expired-long-ago", 10, 1.0)),
    )
    restored = OrderState.from_json(saved.to_json())
    assert restored == saved
    reports: list[OrderProgress] = []
    outcome = await asyncio.wait_for(client.run_order(ANY, 1.0, reports.append, resume_state=restored), ORDER_LIMIT_S)
    verify_hit(ANY, outcome.hit)
    assert outcome.checked >= 1001 and outcome.chunks >= 6
    assert reports[-1].state.failures == 1  # the lost chunk was replaced without counting against the order


async def test_expected_keys_must_be_sane(client: RunpodGrindingClient) -> None:
    with pytest.raises(ValueError, match="expected_keys"):
        await client.run_order(EASY, float("inf"))
