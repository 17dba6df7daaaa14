"""The runpod backend against the emulator running the real handler: every status and fault ends cleanly."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator

import pytest

from bot.grinding import GrindingError, GrindProgress, make_client
from bot.grinding.model import Billed
from bot.grinding.runpod_backend import RunpodGrindingClient
from gpu_worker.handler import FIRST_STEP_KEYS
from gpu_worker.job import GrindJob
from gpu_worker.sealing import ResultSealer
from gpu_worker.verify import verify_hit

from .conftest import API_KEY, ENDPOINT_ID, FAST_RETRY
from .runpod_emulator import RunpodEmulator

PULL = GrindJob.parse({"v": 1, "format": "btc", "pattern": "ab", "budget": 400, "top": 2})
SLOW = GrindJob.parse({"v": 1, "format": "btc", "pattern": "^zzzzzz", "budget": 10**12, "time_limit_s": 2.5})
# Progress is reported after each grind step and shows while the next one runs: a job of many steps' keys,
# however slow the machine (SLOW's 2.5 s limit ended inside its first step at load 20: no progress to see), and a
# time limit that only bounds the test on a very slow one (its first step, 4,096 keys, took 5 s at load 20). Two
# steps' keys were too few on a quiet box: with the pool warm from an earlier test both steps ended within the
# emulator's 50 ms progress interval, so no progress was ever reported (4 of 5 runs of the pair, -n 0).
STEPPED = GrindJob.parse(
    {"v": 1, "format": "btc", "pattern": "^zzzzzz", "budget": 16 * FIRST_STEP_KEYS, "time_limit_s": 10.0}
)
WAIT_LIMIT_S = 20  # every test ends well before this, or it is a hang


def make(emulator: RunpodEmulator, **settings: object) -> RunpodGrindingClient:
    client = make_client(
        "runpod",
        api_key=API_KEY,
        endpoint_id=ENDPOINT_ID,
        base_url=emulator.base_url,
        retry=FAST_RETRY,
        poll_interval_s=0.05,
        max_poll_interval_s=0.1,
        **settings,
    )
    assert isinstance(client, RunpodGrindingClient)
    return client


@pytest.fixture
async def client(emulator: RunpodEmulator) -> AsyncIterator[RunpodGrindingClient]:
    c = make(emulator)
    yield c
    await c.close()


@pytest.fixture
async def polling(emulator: RunpodEmulator) -> AsyncIterator[RunpodGrindingClient]:
    """Pulls through /run and /status (no /runsync wait), to watch a job's life from outside."""
    c = make(emulator)
    yield c
    await c.close()


async def test_a_pull_comes_back_verified(emulator: RunpodEmulator, client: RunpodGrindingClient) -> None:
    job_id = await client.submit(PULL)
    result = await asyncio.wait_for(client.wait(job_id, PULL), WAIT_LIMIT_S)
    assert result.checked == 400 and len(result.results) == 2
    for hit in result.results:
        verify_hit(PULL, hit)
    policy = emulator.jobs[job_id].policy
    assert policy["executionTimeout"] == round((client.pull_time_limit_s + client.execution_grace_s) * 1000)
    # ttl counts from submission: the queue limit, the run and the bot's allowed downtime all fit in it.
    assert (
        policy["ttl"]
        == round((client.pull_queue_limit_s + client.downtime_allowance_s) * 1000) + policy["executionTimeout"]
    )
    assert emulator.count("/runsync") == 0 and emulator.count("/run") == 1  # never /runsync: the id comes first


async def test_runpod_holds_only_sealed_secrets(emulator: RunpodEmulator, client: RunpodGrindingClient) -> None:
    job_id = await client.submit(PULL)
    result = await asyncio.wait_for(client.wait(job_id, PULL), WAIT_LIMIT_S)
    stored = emulator.jobs[job_id]
    assert stored.input["seal_to"] == client.sealer.public_hex
    at_runpod = json.dumps(stored.output)
    for hit in result.results:
        assert len(hit.secret) == 64 and hit.secret not in at_runpod
    assert all(hit["secret"].startswith("sealed:") for hit in stored.output["results"])


async def test_queue_delay_and_progress_are_followed(emulator: RunpodEmulator, polling: RunpodGrindingClient) -> None:
    emulator.queue_delay_s = 0.4
    seen: list[GrindProgress] = []
    job_id = await polling.submit(STEPPED)
    result = await asyncio.wait_for(polling.wait(job_id, STEPPED, seen.append), WAIT_LIMIT_S)
    assert emulator.count("/status/") >= 5  # polled through IN_QUEUE and IN_PROGRESS
    assert seen and all(p.checked > 0 and p.rate > 0 for p in seen)
    assert seen[-1].checked <= result.checked


