"""The `local` backend: the engine on this machine, one worker process per job, so the event loop never blocks.

A job's process grinds with the same paced loop as the RunPod handler and
sends progress and its result back through a pipe (memory only, never a
file). Cancelling terminates the process. Job ids name a process of this bot
run only: after a restart `wait` reports them lost and the caller grinds
again (no key from them was ever handed out).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

from gpu_worker.job import GrindJob, GrindResult

from .model import GrindingError, GrindProgress, OrderPolicy
from .progress import notify
from .tasks import RunningJob, TaskGrindingClient

log = logging.getLogger(__name__)

DEFAULT_ORDER_POLICY = OrderPolicy(chunk_seconds=10.0, initial_rate=2e4, max_parallel=1)
_TERMINATE_GRACE_S = 5.0


def _grind_in_child(job_json: str, grinder: str, progress_interval_s: float, conn: Connection) -> None:
    """Runs in the worker process: grind, then send ("result", json) or ("error", code, message)."""
    import asyncio as child_asyncio
    import signal

    from gpu_worker.errors import VanikeysError
    from gpu_worker.grinders import get_backend
    from gpu_worker.handler import grind_paced

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)  # unwinds through the finally below, so the backend's own processes are shut down

    signal.signal(signal.SIGTERM, stop)
    backend = None
    try:
        job = GrindJob.parse(job_json)
        backend = get_backend(grinder)  # type: ignore[arg-type]
        result = child_asyncio.run(
            grind_paced(
                job,
                backend,
                report=lambda progress: conn.send(("progress", progress)),
                progress_interval_s=progress_interval_s,
            )
        )
        conn.send(("result", result.model_dump_json()))
    except VanikeysError as err:
        conn.send(("error", err.code, err.message))
    except Exception as exc:  # the text is not sent: it could quote key material
        conn.send(("error", "failed", f"the local grinder failed ({type(exc).__name__})"))
    finally:
        if backend is not None:
            backend.close()
        conn.close()


class LocalGrindingClient(TaskGrindingClient):
    backend = "local"

    def __init__(
        self,
        grinder: str = "auto",
        *,
        max_parallel: int = 1,
        progress_interval_s: float = 2.0,
        order_policy: OrderPolicy = DEFAULT_ORDER_POLICY,
    ) -> None:
        super().__init__(order_policy)
        self.grinder = grinder
        self.progress_interval_s = progress_interval_s
        self._slots = asyncio.Semaphore(max_parallel)
        self._context = multiprocessing.get_context("spawn")  # no fork of a process with an event loop and threads

    async def _run(self, entry: RunningJob) -> GrindResult:
        async with self._slots:
            reader, writer = self._context.Pipe(duplex=False)
            process = self._context.Process(
                target=_grind_in_child,
                args=(entry.job.model_dump_json(), self.grinder, self.progress_interval_s, writer),
                # Not a daemon: a backend may run its own worker processes. Every exit path stops it (_stop).
                daemon=False,
            )
            process.start()
            writer.close()  # the child holds the only write end: its exit ends our reads
            try:
                return await self._collect(entry, reader)
            finally:
                reader.close()
                await _stop(process)

    async def _collect(self, entry: RunningJob, reader: Connection) -> GrindResult:
        messages = _pipe_messages(reader)
        try:
            while True:
                message = await messages.get()
                if message is None:
                    raise GrindingError("failed", "the local grinder process exited without an answer")
                kind = message[0]
                if kind == "progress":
                    progress = _progress(message[1])
                    for listener in list(entry.listeners):
                        await notify(listener, progress)
                elif kind == "result":
                    return GrindResult.model_validate_json(message[1])
                else:
                    raise _child_failure(message[1], message[2])
        finally:
            asyncio.get_running_loop().remove_reader(reader.fileno())


def _child_failure(code: str, message: str) -> GrindingError:
    if code.startswith("bad_") or code == "too_hard":
        return GrindingError("rejected", f"the local grinder refused the job: {message}")
    if code == "verification_failed":
        log.error("worker fault: the local %s", message)
        return GrindingError("worker_fault", message)
    return GrindingError("failed", message)


def _pipe_messages(reader: Connection) -> asyncio.Queue[Any]:
    """Feed the pipe's messages into a queue from the event loop's reader callback (no thread); None at EOF."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def on_readable() -> None:
        try:
            while reader.poll():
                queue.put_nowait(reader.recv())
        except (EOFError, OSError):
            loop.remove_reader(reader.fileno())
            queue.put_nowait(None)

    loop.add_reader(reader.fileno(), on_readable)
    return queue


def _progress(data: dict[str, Any]) -> GrindProgress:
    best = data.get("best_score")
    return GrindProgress(checked=int(data["checked"]), rate=float(data["rate"]), best_score=best if isinstance(best, int) else None)


async def _stop(process: Any) -> None:
    if process.is_alive():
        process.terminate()
    await asyncio.to_thread(process.join, _TERMINATE_GRACE_S)
    if process.is_alive():
        process.kill()
        await asyncio.to_thread(process.join, _TERMINATE_GRACE_S)
