"""The `runpod` backend: grind jobs on a RunPod Serverless endpoint, every status handled, every result verified."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

from gpu_worker.job import GrindJob, GrindResult
from gpu_worker.sealing import ResultSealer

from .model import GrindingError, GrindProgress, OrderPolicy, ProgressCallback
from .orders import ChunkedOrders
from .progress import notify
from .runpod_api import EndpointHealth, ExecutionPolicy, JobStatus, RunpodApi, RunpodApiError, RunpodJobNotFound, RunpodStatus
from .verification import verified_result

log = logging.getLogger(__name__)

# Codes the worker uses for a job it refuses as invalid (gpu_worker.errors): resubmitting cannot help.
_REJECTION_CODES = ("bad_format", "bad_pattern", "bad_job", "bad_pubkey", "bad_secret", "too_hard")
DEFAULT_ORDER_POLICY = OrderPolicy(chunk_seconds=60.0, initial_rate=2e9, max_parallel=4)


class RunpodGrindingClient(ChunkedOrders):
    backend = "runpod"

    def __init__(
        self,
        api: RunpodApi,
        *,
        poll_interval_s: float = 2.0,
        max_poll_interval_s: float = 10.0,
        queue_allowance_s: float = 900.0,
        execution_grace_s: float = 60.0,
        order_policy: OrderPolicy = DEFAULT_ORDER_POLICY,
        clock: Callable[[], float] = time.monotonic,
        sealer: ResultSealer | None = None,
    ) -> None:
        self.api = api
        # Every job asks for its secrets sealed to this key, so RunPod's job store never holds one in the
        # clear. The bot passes one derived from the vault key (results open after a restart); without
        # one, a key for this client's lifetime.
        self.sealer = sealer or ResultSealer.generate()
        self.clock = clock
        self.poll_interval_s = poll_interval_s
        self.max_poll_interval_s = max_poll_interval_s
        self.queue_allowance_s = queue_allowance_s
        self.execution_grace_s = execution_grace_s
        self.order_policy = order_policy

    def policy_for(self, job: GrindJob) -> ExecutionPolicy:
        """RunPod stops the job a little after the worker's own time limit, and drops it if it queues too long."""
        execution = max(5.0, job.time_limit_s + self.execution_grace_s)
        return ExecutionPolicy(execution_timeout_s=execution, ttl_s=max(10.0, execution + self.queue_allowance_s))

    async def submit(self, job: GrindJob) -> str:
        try:
            sealed_job = job.model_copy(update={"seal_to": self.sealer.public_hex})
            return await self.api.run(sealed_job.model_dump(mode="json"), self.policy_for(job))
        except RunpodApiError as err:
            code = "rejected" if err.http_status == 400 else "unavailable"
            raise GrindingError(code, f"could not submit the job to RunPod: {err}") from None

    async def wait(self, job_id: str, job: GrindJob, on_progress: ProgressCallback | None = None) -> GrindResult:
        # A job cannot outlive its ttl at RunPod; past that (plus slack) something is wrong: stop waiting.
        deadline = self.clock() + self.policy_for(job).ttl_s + 60.0
        interval = self.poll_interval_s
        while True:
            status = await self._status(job_id)
            if status.status is RunpodStatus.COMPLETED:
                return verified_result(job, status.output, source=f"runpod job {job_id}", sealer=self.sealer)
            if status.status.finished:
                raise _failure(job_id, status.status, status.error)
            if status.status is RunpodStatus.IN_PROGRESS:
                progress = _parse_progress(status.output)
                if progress is not None and on_progress is not None:
                    await notify(on_progress, progress)
                interval = self.poll_interval_s
            else:  # queued: back off while workers cold-start
                interval = min(interval * 1.5, self.max_poll_interval_s)
            if self.clock() + interval > deadline:
                await self.cancel(job_id)
                raise GrindingError("timed_out", f"RunPod job {job_id} outlived its ttl; cancelled it")
            await asyncio.sleep(interval)

    async def cancel(self, job_id: str) -> None:
        """Best effort: a job that already finished or expired needs no cancelling."""
        try:
            await self.api.cancel(job_id)
        except RunpodJobNotFound:
            pass
        except RunpodApiError as err:
            log.warning("could not cancel RunPod job %s: %s", job_id, err)

    async def health(self) -> EndpointHealth:
        """Queue depth and workers (GET /health), e.g. for a start-up check or an operator command."""
        try:
            return await self.api.health()
        except RunpodApiError as err:
            raise GrindingError("unavailable", f"could not read the RunPod endpoint's health: {err}") from None

    async def close(self) -> None:
        await self.api.close()

    async def _status(self, job_id: str) -> JobStatus:
        try:
            return await self.api.status(job_id)
        except RunpodJobNotFound:
            raise GrindingError("lost", f"RunPod no longer has job {job_id} (results expire 30 minutes after a job ends)") from None
        except RunpodApiError as err:
            raise GrindingError("unavailable", f"could not read RunPod job {job_id}: {err}") from None


def _failure(job_id: str, status: RunpodStatus, error: str | None) -> GrindingError:
    if status is RunpodStatus.CANCELLED:
        return GrindingError("cancelled", f"RunPod job {job_id} was cancelled")
    if status is RunpodStatus.TIMED_OUT:
        return GrindingError("timed_out", f"RunPod job {job_id} ran past its execution timeout")
    message = (error or "no error message").splitlines()[0][:300]
    code = message.split(":", 1)[0]
    if code in _REJECTION_CODES:
        return GrindingError("rejected", f"the worker refused the job: {message}")
    if code == "verification_failed":  # the worker's own check caught its GPU computing a wrong key
        log.error("worker fault: RunPod job %s: %s", job_id, message)
        return GrindingError("worker_fault", f"RunPod job {job_id} failed its own verification")
    log.warning("RunPod job %s failed: %s", job_id, message)
    return GrindingError("failed", f"RunPod job {job_id} failed: {message}")


def _parse_progress(output: Any) -> GrindProgress | None:
    """Progress is whatever the worker last sent with progress_update; ignore anything malformed."""
    if not isinstance(output, dict):
        return None
    checked, rate, best = output.get("checked"), output.get("rate"), output.get("best_score")
    if not isinstance(checked, int) or isinstance(checked, bool) or checked < 0:
        return None
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate < 0:
        return None
    return GrindProgress(checked=checked, rate=float(rate), best_score=best if isinstance(best, int) and not isinstance(best, bool) else None)
