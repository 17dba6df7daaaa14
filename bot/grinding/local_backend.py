"""The `local` backend: the engine on this machine, in worker processes kept alive, so the event loop never blocks.

A pool of worker processes (one per core by default) each loads its engine
once, single-threaded, and grinds one job at a time with the same paced loop
as the RunPod handler; progress and results come back through a pipe (memory
only, never a file). Pulls run side by side, one per worker; a 10-pull is one
job whose ten pulls are spread over the pool. Cancelling a job ends its worker
process and a fresh one takes its place. Job ids name a job of this bot run
only: after a restart `wait` reports them lost and the caller grinds again (no
key from them was ever handed out).
"""

from __future__ import annotations

import asyncio
import logging
import os
from multiprocessing.connection import Connection
from typing import Any

from gpu_worker.helper_processes import helper_context
from gpu_worker.job import GrindJob, GrindResult

from .model import GrindingError, GrindProgress, OrderPolicy
from .progress import notify
from .tasks import RunningJob, TaskGrindingClient

log = logging.getLogger(__name__)

DEFAULT_ORDER_POLICY = OrderPolicy(chunk_seconds=10.0, initial_rate=2e4, max_parallel=1)
_TERMINATE_GRACE_S = 5.0


def _one_core_engine(grinder: str) -> Any:
    """The engine for one worker of the pool: one core each, since the pool itself spreads jobs over the cores."""
    from gpu_worker.grinders import get_backend

    if grinder == "python":
        from gpu_worker.grinders.python import PythonBackend

        return PythonBackend(processes=1)
    engine = get_backend(grinder)
    if hasattr(engine, "threads"):  # the native build: its scans use this many threads
        engine.threads = 1
    return engine