async def test_async_progress_callbacks_and_failing_ones_are_fine(
    emulator: RunpodEmulator, polling: RunpodGrindingClient
) -> None:
    calls: list[int] = []

    async def shaky(progress: GrindProgress) -> None:
        calls.append(progress.checked)
        raise RuntimeError("the chat message could not be edited")

    job_id = await polling.submit(STEPPED)
    result = await asyncio.wait_for(polling.wait(job_id, STEPPED, shaky), WAIT_LIMIT_S)
    assert calls and result.checked > 0


async def test_429s_and_5xx_while_polling_are_ridden_out(
    emulator: RunpodEmulator, polling: RunpodGrindingClient
) -> None:
    emulator.request_faults.extend([429, 429])  # a 429 is a refusal: the job was not taken, so it is retried
    job_id = await polling.submit(PULL)
    assert len(emulator.jobs) == 1
    emulator.request_faults.extend([500, 429, 502] * 3)  # more than one call's retries: the wait rides on
    result = await asyncio.wait_for(polling.wait(job_id, PULL), WAIT_LIMIT_S)
    assert result.checked == 400


async def test_a_5xx_after_runpod_took_the_job_is_not_resubmitted(emulator: RunpodEmulator) -> None:
    client = make(emulator)
    try:
        emulator.accept_then_fail.append(502)
        with pytest.raises(GrindingError) as caught:
            await client.submit(PULL)
    finally:
        await client.close()
    assert caught.value.code == "unavailable"
    assert emulator.count("/run") == 1  # one request, never a blind second job
    assert len(emulator.jobs) <= 1


async def test_the_job_id_comes_back_before_the_job_ends_and_a_lost_answer_is_collected(
    emulator: RunpodEmulator, client: RunpodGrindingClient
) -> None:
    """Before: a pull went out with /runsync, whose id came back only with the result, so a dropped answer
    (an outage, a hung request) lost a finished job. Now submit returns the id while the job is still queued,
    and a dropped answer to the poll that carries the result is simply asked again."""
    emulator.queue_delay_s = 0.3
    job_id = await client.submit(PULL)
    assert emulator.jobs[job_id].status == "IN_QUEUE"  # the caller stores this id before anything waits
    emulator.drop_answers = 2
    result = await asyncio.wait_for(client.wait(job_id, PULL), WAIT_LIMIT_S)
    assert result.checked == 400 and emulator.drop_answers == 0 and len(emulator.jobs) == 1


async def test_a_slow_submit_answer_is_waited_for_not_resubmitted(
    emulator: RunpodEmulator, client: RunpodGrindingClient
) -> None:
    emulator.hold_run_answer.append(0.5)  # the job exists at once; its id arrives half a second later
    job_id = await client.submit(PULL)
    result = await asyncio.wait_for(client.wait(job_id, PULL), WAIT_LIMIT_S)
    assert result.checked == 400 and len(emulator.jobs) == 1


async def test_billed_seconds_are_runpods_own(emulator: RunpodEmulator, client: RunpodGrindingClient) -> None:
    job_id = await client.submit(SLOW)
    await asyncio.sleep(0.6)
    await client.cancel(job_id)
    billed = await client.billed(job_id)
    ledger = {line["id"]: line["billed_s"] for line in emulator.billing()}
    assert billed is not None and not billed.estimated
    assert billed.gpu_s == pytest.approx(ledger[job_id], abs=0.001) and billed.gpu_s > 0.3
    emulator.queue_delay_s = 60
    queued = await client.submit(SLOW)
    await client.cancel(queued)  # never reached a worker: RunPod bills nothing, and says so without a figure
    assert await client.billed(queued) == Billed(gpu_s=0.0)


