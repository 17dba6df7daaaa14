"""Grinding clients whose jobs are tasks of this event loop (they die with the process).

The local client (a child process per job) and the in-process one (bot/grinder.py)
share the bookkeeping here: submit, wait, cancel and close. Each says only how
one job runs, in `_run`.
"""

from __future__ import annotations

import asyncio
import secrets
from abc import abstractmethod
from dataclasses import dataclass, field

from gpu_worker.job import GrindJob, GrindResult

from .model import GrindingError, OrderPolicy, ProgressCallback
from .orders import ChunkedOrders
from .verification import verified_result


@dataclass
class RunningJob:
    """A job grinding in this process: its task and who is told its progress."""

    job: GrindJob
    task: asyncio.Task[GrindResult] | None = None
    listeners: list[ProgressCallback] = field(default_factory=list)  # told the job's progress by `_run`


class TaskGrindingClient(ChunkedOrders):
    """A grinding client whose jobs are asyncio tasks in this process (not durable)."""

    backend: str

    def __init__(self, order_policy: OrderPolicy) -> None:
        self.order_policy = order_policy
        self._jobs: dict[str, RunningJob] = {}

    @abstractmethod
    async def _run(self, running: RunningJob) -> GrindResult:
        """Grind `running.job`, telling `running.listeners` its progress; a failure is a GrindingError."""

    async def submit(self, job: GrindJob) -> str:
        """Start the job as a task; returns its id (valid only in this process)."""
        job_id = f"{self.backend}-{secrets.token_hex(8)}"
        running = RunningJob(job)
        running.task = asyncio.get_running_loop().create_task(self._run(running), name=job_id)
        self._jobs[job_id] = running
        return job_id

    async def wait(self, job_id: str, job: GrindJob, on_progress: ProgressCallback | None = None) -> GrindResult:
        """The job's result; GrindingError("lost") for an id this process does not run.

        A caller that stops waiting leaves the job running; only `cancel` stops it.
        """
        running = self._jobs.get(job_id)
        if running is None or running.task is None:
            raise GrindingError(
                "lost", f"{self.backend} job {job_id} is not running in this process (the bot restarted)"
            )
        if on_progress is not None:
            running.listeners.append(on_progress)
        try:
            # Shielded: a caller that stops waiting does not stop the job; cancel() does.
            result = await asyncio.shield(running.task)
        except asyncio.CancelledError:
            if running.task.cancelled():
                raise GrindingError("cancelled", f"{self.backend} job {job_id} was cancelled") from None
            raise
        finally:
            if on_progress is not None and on_progress in running.listeners:
                running.listeners.remove(on_progress)
            if running.task.done():
                self._jobs.pop(job_id, None)
        return verified_result(job, result, source=f"{self.backend} job {job_id}")

    async def cancel(self, job_id: str) -> None:
        """Cancel the job's task and wait for it to end (unknown ids: no-op)."""
        running = self._jobs.pop(job_id, None)
        if running is not None and running.task is not None and not running.task.done():
            running.task.cancel()
            await asyncio.gather(running.task, return_exceptions=True)

    async def close(self) -> None:
        """Cancel every job this client runs."""
        await asyncio.gather(*(self.cancel(job_id) for job_id in list(self._jobs)), return_exceptions=True)