def _worker_main(grinder: str, progress_interval_s: float, conn: Connection) -> None:
    """A pool worker: load the engine once, then grind each job it is sent until the pipe closes.

    Answers per job: ("progress", dict)*, then ("result", json) or ("error", code, message).
    """
    import asyncio as child_asyncio
    import signal

    from gpu_worker.errors import VanikeysError
    from gpu_worker.handler import grind_paced

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)  # unwinds through the finally below, so the engine's own resources are freed

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the bot's to handle
    engine: Any = None
    load_error: VanikeysError | None = None
    try:
        try:
            engine = _one_core_engine(grinder)
        except VanikeysError as err:
            load_error = err
        while True:
            try:
                job_json = conn.recv()
            except (EOFError, OSError):
                return
            try:
                if load_error is not None:
                    raise load_error
                job = GrindJob.parse(job_json)
                result = child_asyncio.run(
                    grind_paced(
                        job,
                        engine,
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
        if engine is not None:
            engine.close()
        conn.close()


class _Worker:
    def __init__(self, context: Any, grinder: str, progress_interval_s: float) -> None:
        self.conn, child_end = context.Pipe(duplex=True)
        # Not a daemon: an engine may run helpers of its own. Every exit path stops it (stop()).
        self.process = context.Process(
            target=_worker_main, args=(grinder, progress_interval_s, child_end), daemon=False
        )
        self.process.start()
        child_end.close()  # the worker holds the only other end: its exit ends our reads

    async def stop(self) -> None:
        self.conn.close()
        await _stop(self.process)


class LocalGrindingClient(TaskGrindingClient):
    """Grinds in this process's worker threads with the local engine (python, native or cuda).

    Jobs die with the process (not durable); at most `max_parallel` grind at once.
    """

    backend = "local"

    def __init__(
        self,
        grinder: str = "auto",
        *,
        max_parallel: int | None = None,
        progress_interval_s: float = 2.0,
        order_policy: OrderPolicy = DEFAULT_ORDER_POLICY,
    ) -> None:
        super().__init__(order_policy)
        self.grinder = grinder
        self.progress_interval_s = progress_interval_s
        self.workers = max(1, max_parallel if max_parallel is not None else (os.cpu_count() or 1))
        # Not a fork of this process (it runs an event loop and threads): helpers from the fork server, with
        # what a worker runs imported once there (gpu_worker/helper_processes.py).
        self._context = helper_context(__name__, "gpu_worker.handler", "gpu_worker.grinders.python")
        self._idle: asyncio.Queue[_Worker | None] | None = None  # None: a slot whose worker is not started yet
        self._all: set[_Worker] = set()

    def _slots(self) -> asyncio.Queue[_Worker | None]:
        if self._idle is None:
            self._idle = asyncio.LifoQueue()  # a live worker (put back last) is taken before a slot not yet started
            for _ in range(self.workers):
                self._idle.put_nowait(None)
        return self._idle

    async def _run(self, entry: RunningJob) -> GrindResult:
        job = entry.job
        if job.pulls == 1:
            return await self._run_one(job, entry, offset=lambda: 0)
        # A 10-pull: its pulls side by side over the pool, each worker one pull.
        done: list[int] = [0] * job.pulls
        live: list[int] = [0] * job.pulls
        one = job.model_copy(update={"pulls": 1})

        async def pull(i: int) -> GrindResult:
            result = await self._run_one(one, entry, offset=lambda: sum(done) + sum(live) - live[i], live=(live, i))
            done[i] = result.checked
            return result

        outcomes = await asyncio.gather(*(pull(i) for i in range(job.pulls)), return_exceptions=True)
        results = [o for o in outcomes if isinstance(o, GrindResult) and o.checked == job.budget and o.results]
        if not results:
            failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
            raise failure if failure is not None else GrindingError("failed", "no pull of the job finished")
        return GrindResult(
            checked=sum(r.checked for r in results),
            elapsed_s=max(r.elapsed_s for r in results),
            backend=results[0].backend,
            device=f"{results[0].device} x{self.workers} workers",
            results=[r.results[0] for r in results],
        )

    async def _run_one(
        self, job: GrindJob, entry: RunningJob, *, offset: Any, live: tuple[list[int], int] | None = None
    ) -> GrindResult:
        slots = self._slots()
        worker = await slots.get()
        if worker is None:
            worker = _Worker(self._context, self.grinder, self.progress_interval_s)
            self._all.add(worker)
        healthy = False
        try:
            worker.conn.send(job.model_dump_json())
            result = await self._collect(entry, worker.conn, offset, live)
            healthy = True
            return result
        finally:
            if healthy:
                slots.put_nowait(worker)
            else:  # cancelled mid-grind, or the worker died: a fresh worker takes the slot when next needed
                self._all.discard(worker)
                slots.put_nowait(None)
                await asyncio.shield(worker.stop())

    async def _collect(
        self, entry: RunningJob, conn: Connection, offset: Any, live: tuple[list[int], int] | None
    ) -> GrindResult:
        messages = _pipe_messages(conn)
        try:
            while True:
                message = await messages.get()
                if message is None:
                    raise GrindingError("failed", "the local grinder process exited without an answer")
                kind = message[0]
                if kind == "progress":
                    progress = _progress(message[1])
                    if live is not None:
                        live[0][live[1]] = progress.checked
                    shown = GrindProgress(
                        offset() + progress.checked, progress.rate, progress.best_score, progress.elapsed_s
                    )
                    for listener in list(entry.listeners):
                        await notify(listener, shown)
                elif kind == "result":
                    return GrindResult.model_validate_json(message[1])
                else:
                    raise _child_failure(message[1], message[2])
        finally:
            try:
                asyncio.get_running_loop().remove_reader(conn.fileno())
            except (OSError, ValueError):
                pass

    async def close(self) -> None:
        """Cancel the running jobs and stop the grinder workers."""
        await super().close()
        workers, self._all = list(self._all), set()
        self._idle = None
        await asyncio.gather(*(worker.stop() for worker in workers), return_exceptions=True)


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
    elapsed = data.get("elapsed_s")
    return GrindProgress(
        checked=int(data["checked"]),
        rate=float(data["rate"]),
        best_score=best if isinstance(best, int) else None,
        elapsed_s=float(elapsed) if isinstance(elapsed, (int, float)) else None,
    )


async def _stop(process: Any) -> None:
    if process.is_alive():
        process.terminate()
    await asyncio.to_thread(process.join, _TERMINATE_GRACE_S)
    if process.is_alive():
        process.kill()
        await asyncio.to_thread(process.join, _TERMINATE_GRACE_S)