async def test_runpod_unreachable_is_unavailable(emulator: RunpodEmulator, client: RunpodGrindingClient) -> None:
    emulator.request_faults.extend([503] * FAST_RETRY.attempts)
    with pytest.raises(GrindingError) as caught:
        await client.submit(PULL)
    assert caught.value.code == "unavailable" and caught.value.retryable


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("timed_out", "timed_out"),
        ("fail", "failed"),
        ("self_check", "worker_fault"),
        ("garbage", "worker_fault"),
        ("wrong_key", "worker_fault"),
        ("unsealed", "worker_fault"),
    ],
)
async def test_each_fault_is_a_clean_failure(
    emulator: RunpodEmulator, client: RunpodGrindingClient, fault: str, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.job_faults.append(fault)  # type: ignore[arg-type]
    job_id = await client.submit(PULL)
    with caplog.at_level(logging.INFO), pytest.raises(GrindingError) as caught:
        await asyncio.wait_for(client.wait(job_id, PULL), WAIT_LIMIT_S)
    assert caught.value.code == code
    if code == "worker_fault":
        assert "worker fault" in caplog.text and job_id in caplog.text
    if fault == "wrong_key":
        for hit in emulator.jobs[job_id].output["results"]:
            assert hit["secret"] not in caplog.text


async def test_a_bad_job_is_rejected_not_retried(emulator: RunpodEmulator, client: RunpodGrindingClient) -> None:
    raw = PULL.model_dump(mode="json")
    raw["pattern"] = "0O"
    raw["case"] = "exact"
    job_id = await emulator_submit_raw(client, raw)
    with pytest.raises(GrindingError) as caught:
        await asyncio.wait_for(client.wait(job_id, PULL), WAIT_LIMIT_S)
    assert caught.value.code == "rejected" and not caught.value.retryable
    assert "bad_pattern" in caught.value.message


async def emulator_submit_raw(client: RunpodGrindingClient, raw: dict[str, object]) -> str:
    """A job that would not validate here (a stale or hostile bot): the worker must refuse it itself."""
    return await client.api.run(raw, client.policy_for(PULL))


async def test_cancel_while_running_is_reported_as_cancelled(
    emulator: RunpodEmulator, polling: RunpodGrindingClient
) -> None:
    job_id = await polling.submit(SLOW)
    waiter = asyncio.create_task(polling.wait(job_id, SLOW))
    await asyncio.sleep(0.2)
    await polling.cancel(job_id)
    with pytest.raises(GrindingError) as caught:
        await asyncio.wait_for(waiter, WAIT_LIMIT_S)
    assert caught.value.code == "cancelled"
    assert emulator.jobs[job_id].status == "CANCELLED"
    await polling.cancel(job_id)  # a second cancel of a finished job is harmless
    await polling.cancel("never-existed")


async def test_an_expired_result_is_lost(emulator: RunpodEmulator, polling: RunpodGrindingClient) -> None:
    emulator.result_retention_s = 0.0
    job_id = await polling.submit(PULL)
    with pytest.raises(GrindingError) as caught:
        await asyncio.wait_for(polling.wait(job_id, PULL), WAIT_LIMIT_S)
    assert caught.value.code == "lost"


async def test_a_job_stuck_past_its_ttl_is_cancelled_and_times_out(emulator: RunpodEmulator) -> None:
    emulator.job_faults.append("hang")
    skew = [0.0]
    # /run, not /runsync: a hung job would hold a /runsync open for its whole wait before polling starts
    client = make(emulator, clock=lambda: time.monotonic() + skew[0])
    try:
        job_id = await client.submit(SLOW)
        waiter = asyncio.create_task(client.wait(job_id, SLOW))
        await asyncio.sleep(0.2)
        skew[0] = client.policy_for(SLOW).ttl_s + 120  # the job has now outlived anything RunPod allows
        with pytest.raises(GrindingError) as caught:
            await asyncio.wait_for(waiter, WAIT_LIMIT_S)
    finally:
        await client.close()
    assert caught.value.code == "timed_out"
    assert job_id in emulator.cancelled


async def test_a_restarted_bot_resumes_waiting_on_its_job(emulator: RunpodEmulator) -> None:
    vault_key = secrets.token_bytes(32)  # the sealing key comes from the vault key, which outlives the process
    first = make(emulator, sealer=ResultSealer.from_vault_key(vault_key))
    job_id = await first.submit(SLOW)
    await first.close()  # the bot goes down; the job keeps running at RunPod
    second = make(emulator, sealer=ResultSealer.from_vault_key(vault_key))
    try:
        result = await asyncio.wait_for(second.wait(job_id, SLOW), WAIT_LIMIT_S)
    finally:
        await second.close()
    assert result.checked > 0


async def test_health_reports_queue_and_workers(emulator: RunpodEmulator, client: RunpodGrindingClient) -> None:
    emulator.queue_delay_s = 60
    await client.submit(PULL)
    health = await client.health()
    assert health.jobs_in_queue == 1 and health.workers_idle == 1
    emulator.request_faults.extend([503] * FAST_RETRY.attempts)
    with pytest.raises(GrindingError) as caught:
        await client.health()
    assert caught.value.code == "unavailable"
