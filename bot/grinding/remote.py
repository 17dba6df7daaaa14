"""One base for every remote GPU provider: settings, submit, poll, cancel and the GPU-seconds a job billed.

A provider (runpod_backend.py, modal_backend.py; the self-hosted box speaks RunPod's protocol) is a
subclass of `RemoteProvider` that fills in only what differs between providers:

    async def _send(self, sent, job) -> str         # submit the sealed job; the provider's id for it
    async def _read(self, job_id) -> RemoteStatus   # one status read, in the base's terms
    async def _stop(self, job_id) -> None           # cancel at the provider
    reports_gpu_s, tells_queued                     # what its status says (billed seconds, queued vs running)

`_send` raises `SubmitUnconfirmed` where the provider may have taken the job (the base resends it only to
a provider that dedups by tag, `idempotent_submit`) and GrindingError where it surely did not. `_read` and
`_stop` raise `ProviderUnreachable` for a transport failure, which the base rides out (to the job's
deadline, or `outage_limit_s` since the provider's last answer), and GrindingError for a final verdict.

The base owns the rest: sealing and tagging the job (`job_to_send`), the fast adaptive poll schedule
(`first_poll_s`, growing by `poll_growth` to `poll_interval_s` while a worker has the job, to
`max_poll_interval_s` while it waits; doubling through an outage), the queue limit and the deadline
(both cancel the job), remembering which jobs it cancelled (a CANCELLED it did not ask for is `lost`),
verifying the result, and the finished statuses `billed()` reads for the router's usage rows.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from gpu_worker.job import GrindJob, GrindResult
from gpu_worker.sealing import ResultSealer

from .model import Billed, GrindingError, GrindProgress, OrderPolicy, ProgressCallback
from .orders import ChunkedOrders
from .progress import notify
from .verification import verified_result

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.settings import VanikeysSettings

log = logging.getLogger(__name__)

# Codes the worker uses for a job it refuses as invalid (gpu_worker.errors): resubmitting cannot help.
REJECTION_CODES = ("bad_format", "bad_pattern", "bad_job", "bad_pubkey", "bad_secret", "too_hard")
FINAL_STATUSES_KEPT = 10_000
DEFAULT_ORDER_POLICY = OrderPolicy(chunk_seconds=60.0, initial_rate=2e9, max_parallel=4)


def job_to_send(job: GrindJob, sealer: ResultSealer, pull_time_limit_s: float) -> GrindJob:
    """Sealed to the bot's key, tagged (the bot's job id when the caller tagged it, plus this submission),
    and a pull held to the short pull time limit (a hung GPU bills a minute, not an hour)."""
    tag = f"{job.tag}-{secrets.token_hex(6)}" if job.tag else secrets.token_hex(8)
    update: dict[str, object] = {"seal_to": sealer.public_hex, "tag": tag}
    if job.stop == "budget":
        update["time_limit_s"] = min(job.time_limit_s, pull_time_limit_s)
    return job.model_copy(update=update)


class Phase(Enum):
    """Where a remote job stands, as the provider's own status reads."""

    QUEUED = "queued"  # waiting for a worker: the queue limit applies
    RUNNING = "running"  # a worker has it
    PENDING = "pending"  # not finished, and the provider does not say whether queued or running (Modal)
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # by us (`cancelled`) or by someone else (`lost`: grind it again)
    TIMED_OUT = "timed_out"  # ran past the provider's execution limit
    FAILED = "failed"  # the worker answered with an error: `error` holds it ("code: message")

    @property
    def finished(self) -> bool:
        """True once the job will not change again (completed, cancelled, timed out or failed)."""
        return self not in (Phase.QUEUED, Phase.RUNNING, Phase.PENDING)


@dataclass(frozen=True)
class RemoteStatus:
    """One read of a remote job's status: its phase and, when it has them, its output, error and GPU-seconds."""

    phase: Phase
    output: Any = field(default=None, repr=False)  # the answer, or a running job's progress: may hold keys
    error: str | None = field(default=None, repr=False)  # FAILED: the worker's error
    gpu_s: float | None = None  # a finished job's billed GPU-seconds, where the provider reports them


