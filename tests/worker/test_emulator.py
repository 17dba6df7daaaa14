"""The RunPod emulator's own behaviour (the fake must behave like RunPod's documented API), and the
self-hosted worker's API: auth, tag idempotency, health, expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gpu_worker.selfhosted import ENDPOINT_ID, SelfHostedWorker

from .conftest import API_KEY, ENDPOINT_ID as EMULATED_ENDPOINT
from .runpod_emulator import RunpodEmulator

JOB = {"v": 1, "format": "btc", "pattern": "ab", "budget": 200}
POLICY = {"executionTimeout": 60_000, "ttl": 600_000}


async def call(session: aiohttp.ClientSession, method: str, url: str, token: str, body: Any = None) -> tuple[int, Any]:
    async with session.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json(content_type=None)


async def test_ttl_counts_from_submission_and_removes_a_finished_result(emulator: RunpodEmulator) -> None:
    root = f"{emulator.base_url}/{EMULATED_ENDPOINT}"
    async with aiohttp.ClientSession() as session:
        status, body = await call(
            session, "POST", f"{root}/runsync?wait=5000", API_KEY, {"input": JOB, "policy": POLICY}
        )
        assert status == 200 and body["status"] == "COMPLETED"
        job = emulator.jobs[body["id"]]
        job.finished_at -= 59  # a /runsync result lives one minute ...
        assert (await call(session, "GET", f"{root}/status/{job.id}", API_KEY))[0] == 200
        job.finished_at -= 2  # ... and no longer
        assert (await call(session, "GET", f"{root}/status/{job.id}", API_KEY))[0] == 404
        status, body = await call(session, "POST", f"{root}/run", API_KEY, {"input": JOB, "policy": POLICY})
        for _ in range(200):
            if emulator.jobs[body["id"]].status == "COMPLETED":
                break
            await asyncio.sleep(0.02)
        emulator.jobs[body["id"]].submitted -= 600  # the ttl ends 600 s after submission, 30 min retention or not
        assert (await call(session, "GET", f"{root}/status/{body['id']}", API_KEY))[0] == 404


async def test_outages_and_a_5xx_after_the_job_was_taken(emulator: RunpodEmulator) -> None:
    root = f"{emulator.base_url}/{EMULATED_ENDPOINT}"
    async with aiohttp.ClientSession() as session:
        emulator.accept_then_fail.append(500)
        status, _ = await call(session, "POST", f"{root}/run", API_KEY, {"input": JOB, "policy": POLICY})
        assert status == 500 and len(emulator.jobs) == 1  # the job exists although the answer was an error
        emulator.outage(5.0)
        assert (await call(session, "GET", f"{root}/health", API_KEY))[0] == 503
        emulator.outage(5.0, "drop")
        with pytest.raises(aiohttp.ClientConnectionError):
            await call(session, "GET", f"{root}/health", API_KEY)
        emulator.outage(0)
        assert (await call(session, "GET", f"{root}/health", API_KEY))[0] == 200


@pytest.fixture
async def box(python_backend: Any) -> AsyncIterator[str]:
    worker = SelfHostedWorker(token="t" * 24, backend=python_backend, slots=1, progress_interval_s=0.05)
    server = TestServer(worker.app())
    await server.start_server()
    try:
        yield str(server.make_url(f"/v2/{ENDPOINT_ID}"))
    finally:
        await server.close()


async def test_the_selfhosted_api_wants_its_token_and_runs_a_tag_once(box: str) -> None:
    tagged = {**JOB, "tag": "job0123456789ab-0001"}
    async with aiohttp.ClientSession() as session:
        assert (await call(session, "GET", f"{box}/health", "wrong-token"))[0] == 401
        status, first = await call(session, "POST", f"{box}/run", "t" * 24, {"input": tagged, "policy": POLICY})
        assert status == 200
        status, again = await call(
            session, "POST", f"{box}/runsync?wait=5000", "t" * 24, {"input": tagged, "policy": POLICY}
        )
        assert again["id"] == first["id"] and again["status"] == "COMPLETED"  # the resubmission found the job
        assert again["output"]["checked"] == 200
        status, other = await call(session, "POST", f"{box}/run", "t" * 24, {"input": JOB, "policy": POLICY})
        assert other["id"] != first["id"]
        status, health = await call(session, "GET", f"{box}/health", "t" * 24)
        assert status == 200 and health["workers"]["idle"] + health["workers"]["running"] == 1
        status, cancelled = await call(session, "POST", f"{box}/cancel/{other['id']}", "t" * 24)
        assert cancelled["status"] in ("CANCELLED", "COMPLETED")
        assert (await call(session, "GET", f"{box}/status/nope", "t" * 24))[0] == 404
        status, _bad = await call(session, "POST", f"{box}/run", "t" * 24, {"input": JOB, "policy": {"ttl": 5}})
        assert status == 400


def test_the_selfhosted_worker_refuses_a_missing_or_short_token(python_backend: Any) -> None:
    with pytest.raises(ValueError, match="VANIKEYS_SELFHOSTED_TOKEN"):
        SelfHostedWorker(token="short", backend=python_backend).app()
