"""Which grinding client the service uses, and an in-process one for the engine's own backends.

The service talks to grinding only through bot.grinding's `GrindingClient`
protocol (submit / wait / run_order). VANIKEYS_BACKEND picks the client:

- runpod (or auto with RunPod configured): bot.grinding's RunPod client.
- local (or auto without RunPod): bot.grinding's local client (a child process per job).
- python / native / cuda: `InProcessGrindingClient` below: gpu_worker's
  GrindSession stepped in a grinding thread of this process. No process start
  per job, so a small CPU pull answers at once (the console, tests).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from bot.config import Settings
from bot.fair_share import REMOTE_SLOTS
from bot.grinding import GrindingClient, GrindingError, OrderPolicy, make_client
from bot.grinding.model import GrindProgress
from bot.grinding.progress import notify
from bot.grinding.providers import remote_providers
from bot.grinding.router import RouterGrindingClient
from bot.grinding.tasks import RunningJob, TaskGrindingClient
from bot.settings import load_settings
from gpu_worker.errors import VanikeysError
from gpu_worker.grinders.base import FIRST_STEP_KEYS, Backend, GrindSession, get_backend, timed_step
from gpu_worker.job import GrindJob, GrindResult

IN_PROCESS_BACKENDS = ("python", "native", "cuda")
# Each backend scans one step at a time (native and cuda launch behind a lock; python spreads one
# step over all its processes), so one grind thread keeps the engine busy; a second lets the next
# job's step start the moment one ends. Jobs beyond that wait their turn for the engine anyway.
GRIND_THREADS = 2
# A pull holds its share through its database steps (charge, job states) as well as its grind, so a few per
# grinder keep the grinders fed while pulls commit; a front end then waits behind at most that many of another's
# pulls in the grinders' own first-come queue, never its whole backlog. (The load benchmark could not tell 2, 8,
# 32 and 64 on 2 cores apart from the shared machine's noise: BENCHMARKS.md.)
SLOTS_PER_GRINDER = 4
T = TypeVar("T")


def order_policy(settings: Settings) -> OrderPolicy:
    """The order policy for these settings: rate, chunk length and parallelism fitted to the backend."""
    return OrderPolicy(
        initial_rate=settings.keys_per_s,
        chunk_seconds=60.0 if settings.on_gpu else 5.0,
        max_parallel=4 if settings.effective_backend == "runpod" else local_parallel(settings),
        max_expected_multiple=settings.order_attempt_factor,
    )


def local_workers(environ: Mapping[str, str] | None = None) -> int:
    """VANIKEYS_LOCAL_WORKERS: grinds the local backend runs at once (default: one per core)."""
    configured = load_settings(environ, dotenv_path=".env" if environ is None else None).local_workers
    return configured if configured is not None else os.cpu_count() or 1


def local_parallel(settings: Settings) -> int:
    """Grinds at once for the local backend: one per core, but one in all when it grinds on a local GPU."""
    if settings.effective_backend != "local":
        return 1
    if load_settings().local_workers is None and settings.on_gpu:
        return 1  # several processes would only queue on the one device
    return local_workers()


def grind_slots(settings: Settings) -> int:
    """Pulls in flight at once, the capacity front ends share (bot/fair_share.py): VANIKEYS_GRIND_SLOTS, else
    SLOTS_PER_GRINDER times what the grinder runs side by side (the local workers, the in-process grind threads),
    or REMOTE_SLOTS remotely."""
    if settings.grind_slots is not None:
        return settings.grind_slots
    backend = settings.effective_backend
    if backend == "runpod":
        return REMOTE_SLOTS
    return SLOTS_PER_GRINDER * (local_parallel(settings) if backend == "local" else GRIND_THREADS)


def make_grinder(settings: Settings, vault_key: bytes) -> GrindingClient:
    """vault_key: RunPod results come back sealed to a key pair derived from it (gpu_worker/sealing.py)."""
    backend = settings.effective_backend
    policy = order_policy(settings)
    if backend == "runpod":
        return RouterGrindingClient(remote_providers(settings, vault_key, policy), order_policy=policy)
    if backend == "local":
        return make_client("local", order_policy=policy, max_parallel=local_parallel(settings))
    return InProcessGrindingClient(backend, order_policy=policy)


class InProcessGrindingClient(TaskGrindingClient):
    """GrindingClient over a gpu_worker backend in this process (jobs die with the process: "lost").

    Grind steps run on an executor of their own (`grind_threads` threads), never on asyncio's
    default one: a step holds its thread for up to a second, and the default executor also
    renders cards and computes odds, which must not queue behind grinds.
    """

    def __init__(
        self,
        grinder: str = "python",
        *,
        order_policy: OrderPolicy = OrderPolicy(),
        step_target_s: float = 0.25,
        grind_threads: int = GRIND_THREADS,
    ) -> None:
        super().__init__(order_policy)
        if grind_threads < 1:
            raise ValueError("grind_threads must be at least 1")
        self.backend = grinder
        self.step_target_s = step_target_s
        self._engine: Backend | None = None
        self._engine_lock = asyncio.Lock()
        self.grind_threads = grind_threads
        self._grind_pool: ThreadPoolExecutor | None = None  # made on first use, shut down by close()

    async def _in_grind_pool(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._grind_pool is None:
            self._grind_pool = ThreadPoolExecutor(max_workers=self.grind_threads, thread_name_prefix="vanikeys-grind")
        return await asyncio.get_running_loop().run_in_executor(self._grind_pool, partial(call, *args, **kwargs))

    async def _backend(self) -> Backend:
        async with self._engine_lock:
            if self._engine is None:
                self._engine = await self._in_grind_pool(get_backend, self.backend)
            return self._engine

    async def close(self) -> None:
        """Cancel the running jobs, close the engine and shut its thread pool down."""
        await super().close()
        if self._engine is not None:
            await self._in_grind_pool(self._engine.close)
            self._engine = None
        if self._grind_pool is not None:
            self._grind_pool.shutdown(wait=False)
            self._grind_pool = None

    async def _run(self, running: RunningJob) -> GrindResult:
        try:
            job = running.job
            if job.pulls == 1:
                return await self._grind_one(running, job, 0)
            return await self._grind_pulls(running, job)
        except VanikeysError as exc:
            raise GrindingError("rejected" if exc.code.startswith("bad_") else "failed", exc.message) from None

    async def _grind_pulls(self, running: RunningJob, job: GrindJob) -> GrindResult:
        """A job of several pulls as gpu_worker/handler.py grinds one: in turn, within the one time limit.

        Only whole pulls count (each `budget` keys and one best hit); a pull the time limit cut
        short is left out, so the bot refunds it rather than hand out a short pull.
        """
        started = time.monotonic()
        results: list[GrindResult] = []
        for _ in range(job.pulls):
            left_s = job.time_limit_s - (time.monotonic() - started)
            if left_s <= 0:
                break
            one = job.model_copy(update={"pulls": 1, "time_limit_s": left_s})
            result = await self._grind_one(running, one, sum(r.checked for r in results))
            if result.checked < job.budget or not result.results:
                break
            results.append(result)
        engine = await self._backend()
        return GrindResult(
            checked=sum(r.checked for r in results),
            elapsed_s=round(time.monotonic() - started, 6),
            backend=engine.name,
            device=engine.device,
            results=[r.results[0] for r in results],
        )

    async def _grind_one(self, running: RunningJob, job: GrindJob, done_before: int) -> GrindResult:
        engine = await self._backend()
        session = GrindSession(job, engine)
        size = FIRST_STEP_KEYS
        while not session.done:
            size = await self._in_grind_pool(timed_step, session, size, target_s=self.step_target_s)
            progress = session.progress()
            for listener in list(running.listeners):
                await notify(
                    listener,
                    GrindProgress(
                        done_before + progress.checked, progress.keys_per_s, progress.best_score, progress.elapsed_s
                    ),
                )
        return await self._in_grind_pool(session.result)