class RemoteSettings(TypedDict, total=False):
    """RemoteProvider's keyword settings, for a provider's own __init__ to pass through typed."""

    poll_interval_s: float
    first_poll_s: float
    poll_growth: float
    max_poll_interval_s: float
    queue_allowance_s: float
    pull_queue_limit_s: float
    downtime_allowance_s: float
    execution_grace_s: float
    pull_time_limit_s: float
    order_policy: OrderPolicy
    clock: Callable[[], float]
    sealer: ResultSealer | None
    name: str | None
    idempotent_submit: bool
    outage_limit_s: float | None


@dataclass(frozen=True)
class ProviderBuild:
    """What each provider module's `configured(build)` gets (providers.py): the settings and the shared client ones."""

    settings: Settings  # the bot's settings (RunPod's key and endpoint)
    env: VanikeysSettings  # the typed configuration: every provider's own settings
    remote: RemoteSettings  # what every remote client gets

    def client_settings(self, **extra: Unpack[RemoteSettings]) -> RemoteSettings:
        """`remote`, with what this one client sets differently."""
        merged = self.remote.copy()
        merged.update(extra)
        return merged

    @property
    def others_than_runpod(self) -> bool:
        """A provider besides RunPod is configured: RunPod's jobs then fail over on an outage."""
        return bool(self.env.selfhosted_url or self.env.modal_app)


class ProviderUnreachable(Exception):
    """The provider could not be asked (a transport failure after the transport's own retries)."""


class SubmitUnconfirmed(Exception):
    """The provider may have taken the job: no id came back, and it cannot be looked up by its input."""


