"""Which grinding client the service uses, and an in-process one for the engine's own backends.

The service talks to grinding only through bot.grinding's `GrindingClient`
protocol (submit / wait / run_order). VANIKEYS_BACKEND picks the client:

- runpod (or auto with RunPod configured): bot.grinding's RunPod client.
- local (or auto without RunPod): bot.grinding's local client (a child process per job).
- python / native / cuda: `InProcessGrindingClient` below: gpu_worker's
  GrindSession stepped in a worker thread of this process. No process start
  per job, so a small CPU pull answers at once (the console, tests).
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Mapping

from bot.config import Settings
from bot.grinding import GrindingClient, GrindingError, OrderPolicy, make_client
from bot.grinding.model import GrindProgress
from bot.grinding.progress import notify
from bot.grinding.tasks import RunningJob, TaskGrindingClient
from gpu_worker.errors import VanikeysError
from gpu_worker.numbers import parse_int
from gpu_worker.grinders.base import FIRST_STEP_KEYS, Backend, GrindSession, get_backend, timed_step
from gpu_worker.job import GrindResult
from gpu_worker.sealing import ResultSealer

IN_PROCESS_BACKENDS = ("python", "native", "cuda")


def order_policy(settings: Settings) -> OrderPolicy:
    return OrderPolicy(
        initial_rate=settings.keys_per_s,
        chunk_seconds=60.0 if settings.on_gpu else 5.0,
        max_parallel=4 if settings.effective_backend == "runpod" else local_workers() if settings.effective_backend == "local" else 1,
        max_expected_multiple=settings.order_attempt_factor,
    )


# Remote-provider timings (seconds), from the environment: name -> (client setting, default).
REMOTE_TIMINGS = {
    "VANIKEYS_PULL_TIME_LIMIT_S": ("pull_time_limit_s", 60.0),  # a pull's GPU time limit (RunPod executionTimeout)
    "VANIKEYS_PULL_QUEUE_LIMIT_S": ("pull_queue_limit_s", 120.0),  # a pull queued longer is cancelled and refunded
    "VANIKEYS_RUNSYNC_WAIT_S": ("runsync_wait_s", 30.0),  # /runsync hold for pulls; 0 = /run and poll
    "VANIKEYS_DOWNTIME_ALLOWANCE_S": ("downtime_allowance_s", 1800.0),  # bot downtime a job's ttl survives
    "VANIKEYS_POLL_INTERVAL_S": ("poll_interval_s", 1.0),
}


def remote_timings(environ: Mapping[str, str] | None = None) -> dict[str, float]:
    environ = os.environ if environ is None else environ
    timings: dict[str, float] = {}
    for var, (name, default) in REMOTE_TIMINGS.items():
        text = environ.get(var, "").strip()
        try:
            value = float(text) if text else default
        except ValueError:
            value = -1.0
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"{var}={text!r} is not a number of seconds: set it like {default:g}")
        timings[name] = value
    return timings


def local_workers(environ: Mapping[str, str] | None = None) -> int:
    """VANIKEYS_LOCAL_WORKERS: grinds the local backend runs at once (default: one per core)."""
    environ = os.environ if environ is None else environ
    text = environ.get("VANIKEYS_LOCAL_WORKERS", "").strip()
    if not text:
        return os.cpu_count() or 1
    return parse_int(text, what="VANIKEYS_LOCAL_WORKERS", minimum=1, maximum=1024)


def make_grinder(settings: Settings, vault_key: bytes) -> GrindingClient:
    """vault_key: RunPod results come back sealed to a key pair derived from it (gpu_worker/sealing.py)."""
    backend = settings.effective_backend
    policy = order_policy(settings)
    if backend == "runpod":
        base_url = os.environ.get("RUNPOD_BASE_URL", "").strip()  # a RunPod-compatible API (tests, a proxy)
        return make_client("runpod", api_key=settings.runpod_api_key, endpoint_id=settings.runpod_endpoint_id,
                           order_policy=policy, sealer=ResultSealer.from_vault_key(vault_key),
                           **({"base_url": base_url} if base_url else {}), **remote_timings())
    if backend == "local":
        return make_client("local", order_policy=policy, max_parallel=local_workers())
    return InProcessGrindingClient(backend, order_policy=policy)


class InProcessGrindingClient(TaskGrindingClient):
    """GrindingClient over a gpu_worker backend in this process (jobs die with the process: "lost")."""

    def __init__(self, grinder: str = "python", *, order_policy: OrderPolicy = OrderPolicy(),
                 step_target_s: float = 0.25) -> None:
        super().__init__(order_policy)
        self.backend = grinder
        self.step_target_s = step_target_s
        self._engine: Backend | None = None
        self._engine_lock = asyncio.Lock()

    async def _backend(self) -> Backend:
        async with self._engine_lock:
            if self._engine is None:
                self._engine = await asyncio.to_thread(get_backend, self.backend)
            return self._engine

    async def close(self) -> None:
        await super().close()
        if self._engine is not None:
            await asyncio.to_thread(self._engine.close)
            self._engine = None

    async def _run(self, running: RunningJob) -> GrindResult:
        try:
            engine = await self._backend()
            job = running.job
            one = job.model_copy(update={"pulls": 1})
            results: list[GrindResult] = []
            for _ in range(job.pulls):  # a job of several pulls: one session each, one best hit each
                session = GrindSession(one, engine)
                size = FIRST_STEP_KEYS
                done_before = sum(r.checked for r in results)
                while not session.done:
                    size = await asyncio.to_thread(timed_step, session, size, target_s=self.step_target_s)
                    progress = session.progress()
                    for listener in list(running.listeners):
                        await notify(listener, GrindProgress(done_before + progress.checked, progress.keys_per_s,
                                                             progress.best_score))
                results.append(await asyncio.to_thread(session.result))
            if job.pulls == 1:
                return results[0]
            return results[0].model_copy(update={
                "checked": sum(r.checked for r in results), "elapsed_s": sum(r.elapsed_s for r in results),
                "results": [r.results[0] for r in results if r.results]})
        except VanikeysError as exc:
            raise GrindingError("rejected" if exc.code.startswith("bad_") else "failed", exc.message) from None
