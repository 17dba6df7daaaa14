"""RunPod's HTTP API client against the loopback emulator: auth, policy, retries, typed errors."""

from __future__ import annotations

import time

import pytest

from bot.grinding.runpod_api import (
    ExecutionPolicy,
    RetryPolicy,
    RunpodApi,
    RunpodApiError,
    RunpodJobNotFound,
    RunpodStatus,
)

from .conftest import API_KEY, ENDPOINT_ID, FAST_RETRY
from .runpod_emulator import RunpodEmulator

POLICY = ExecutionPolicy(execution_timeout_s=30, ttl_s=120)
BAD_JOB = {"v": 1, "format": "nope", "pattern": "a", "budget": 10}


async def test_run_sends_input_policy_and_bearer_key(emulator: RunpodEmulator, api: RunpodApi) -> None:
    emulator.queue_delay_s = 60  # keep it queued: only the submission matters here
    job_id = await api.run(BAD_JOB, POLICY)
    job = emulator.jobs[job_id]
    assert job.input == BAD_JOB
    assert job.policy == {"executionTimeout": 30_000, "ttl": 120_000}
    status = await api.status(job_id)
    assert status.status is RunpodStatus.IN_QUEUE and not status.status.finished


async def test_wrong_api_key_is_a_clear_error_without_retries(emulator: RunpodEmulator) -> None:
    api = RunpodApi("wrong", ENDPOINT_ID, base_url=emulator.base_url, retry=FAST_RETRY)
    try:
        with pytest.raises(RunpodApiError, match="RUNPOD_API_KEY") as caught:
            await api.health()
    finally:
        await api.close()
    assert caught.value.http_status == 401
    assert emulator.count("/health") == 1
    assert "wrong" not in repr(api)


async def test_429_and_5xx_are_retried_until_an_answer(emulator: RunpodEmulator, api: RunpodApi) -> None:
    emulator.request_faults.extend([429, 502, 503])
    health = await api.health()
    assert health.workers_idle == 1
    assert emulator.count("/health") == 4


async def test_retry_after_header_is_honoured(emulator: RunpodEmulator) -> None:
    emulator.request_faults.append(429)
    emulator.retry_after = "0.3"
    api = RunpodApi(API_KEY, ENDPOINT_ID, base_url=emulator.base_url, retry=RetryPolicy(attempts=3, base_delay_s=0.001))
    began = time.monotonic()
    try:
        await api.health()
    finally:
        await api.close()
    assert time.monotonic() - began >= 0.3


async def test_a_body_that_is_not_json_is_retried(emulator: RunpodEmulator, api: RunpodApi) -> None:
    emulator.request_faults.append(200)  # an HTML page from a proxy
    assert (await api.health()).jobs_in_queue == 0
    assert emulator.count("/health") == 2


async def test_persistent_5xx_gives_up_after_the_retry_budget(emulator: RunpodEmulator, api: RunpodApi) -> None:
    emulator.request_faults.extend([500] * 10)
    with pytest.raises(RunpodApiError, match="after 4 attempts: HTTP 500"):
        await api.health()
    assert emulator.count("/health") == FAST_RETRY.attempts


async def test_unreachable_endpoint_fails_cleanly() -> None:
    from .conftest import free_port

    api = RunpodApi(API_KEY, ENDPOINT_ID, base_url=f"http://127.0.0.1:{free_port()}/v2", retry=FAST_RETRY)
    try:
        with pytest.raises(RunpodApiError, match="failed after 4 attempts"):
            await api.health()
    finally:
        await api.close()


async def test_unknown_or_expired_job_is_not_found(api: RunpodApi) -> None:
    with pytest.raises(RunpodJobNotFound):
        await api.status("never-submitted")
    with pytest.raises(RunpodJobNotFound):
        await api.cancel("never-submitted")


async def test_cancel_moves_a_queued_job_to_cancelled(emulator: RunpodEmulator, api: RunpodApi) -> None:
    emulator.queue_delay_s = 60
    job_id = await api.run(BAD_JOB, POLICY)
    await api.cancel(job_id)
    assert (await api.status(job_id)).status is RunpodStatus.CANCELLED


async def test_an_unknown_status_is_an_error_not_a_guess(emulator: RunpodEmulator, api: RunpodApi) -> None:
    emulator.queue_delay_s = 60
    job_id = await api.run(BAD_JOB, POLICY)
    emulator.jobs[job_id].status = "EXPLODED"
    with pytest.raises(RunpodApiError, match="unknown status"):
        await api.status(job_id)


async def test_a_wrong_endpoint_id_says_which_setting_to_fix(emulator: RunpodEmulator) -> None:
    api = RunpodApi(API_KEY, "no-such-endpoint", base_url=emulator.base_url, retry=FAST_RETRY)
    try:
        with pytest.raises(RunpodApiError, match="RUNPOD_ENDPOINT_ID"):
            await api.run(BAD_JOB, POLICY)
    finally:
        await api.close()


def test_execution_policy_respects_runpod_bounds() -> None:
    with pytest.raises(ValueError, match="execution timeout"):
        ExecutionPolicy(execution_timeout_s=1, ttl_s=60)
    with pytest.raises(ValueError, match="ttl"):
        ExecutionPolicy(execution_timeout_s=30, ttl_s=5)
    with pytest.raises(ValueError, match="queue time"):
        ExecutionPolicy(execution_timeout_s=300, ttl_s=60)


def test_configuration_errors_say_what_to_set() -> None:
    with pytest.raises(ValueError, match="RUNPOD_API_KEY"):
        RunpodApi("", ENDPOINT_ID)
    with pytest.raises(ValueError, match="RUNPOD_ENDPOINT_ID"):
        RunpodApi(API_KEY, "")
