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
from bot.grinding.router import Provider, RouterGrindingClient
from bot.grinding.tasks import RunningJob, TaskGrindingClient
from bot.settings import load_settings
from gpu_worker.errors import VanikeysError
from gpu_worker.grinders.base import FIRST_STEP_KEYS, Backend, GrindSession, get_backend, timed_step
from gpu_worker.job import GrindJob, GrindResult
from gpu_worker.sealing import ResultSealer

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


# Remote-provider timings (seconds): the client setting of each, read from the settings field of the same name.
REMOTE_TIMINGS = ("pull_time_limit_s", "pull_queue_limit_s", "first_poll_s", "downtime_allowance_s",
                  "poll_interval_s")


SELFHOSTED_OUTAGE_S = 10.0  # a self-hosted box silent this long loses its jobs to another provider


def remote_timings(environ: Mapping[str, str] | None = None) -> dict[str, float]:
    """The remote providers' timing settings (poll intervals, queue limits) from `environ` or the process."""
    one = load_settings(environ, dotenv_path=".env" if environ is None else None)
    return {name: getattr(one, name) for name in REMOTE_TIMINGS}


def local_workers(environ: Mapping[str, str] | None = None) -> int:
    """VANIKEYS_LOCAL_WORKERS: grinds the local backend runs at once (default: one per core)."""
    configured = load_settings(environ, dotenv_path=".env" if environ is None else None).local_workers
    return configured if configured is not None else os.cpu_count() or 1


def remote_providers(settings: Settings, vault_key: bytes, policy: OrderPolicy) -> list[Provider]:
    """The GPU providers the environment configures (docs/providers.md), for the router."""
    # Imported here: the RunPod client pulls in aiohttp, which a bot on the local grinder never needs at start.
    from bot.grinding.runpod_api import DEFAULT_BASE_URL, RetryPolicy, RunpodApi
    from bot.grinding.runpod_backend import RunpodGrindingClient

    sealer = ResultSealer.from_vault_key(vault_key)
    one = load_settings()
    timings = {name: getattr(one, name) for name in REMOTE_TIMINGS}
    providers: list[Provider] = []
    selfhosted_url = one.selfhosted_url or ""
    if selfhosted_url:
        # A box that stops answering loses its jobs to another provider within SELFHOSTED_OUTAGE_S: short
        # requests and few retries, so a dead box is noticed in seconds, not after RunPod-sized backoffs.
        client = RunpodGrindingClient(
            RunpodApi(one.selfhosted_token or "", "selfhosted",
                      base_url=selfhosted_url.rstrip("/") + "/v2", request_timeout_s=3.0,
                      retry=RetryPolicy(attempts=2, base_delay_s=0.2, max_delay_s=1.0)),
            name="selfhosted", idempotent_submit=True, outage_limit_s=SELFHOSTED_OUTAGE_S, order_policy=policy,
            sealer=sealer, **timings)
        providers.append(Provider("selfhosted", client, one.selfhosted_usd_per_s,
                                  slots=one.selfhosted_slots, preferred=True, health=client.health))
    if settings.runpod_configured:
        base_url = one.runpod_base_url or ""  # a RunPod-compatible API (tests, a proxy)
        api = RunpodApi(settings.runpod_api_key or "", settings.runpod_endpoint_id or "",
                        base_url=base_url or DEFAULT_BASE_URL)
        client = RunpodGrindingClient(api, order_policy=policy, sealer=sealer,
                                      outage_limit_s=300.0 if selfhosted_url or one.modal_app else None, **timings)
        orders_endpoint = one.runpod_orders_endpoint_id or ""
        price = one.runpod_usd_per_s
        providers.append(Provider("runpod", client, price, health=client.health,
                                  kinds=("pull",) if orders_endpoint else ("pull", "order")))
        if orders_endpoint:  # orders on an endpoint of their own, so they never starve pulls
            orders_api = RunpodApi(settings.runpod_api_key or "", orders_endpoint,
                                   base_url=base_url or DEFAULT_BASE_URL)
            orders_client = RunpodGrindingClient(orders_api, order_policy=policy, sealer=sealer, name="runpod-orders",
                                                 outage_limit_s=client.outage_limit_s, **timings)
            providers.append(Provider("runpod-orders", orders_client, price, health=orders_client.health,
                                      kinds=("order",)))
    if one.modal_app:
        from bot.grinding.modal_backend import ModalGrindingClient, SdkCalls

        providers.append(Provider("modal", ModalGrindingClient(
            SdkCalls(one.modal_app), order_policy=policy, sealer=sealer,
            pull_time_limit_s=timings["pull_time_limit_s"], pull_queue_limit_s=timings["pull_queue_limit_s"]),
            one.modal_usd_per_s, max_in_flight=one.modal_max_in_flight))
    if not providers:
        raise ValueError("VANIKEYS_BACKEND=runpod needs a provider: RUNPOD_API_KEY and RUNPOD_ENDPOINT_ID, "
                         "VANIKEYS_SELFHOSTED_URL, or VANIKEYS_MODAL_APP (docs/providers.md)")
    return providers


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

    def __init__(self, grinder: str = "python", *, order_policy: OrderPolicy = OrderPolicy(),
                 step_target_s: float = 0.25, grind_threads: int = GRIND_THREADS) -> None:
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
        return GrindResult(checked=sum(r.checked for r in results), elapsed_s=round(time.monotonic() - started, 6),
                           backend=engine.name, device=engine.device, results=[r.results[0] for r in results])

    async def _grind_one(self, running: RunningJob, job: GrindJob, done_before: int) -> GrindResult:
        engine = await self._backend()
        session = GrindSession(job, engine)
        size = FIRST_STEP_KEYS
        while not session.done:
            size = await self._in_grind_pool(timed_step, session, size, target_s=self.step_target_s)
            progress = session.progress()
            for listener in list(running.listeners):
                await notify(listener, GrindProgress(done_before + progress.checked, progress.keys_per_s,
                                                     progress.best_score, progress.elapsed_s))
        return await self._in_grind_pool(session.result)
