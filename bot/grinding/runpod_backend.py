"""The `runpod` backend: grind jobs on a RunPod Serverless endpoint, every status handled, every result verified."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gpu_worker.job import GrindJob, GrindResult
from gpu_worker.sealing import ResultSealer

from .model import Billed, FailureCode, GrindingError, GrindProgress, OrderPolicy, ProgressCallback
from .orders import ChunkedOrders
from .progress import notify
from .remote import job_to_send
from .runpod_api import (
    MAX_POLICY_S,
    EndpointHealth,
    ExecutionPolicy,
    JobStatus,
    RunpodApi,
    RunpodApiError,
    RunpodJobNotFound,
    RunpodStatus,
    RunpodSubmitUnknown,
)
from .verification import verified_result

log = logging.getLogger(__name__)

# Codes the worker uses for a job it refuses as invalid (gpu_worker.errors): resubmitting cannot help.
_REJECTION_CODES = ("bad_format", "bad_pattern", "bad_job", "bad_pubkey", "bad_secret", "too_hard")
FINAL_STATUSES_KEPT = 10_000
DEFAULT_ORDER_POLICY = OrderPolicy(chunk_seconds=60.0, initial_rate=2e9, max_parallel=4)


class RunpodGrindingClient(ChunkedOrders):
    """Jobs live at RunPod, not in this process: they survive the bot's restarts (`durable`).

    Money rules: every job goes out with /run, whose answer is its id and nothing else, so the id is
    known (and the caller stores it) before any waiting starts; a lost answer while the job runs, an
    outage or a restart then collects the result by that id. A submit is retried only where RunPod
    cannot have taken it (runpod_api.py); an ambiguous submit is reported `unavailable` and leaves at
    most one unseen job, bounded by its short execution timeout. Polling starts fast (`first_poll_s`,
    growing by `poll_growth` to `poll_interval_s`), so a pull pays tens of milliseconds for not
    holding a /runsync open, and rides through API errors until the job's own deadline. A job this
    client gives up on is cancelled. A CANCELLED job this client did not cancel, or one RunPod no
    longer knows, is `lost`: grind it again, it is not a failure.
    """

    backend = "runpod"
    durable = True

    def __init__(
        self,
        api: RunpodApi,
        *,
        poll_interval_s: float = 1.0,
        first_poll_s: float = 0.05,
        poll_growth: float = 1.15,
        max_poll_interval_s: float = 10.0,
        queue_allowance_s: float = 900.0,
        pull_queue_limit_s: float = 120.0,
        downtime_allowance_s: float = 1800.0,
        execution_grace_s: float = 30.0,
        pull_time_limit_s: float = 60.0,
        order_policy: OrderPolicy = DEFAULT_ORDER_POLICY,
        clock: Callable[[], float] = time.monotonic,
        sealer: ResultSealer | None = None,
        name: str = "runpod",
        idempotent_submit: bool = False,
        outage_limit_s: float | None = None,
    ) -> None:
        self.api = api
        self.backend = name
        # True for a server that answers a resubmitted tag with the job it has (gpu_worker/selfhosted.py):
        # then an unconfirmed submit is simply sent again. RunPod has no such lookup.
        self.idempotent_submit = idempotent_submit
        # None: ride out an unreachable API to the job's own deadline (the only provider). Behind the
        # router, a limit: past it the job counts as lost and is ground elsewhere.
        self.outage_limit_s = outage_limit_s
        # Every job asks for its secrets sealed to this key, so RunPod's job store never holds one in the
        # clear. The bot passes one derived from the vault key (results open after a restart); without
        # one, a key for this client's lifetime.
        self.sealer = sealer or ResultSealer.generate()
        self.clock = clock
        self.poll_interval_s = poll_interval_s
        self.first_poll_s = min(first_poll_s, poll_interval_s)
        self.poll_growth = max(1.0, poll_growth)
        self.max_poll_interval_s = max_poll_interval_s
        self.queue_allowance_s = queue_allowance_s
        self.pull_queue_limit_s = pull_queue_limit_s
        self.downtime_allowance_s = downtime_allowance_s
        self.execution_grace_s = execution_grace_s
        self.pull_time_limit_s = pull_time_limit_s
        self.order_policy = order_policy
        self._cancelled: set[str] = set()  # ids this client cancelled: their CANCELLED is no surprise
        # Finished jobs' last status (without output), until billed() reads its seconds; bounded, because a
        # caller that records no usage never reads it.
        self._final: OrderedDict[str, JobStatus] = OrderedDict()

    def sent_job(self, job: GrindJob) -> GrindJob:
        """The job as it travels: sealed to us, tagged, and a pull held to the short pull time limit."""
        return job_to_send(job, self.sealer, self.pull_time_limit_s)

    def queue_limit_s(self, job: GrindJob) -> float:
        """How long the job may wait in RunPod's queue before it is ground elsewhere (pulls wait less)."""
        return self.pull_queue_limit_s if job.stop == "budget" else self.queue_allowance_s

    def policy_for(self, job: GrindJob) -> ExecutionPolicy:
        """RunPod stops the job a little after the worker's own time limit. The ttl counts from submission
        and deletes the job whatever its state, so it covers the queue, the run and the bot being down."""
        execution = max(5.0, self._time_limit(job) + self.execution_grace_s)
        return ExecutionPolicy(
            execution_timeout_s=execution,
            ttl_s=min(MAX_POLICY_S, max(10.0, self.queue_limit_s(job) + execution + self.downtime_allowance_s)),
        )

    def _time_limit(self, job: GrindJob) -> float:
        return min(job.time_limit_s, self.pull_time_limit_s) if job.stop == "budget" else job.time_limit_s

    async def submit(self, job: GrindJob) -> str:
        """Send the job with /run; returns RunPod's job id.

        GrindingError("unavailable") when RunPod did not take it, ("rejected") for a 400; an unconfirmed send is never
        repeated unless the endpoint de-duplicates (`idempotent_submit`).
        """
        sent = self.sent_job(job)
        payload, policy = sent.model_dump(mode="json"), self.policy_for(job)
        attempts = 3 if self.idempotent_submit else 1
        for attempt in range(attempts):
            try:
                return await self._send(job, payload, policy)
            except RunpodSubmitUnknown as err:
                if attempt + 1 < attempts:
                    log.warning("%s did not confirm job %s (%s); sending it again (same tag)", self.backend, sent.tag, err)
                    await asyncio.sleep(0.5 * 2**attempt)
                    continue
                raise self._unconfirmed(sent, err) from None
            except RunpodApiError as err:
                code: FailureCode = "rejected" if err.http_status == 400 else "unavailable"
                raise GrindingError(code, f"could not submit the job to {self.backend}: {err}") from None
        raise AssertionError("unreachable")

    async def _send(self, job: GrindJob, payload: dict[str, object], policy: ExecutionPolicy) -> str:
        # Never /runsync: its id comes back only with the result, so an answer lost mid-job lost the job.
        return await self.api.run(payload, policy)

    def _unconfirmed(self, sent: GrindJob, err: RunpodApiError) -> GrindingError:
        # RunPod offers no lookup by input: resubmitting could run the job twice. Fail over or refund;
        # the job that may exist stops at its execution timeout (a pull: about a minute).
        log.warning("%s may hold an unseen job tagged %s (%s); not resubmitting it", self.backend, sent.tag, err)
        return GrindingError("unavailable", f"{self.backend} did not confirm the job: {err}")

    async def wait(self, job_id: str, job: GrindJob, on_progress: ProgressCallback | None = None) -> GrindResult:
        """Poll the job until its verified result; GrindingError when it failed, timed out, queued too long
        or was lost.
        """
        policy = self.policy_for(job)
        started = self.clock()
        deadline = started + policy.ttl_s + 60.0  # RunPod drops the job by then whatever happens
        queue_deadline = started + self.queue_limit_s(job)
        interval = self.first_poll_s
        outage_since: float | None = None
        last_answer = started  # the outage limit counts from the provider's last answer, not our first failed ask
        while True:
            status: JobStatus | None
            try:
                status = await self.api.status(job_id)
            except RunpodJobNotFound:
                raise GrindingError("lost", f"RunPod no longer has job {job_id} (expired or dropped)") from None
            except RunpodApiError as err:
                if outage_since is None:
                    outage_since = self.clock()
                    log.warning("%s status for %s unreadable (%s); polling on", self.backend, job_id, err)
                status = None
            if status is not None:
                last_answer = self.clock()
                if outage_since is not None:
                    log.info("RunPod answers again after %.0f s", self.clock() - outage_since)
                    outage_since = None
                if status.status.finished:
                    self._final[job_id] = replace(status, output=None)
                    while len(self._final) > FINAL_STATUSES_KEPT:
                        self._final.popitem(last=False)
                if status.status is RunpodStatus.COMPLETED:
                    self._cancelled.discard(job_id)
                    return verified_result(job, status.output, source=f"runpod job {job_id}", sealer=self.sealer)
                if status.status.finished:
                    raise self._failure(job_id, status)
                if status.status is RunpodStatus.IN_PROGRESS:
                    queue_deadline = float("inf")
                    progress = _parse_progress(status.output)
                    if progress is not None and on_progress is not None:
                        await notify(on_progress, progress)
                    interval = min(interval * self.poll_growth, self.poll_interval_s)
                else:  # queued: back off while workers cold-start
                    interval = min(interval * self.poll_growth, self.max_poll_interval_s)
            else:
                interval = min(max(interval, self.poll_interval_s) * 2, self._outage_poll_cap())
                if self.outage_limit_s is not None and self.clock() - last_answer > self.outage_limit_s:
                    await self.cancel(job_id)  # best effort: the provider may be down
                    raise GrindingError("unavailable", f"{self.backend} unreachable for over "
                                                       f"{self.outage_limit_s:.0f} s while running job {job_id}")
            now = self.clock()
            if now >= queue_deadline:
                await self.cancel(job_id)
                raise GrindingError("unavailable", f"RunPod job {job_id} waited in the queue over "
                                                   f"{self.queue_limit_s(job):.0f} s; cancelled it")
            if now + interval > deadline:
                await self.cancel(job_id)
                raise GrindingError("timed_out", f"RunPod job {job_id} outlived its ttl; cancelled it")
            await asyncio.sleep(interval)

    def _outage_poll_cap(self) -> float:
        """Behind the router an outage limit must be noticed on time: poll at least five times within it."""
        if self.outage_limit_s is None:
            return self.max_poll_interval_s
        return max(0.05, min(self.max_poll_interval_s, self.outage_limit_s / 5))

    async def cancel(self, job_id: str) -> None:
        """Best effort: a job that already finished or expired needs no cancelling."""
        self._cancelled.add(job_id)
        try:
            await self.api.cancel(job_id)
        except RunpodJobNotFound:
            pass
        except RunpodApiError as err:
            log.warning("could not cancel %s job %s: %s", self.backend, job_id, err)

    async def billed(self, job_id: str) -> Billed | None:
        """The provider's own figure for a finished (or just cancelled) job: executionTime. None when the job
        is not finished yet, is gone, or the provider cannot be asked (the caller then estimates)."""
        status = self._final.pop(job_id, None)
        if status is None:
            try:
                status = await self.api.status(job_id)
            except RunpodApiError:
                return None
        if not status.status.finished:
            return None
        if status.execution_s is None:  # cancelled before a worker took it: nothing ran, nothing is billed
            return Billed(gpu_s=0.0) if status.status is RunpodStatus.CANCELLED else None
        return Billed(gpu_s=status.execution_s)

    async def health(self) -> EndpointHealth:
        """Queue depth and workers (GET /health), e.g. for a start-up check or an operator command."""
        try:
            return await self.api.health()
        except RunpodApiError as err:
            raise GrindingError("unavailable", f"could not read the RunPod endpoint's health: {err}") from None

    async def close(self) -> None:
        """Stops talking to RunPod; jobs there run on, and a restarted bot collects them."""
        await self.api.close()

    def _failure(self, job_id: str, status: JobStatus) -> GrindingError:
        if status.status is RunpodStatus.CANCELLED and job_id not in self._cancelled:
            return GrindingError("lost", f"RunPod job {job_id} was cancelled by someone else; grind it again")
        return _failure(job_id, status.status, status.error)


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
    elapsed = output.get("elapsed_s")
    return GrindProgress(checked=checked, rate=float(rate), best_score=best if isinstance(best, int) and not isinstance(best, bool) else None,
                         elapsed_s=float(elapsed) if isinstance(elapsed, (int, float)) and not isinstance(elapsed, bool) else None)
