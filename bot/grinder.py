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

from bot.config import Settings
from bot.grinding import GrindingClient, GrindingError, OrderPolicy, make_client
from bot.grinding.model import GrindProgress
from bot.grinding.progress import notify
from bot.grinding.tasks import RunningJob, TaskGrindingClient
from gpu_worker.errors import VanikeysError
from gpu_worker.grinders.base import FIRST_STEP_KEYS, Backend, GrindSession, get_backend, timed_step
from gpu_worker.job import GrindResult
from gpu_worker.sealing import ResultSealer

IN_PROCESS_BACKENDS = ("python", "native", "cuda")


def order_policy(settings: Settings) -> OrderPolicy:
    return OrderPolicy(
        initial_rate=settings.keys_per_s,
        chunk_seconds=60.0 if settings.on_gpu else 5.0,
        max_parallel=4 if settings.effective_backend == "runpod" else 1,
        max_expected_multiple=settings.order_attempt_factor,
    )


def make_grinder(settings: Settings, vault_key: bytes) -> GrindingClient:
    """vault_key: RunPod results come back sealed to a key pair derived from it (gpu_worker/sealing.py)."""
    backend = settings.effective_backend
    policy = order_policy(settings)
    if backend == "runpod":
        return make_client("runpod", api_key=settings.runpod_api_key, endpoint_id=settings.runpod_endpoint_id,
                           order_policy=policy, sealer=ResultSealer.from_vault_key(vault_key))
    if backend == "local":
        return make_client("local", order_policy=policy)
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
            session = GrindSession(running.job, engine)
            size = FIRST_STEP_KEYS
            while not session.done:
                size = await asyncio.to_thread(timed_step, session, size, target_s=self.step_target_s)
                progress = session.progress()
                for listener in list(running.listeners):
                    await notify(listener, GrindProgress(progress.checked, progress.keys_per_s,
                                                         progress.best_score))
            return await asyncio.to_thread(session.result)
        except VanikeysError as exc:
            raise GrindingError("rejected" if exc.code.startswith("bad_") else "failed", exc.message) from None
