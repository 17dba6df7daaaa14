"""The real worker process in production mode, taking jobs from the emulator the way it does on RunPod.

`python -m gpu_worker` with RunPod's worker environment: the SDK runs our fitness
check, long-polls for jobs, posts progress and results, and stops a job RunPod
cancels. The bot-side client drives it through the public API, as in production.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.grinding import GrindingError, GrindProgress, OrderPolicy
from bot.grinding.runpod_backend import RunpodGrindingClient
from gpu_worker.job import GrindJob
from gpu_worker.verify import verify_hit

from .runpod_emulator import RunpodEmulator
from .test_runpod_client import make

REPO = Path(__file__).resolve().parents[2]
PULL = GrindJob.parse({"v": 1, "format": "did", "pattern": "ab", "budget": 2000, "top": 2})
SLOW = GrindJob.parse({"v": 1, "format": "btc", "pattern": "^zzzzzz", "budget": 10**12, "time_limit_s": 20})
LIMIT_S = 60


@pytest.fixture
async def live(
    emulator: RunpodEmulator, tmp_path: Path
) -> AsyncIterator[tuple[RunpodEmulator, RunpodGrindingClient, Path]]:
    emulator.remote_worker = True
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNPOD_")}
    env.update(emulator.worker_env())
    env.update(
        VANIKEYS_WORKER_BACKEND="python",
        VANIKEYS_CPU_CORES="1",  # its slow job grinds until cancelled: on every core it only took the suite's CPU
        RUNPOD_SKIP_AUTO_SYSTEM_CHECKS="true",  # as in the image
        RUNPOD_SKIP_GPU_CHECK="true",  # no GPU on a test machine
        RUNPOD_LOG_LEVEL="DEBUG",  # the worker must override it: DEBUG would log the keys
        PYTHONUNBUFFERED="1",
    )
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gpu_worker", cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    client = make(emulator, order_policy=OrderPolicy(chunk_seconds=0.05, initial_rate=20_000, max_parallel=2))
    try:
        yield emulator, client, log_path
    finally:
        await client.close()
        if process.returncode is None:
            process.terminate()  # the SDK's SIGTERM handler drains and exits
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def test_a_pull_runs_on_the_real_worker_and_verifies(
    live: tuple[RunpodEmulator, RunpodGrindingClient, Path],
) -> None:
    emulator, client, log_path = live
    job_id = await client.submit(PULL)
    result = await asyncio.wait_for(client.wait(job_id, PULL), LIMIT_S)
    assert result.checked == 2000 and result.backend == "python"
    for hit in result.results:
        verify_hit(PULL, hit)
    log = log_path.read_text()
    assert "fitness check passed on python" in log  # ran as the SDK's fitness check, before any job
    assert log.index("fitness check passed") < log.index(job_id)
    assert not {hit.secret for hit in result.results} & set(re.findall(r"[0-9a-f]{64}", log))
    assert emulator.pings >= 1


async def test_progress_then_a_cancel_stops_the_job_and_the_worker_goes_on(
    live: tuple[RunpodEmulator, RunpodGrindingClient, Path],
) -> None:
    _emulator, client, log_path = live
    seen: list[GrindProgress] = []
    job_id = await client.submit(SLOW)
    waiter = asyncio.create_task(client.wait(job_id, SLOW, seen.append))
    for _ in range(400):
        await asyncio.sleep(0.05)
        if seen:
            break
    assert seen and seen[-1].checked > 0 and seen[-1].rate > 0  # the SDK's progress_update, as RunPod shows it
    await client.cancel(job_id)
    with pytest.raises(GrindingError) as caught:
        await asyncio.wait_for(waiter, LIMIT_S)
    assert caught.value.code == "cancelled"
    for _ in range(100):  # the worker hears the stop signal and drops the job
        if "Job stopped." in log_path.read_text():
            break
        await asyncio.sleep(0.05)
    assert "Job stopped." in log_path.read_text()
    next_id = await client.submit(PULL)  # the same worker takes the next job
    assert (await asyncio.wait_for(client.wait(next_id, PULL), LIMIT_S)).checked == 2000


async def test_an_order_and_faults_through_the_real_worker(
    live: tuple[RunpodEmulator, RunpodGrindingClient, Path],
) -> None:
    emulator, client, _ = live
    emulator.job_faults.append("wrong_key")  # a lying first chunk costs one failure, not the order
    template = GrindJob.parse({"v": 1, "format": "trx", "pattern": "ab", "budget": 1, "stop": "full"})
    outcome = await asyncio.wait_for(client.run_order(template, 26.0), LIMIT_S)
    verify_hit(template, outcome.hit)
    bad = GrindJob.parse({**PULL.model_dump(mode="json")})
    raw = bad.model_dump(mode="json") | {"pattern": "0O", "case": "exact"}
    job_id = await client.api.run(raw, client.policy_for(bad))
    with pytest.raises(GrindingError) as caught:
        await asyncio.wait_for(client.wait(job_id, bad), LIMIT_S)
    assert caught.value.code == "rejected" and "bad_pattern: " in caught.value.message