class RemoteProvider(ChunkedOrders):
    """A GrindingClient whose jobs live at a provider, not in this process: they survive restarts (`durable`).

    Money rules: a submit answers the job's id and nothing else, so the id is known (and the caller
    stores it) before any waiting starts; a lost answer while the job runs, an outage or a restart then
    collects the result by that id. An unconfirmed submit is sent again only where the provider dedups
    by tag; otherwise it is reported `unavailable` and leaves at most one unseen job, bounded by the
    provider's own limits. A job this client gives up on is cancelled.
    """

    backend = "remote"
    durable = True
    noun = "remote job"  # how messages name one of its jobs: "RunPod job", "Modal call"
    reports_gpu_s = True  # its finished statuses carry billed seconds (else the router estimates)
    tells_queued = True  # its status tells queued from running (else no queue limit: only the deadline)

    def __init__(
        self,
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
        name: str | None = None,
        idempotent_submit: bool = False,
        outage_limit_s: float | None = None,
    ) -> None:
        if name is not None:
            self.backend = name
        # True for a server that answers a resubmitted tag with the job it has (gpu_worker/selfhosted.py):
        # then an unconfirmed submit is simply sent again.
        self.idempotent_submit = idempotent_submit
        # None: ride out an unreachable provider to the job's own deadline (the only provider). Behind the
        # router, a limit: past it the job counts as lost and is ground elsewhere.
        self.outage_limit_s = outage_limit_s
        # Every job asks for its secrets sealed to this key, so the provider's job store never holds one in
        # the clear. The bot passes one derived from the vault key (results open after a restart); without
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
        self._final: OrderedDict[str, RemoteStatus] = OrderedDict()

    # --- what each provider fills in -----------------------------------------------------------------

    async def _send(self, sent: GrindJob, job: GrindJob) -> str:
        """Submit `sent` (the sealed, tagged copy of `job`); the provider's id for it."""
        raise NotImplementedError

    async def _read(self, job_id: str) -> RemoteStatus:
        """One read of the job's status (ProviderUnreachable: ask again later)."""
        raise NotImplementedError

    async def _stop(self, job_id: str) -> None:
        """Cancel the job at the provider; a job that is already gone needs nothing."""
        raise NotImplementedError

    def _deadline_s(self, job: GrindJob) -> float:
        """Seconds from the first poll past which the job is given up on (cancelled): its queue limit, its
        run and the grace."""
        return self.queue_limit_s(job) + self.time_limit_s(job) + self.execution_grace_s

    def _overdue(self, job_id: str) -> GrindingError:
        return GrindingError("unavailable", f"{self.noun} {job_id} did not finish by its deadline; cancelled it")

    # --- the same for every provider -----------------------------------------------------------------

    def queue_limit_s(self, job: GrindJob) -> float:
        """How long the job may wait for a worker: a pull's short limit, or an order chunk's allowance."""
        return self.pull_queue_limit_s if job.stop == "budget" else self.queue_allowance_s

    def time_limit_s(self, job: GrindJob) -> float:
        """The job's run as sent: a pull's time limit is cut to `pull_time_limit_s`."""
        return min(job.time_limit_s, self.pull_time_limit_s) if job.stop == "budget" else job.time_limit_s

    def sent_job(self, job: GrindJob) -> GrindJob:
        """The job as it travels: sealed to us, tagged, and a pull held to the short pull time limit."""
        return job_to_send(job, self.sealer, self.pull_time_limit_s)

    async def submit(self, job: GrindJob) -> str:
        """The provider's id for the job (store it before waiting); GrindingError where it was not taken."""
        sent = self.sent_job(job)
        attempts = 3 if self.idempotent_submit else 1
        for attempt in range(attempts):
            try:
                return await self._send(sent, job)
            except SubmitUnconfirmed as err:
                if attempt + 1 < attempts:
                    log.warning(
                        "%s did not confirm job %s (%s); sending it again (same tag)", self.backend, sent.tag, err
                    )
                    await asyncio.sleep(0.5 * 2**attempt)
                    continue
                # No lookup by input: resubmitting could run the job twice. Fail over or refund; the job
                # that may exist stops at the provider's own limit (a pull: about a minute).
                log.warning(
                    "%s may hold an unseen job tagged %s (%s); not resubmitting it", self.backend, sent.tag, err
                )
                raise GrindingError("unavailable", f"{self.backend} did not confirm the job: {err}") from None
        raise AssertionError("unreachable")

    async def wait(self, job_id: str, job: GrindJob, on_progress: ProgressCallback | None = None) -> GrindResult:
        """Poll until the job's verified result; GrindingError when it failed, was lost or was given up on."""
        started = self.clock()
        deadline = started + self._deadline_s(job)
        queue_deadline = started + self.queue_limit_s(job) if self.tells_queued else float("inf")
        interval = self.first_poll_s
        outage_since: float | None = None
        last_answer = started  # the outage limit counts from the provider's last answer, not our first failed ask
        while True:
            status: RemoteStatus | None
            try:
                status = await self._read(job_id)
            except ProviderUnreachable as err:
                if outage_since is None:
                    outage_since = self.clock()
                    log.warning("%s status for %s unreadable (%s); polling on", self.backend, job_id, err)
                status = None
            if status is not None:
                last_answer = self.clock()
                if outage_since is not None:
                    log.info("%s answers again after %.0f s", self.backend, self.clock() - outage_since)
                    outage_since = None
                if status.phase.finished:
                    self._keep_final(job_id, status)
                if status.phase is Phase.COMPLETED:
                    self._cancelled.discard(job_id)
                    return verified_result(
                        job, status.output, source=f"{self.backend} job {job_id}", sealer=self.sealer
                    )
                if status.phase.finished:
                    raise self._failure(job_id, status)
                if status.phase is Phase.RUNNING:
                    queue_deadline = float("inf")
                    progress = parse_progress(status.output)
                    if progress is not None and on_progress is not None:
                        await notify(on_progress, progress)
                    interval = min(interval * self.poll_growth, self.poll_interval_s)
                else:  # queued (or not saying): back off while workers cold-start
                    interval = min(interval * self.poll_growth, self.max_poll_interval_s)
            else:
                interval = min(max(interval, self.poll_interval_s) * 2, self._outage_poll_cap())
                if self.outage_limit_s is not None and self.clock() - last_answer > self.outage_limit_s:
                    await self.cancel(job_id)  # best effort: the provider may be down
                    raise GrindingError(
                        "unavailable",
                        f"{self.backend} unreachable for over {self.outage_limit_s:.0f} s while running job {job_id}",
                    )
            now = self.clock()
            if now >= queue_deadline:
                await self.cancel(job_id)
                raise GrindingError(
                    "unavailable",
                    f"{self.noun} {job_id} waited in the queue over {self.queue_limit_s(job):.0f} s; cancelled it",
                )
            if now + interval > deadline:
                await self.cancel(job_id)
                raise self._overdue(job_id)
            await asyncio.sleep(interval)

    def _failure(self, job_id: str, status: RemoteStatus) -> GrindingError:
        if status.phase is Phase.CANCELLED and job_id not in self._cancelled:
            return GrindingError("lost", f"{self.noun} {job_id} was cancelled by someone else; grind it again")
        if status.phase is Phase.CANCELLED:
            return GrindingError("cancelled", f"{self.noun} {job_id} was cancelled")
        if status.phase is Phase.TIMED_OUT:
            return GrindingError("timed_out", f"{self.noun} {job_id} ran past its execution timeout")
        return worker_failure(f"{self.noun} {job_id}", status.error)

    def _keep_final(self, job_id: str, status: RemoteStatus) -> None:
        if not self.reports_gpu_s:
            return
        self._final[job_id] = replace(status, output=None)
        while len(self._final) > FINAL_STATUSES_KEPT:
            self._final.popitem(last=False)

    def _outage_poll_cap(self) -> float:
        """Behind the router an outage limit must be noticed on time: poll at least five times within it."""
        if self.outage_limit_s is None:
            return self.max_poll_interval_s
        return max(0.05, min(self.max_poll_interval_s, self.outage_limit_s / 5))

    async def cancel(self, job_id: str) -> None:
        """Best effort: a job that already finished or expired needs no cancelling."""
        self._cancelled.add(job_id)
        try:
            await self._stop(job_id)
        except ProviderUnreachable as err:
            log.warning("could not cancel %s job %s: %s", self.backend, job_id, err)

    async def billed(self, job_id: str) -> Billed | None:
        """The provider's own figure for a finished (or just cancelled) job. None when the job is not finished
        yet, is gone, the provider reports none or cannot be asked (the router then estimates)."""
        if not self.reports_gpu_s:
            return None
        status = self._final.pop(job_id, None)
        if status is None:
            try:
                status = await self._read(job_id)
            except (ProviderUnreachable, GrindingError):
                return None
        if not status.phase.finished or status.gpu_s is None:
            return None
        return Billed(gpu_s=status.gpu_s)

    async def close(self) -> None:
        """Stops talking to the provider; jobs there run on, and a restarted bot collects them."""


def worker_failure(what: str, message: str | None) -> GrindingError:
    """The worker's own error ("code: message", gpu_worker/handler.py) as the caller's GrindingError."""
    message = (message or "no error message").splitlines()[0][:300]
    code = message.split(":", 1)[0]
    if code in REJECTION_CODES:
        return GrindingError("rejected", f"the worker refused the job: {message}")
    if code == "verification_failed":  # the worker's own check caught its GPU computing a wrong key
        log.error("worker fault: %s: %s", what, message)
        return GrindingError("worker_fault", f"{what} failed its own verification")
    log.warning("%s failed: %s", what, message)
    return GrindingError("failed", f"{what} failed: {message}")


def parse_progress(output: Any) -> GrindProgress | None:
    """Progress is whatever the worker last sent with progress_update; ignore anything malformed."""
    if not isinstance(output, dict):
        return None
    checked, rate, best = output.get("checked"), output.get("rate"), output.get("best_score")
    if not isinstance(checked, int) or isinstance(checked, bool) or checked < 0:
        return None
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate < 0:
        return None
    return GrindProgress(
        checked=checked,
        rate=float(rate),
        best_score=best if isinstance(best, int) and not isinstance(best, bool) else None,
    )
