"""Order fan-out: grind for an exact match as bounded chunk jobs, several at once, until one verifies.

Each chunk is an ordinary stop=full grind job with a fresh random start (the
worker draws it) and about `chunk_seconds` of work. The first verified full
match wins and the other chunks are cancelled. A failed or timed-out chunk
costs one of the order's `max_failures`; past them, or past
`max_expected_multiple` times the expected keys, the order fails and the
service refunds. Every change to the order's state is reported through the
progress callback, so the service can persist it and resume after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Protocol

from gpu_worker.job import MAX_BUDGET, GrindJob, GrindResult

from .model import (
    GrindingError,
    GrindProgress,
    OrderOutcome,
    OrderPolicy,
    OrderProgress,
    OrderProgressCallback,
    OrderState,
    ProgressCallback,
    RunningChunk,
)
from .progress import notify

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 2.0
RESUBMIT_DELAY_S = 1.0
MAX_RESUBMIT_DELAY_S = 30.0


class ChunkRunner(Protocol):
    """Runs one chunk job at a time on a backend: what `run_order` needs."""

    durable: bool  # True: jobs outlive this process (RunPod): a shutdown leaves them running, to re-attach

    async def submit(self, job: GrindJob) -> str:
        """Start a chunk job; returns its id."""

    async def wait(self, job_id: str, job: GrindJob, on_progress: ProgressCallback | None = None) -> GrindResult:
        """The chunk's verified result; GrindingError if it failed."""

    async def cancel(self, job_id: str) -> None:
        """Stop the chunk job."""


async def run_order(
    client: ChunkRunner,
    job_template: GrindJob,
    expected_keys: float,
    policy: OrderPolicy,
    on_progress: OrderProgressCallback | None = None,
    resume_state: OrderState | None = None,
) -> OrderOutcome:
    """Grind an order as chunk jobs until one finds a full match, carrying on from `resume_state`.

    Returns the winning hit; GrindingError("order_failed") past the policy's failures, lost chunks, outage or expected-
    keys multiple. ValueError for an expected_keys that is not a finite number >= 1.
    """
    if not math.isfinite(expected_keys) or expected_keys < 1:
        raise ValueError("expected_keys must be a finite number of keys, at least 1")
    return await _Order(client, job_template, expected_keys, policy, on_progress, resume_state).run()


class ChunkedOrders(ABC):
    """`run_order` for a client whose submit / wait / cancel run one job: each order is chunk jobs."""

    order_policy: OrderPolicy
    durable: bool = False

    @abstractmethod
    async def submit(self, job: GrindJob) -> str:
        """Start one job; returns its id."""

    @abstractmethod
    async def wait(self, job_id: str, job: GrindJob, on_progress: ProgressCallback | None = None) -> GrindResult:
        """The job's verified result; GrindingError if it failed."""

    @abstractmethod
    async def cancel(self, job_id: str) -> None:
        """Stop the job."""

    async def run_order(
        self,
        job_template: GrindJob,
        expected_keys: float,
        on_progress: OrderProgressCallback | None = None,
        resume_state: OrderState | None = None,
    ) -> OrderOutcome:
        """`run_order` on this client with its own order policy."""
        return await run_order(self, job_template, expected_keys, self.order_policy, on_progress, resume_state)


def chunk_job(template: GrindJob, budget: int, time_limit_s: float) -> GrindJob:
    """The order's job as one chunk: `budget` keys, stop at a full match, best hit only, within `time_limit_s`."""
    fields = template.model_dump(mode="json")
    fields.update(budget=budget, stop="full", top=1, time_limit_s=time_limit_s)
    return GrindJob.parse(fields)


class _Order:
    def __init__(
        self,
        client: ChunkRunner,
        template: GrindJob,
        expected_keys: float,
        policy: OrderPolicy,
        on_progress: OrderProgressCallback | None,
        resume_state: OrderState | None,
    ) -> None:
        self.client = client
        self.template = template
        self.expected_keys = expected_keys
        self.policy = policy
        self.on_progress = on_progress
        self.state = resume_state or OrderState()
        self.resumed = {chunk.job_id for chunk in self.state.running}
        self.key_cap = max(1, int(expected_keys * policy.max_expected_multiple))
        self.rate_per_chunk = (
            self.state.checked / self.state.elapsed_s if self.state.elapsed_s > 0 else policy.initial_rate
        )
        self.rate_measured = self.state.elapsed_s > 0  # rate_per_chunk is a finished chunk's figure, not the plan
        self.live: dict[str, GrindProgress] = {}
        self.samples: dict[str, tuple[int, float]] = {}  # chunk job id -> (checked, seconds) of its last report
        self.steady: dict[str, float] = {}  # chunk job id -> its rate between its last two reports
        self.tasks: dict[asyncio.Task[GrindResult], RunningChunk] = {}
        self.last_report = 0.0
        self.last_rate = 0.0
        self.lost = 0
        self._outage_since: float | None = None
        self._submit_backoff_s = RESUBMIT_DELAY_S

    async def run(self) -> OrderOutcome:
        try:
            for chunk in self.state.running:
                self._watch(chunk)
            while True:
                await self._fill()
                if not self.tasks and self._planned_keys() < self.key_cap:
                    await asyncio.sleep(self._submit_backoff_s)  # the provider refused or could not be reached
                    continue
                if not self.tasks:
                    raise GrindingError(
                        "order_failed",
                        f"no exact match in {self.state.checked:,} keys ({self.policy.max_expected_multiple:g} times "
                        "the expected number); the order is refunded",
                        kind="no_match",
                    )
                done, _ = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    outcome = self._settle(self.tasks.pop(task), task)
                    if outcome is not None:
                        await self._stop_all()
                        await self._report(force=True)
                        return outcome
                await self._report(force=True)
        except asyncio.CancelledError:
            # The bot is shutting down. Durable chunks run on: the persisted state names them and the
            # next start re-attaches. Only chunks that die with this process are stopped here.
            if getattr(self.client, "durable", False):
                await self._stop_watching()
            else:
                await self._stop_all()
            raise
        except BaseException:
            await self._stop_all()
            raise

    async def _fill(self) -> None:
        while len(self.tasks) < self.policy.max_parallel:
            planned = self._planned_keys()
            if planned >= self.key_cap:
                return
            budget = max(
                1, min(int(self.rate_per_chunk * self.policy.chunk_seconds), MAX_BUDGET, self.key_cap - planned)
            )
            job = chunk_job(self.template, budget, self.policy.chunk_seconds * 2)
            try:
                job_id = await self.client.submit(job)
            except GrindingError as err:
                if err.code == "unavailable":
                    self._count_outage(err)
                else:
                    self._count_failure(err)
                return
            self._outage_since = None
            self._submit_backoff_s = RESUBMIT_DELAY_S
            chunk = RunningChunk(job_id=job_id, budget=budget, time_limit_s=job.time_limit_s)
            self.state = replace(self.state, running=(*self.state.running, chunk))
            self._watch(chunk)
            await self._report(force=True)  # the new job id must reach the service's store

    def _planned_keys(self) -> int:
        return self.state.checked + sum(chunk.budget for chunk in self.state.running)

    def _watch(self, chunk: RunningChunk) -> None:
        job = chunk_job(self.template, chunk.budget, chunk.time_limit_s)

        async def on_chunk_progress(progress: GrindProgress) -> None:
            self.live[chunk.job_id] = progress
            self._sample(chunk.job_id, progress)
            await self._report(force=False)

        task = asyncio.create_task(self.client.wait(chunk.job_id, job, on_chunk_progress))
        self.tasks[task] = chunk

    def _sample(self, job_id: str, progress: GrindProgress) -> None:
        """A chunk's rate between two of its reports: its first report's own rate is a start-up sample (the
        worker loading, the first small step), far below what the chunk then grinds at."""
        at = progress.elapsed_s if progress.elapsed_s is not None else time.monotonic()
        last = self.samples.get(job_id)
        self.samples[job_id] = (progress.checked, at)
        if last is not None and at > last[1] and progress.checked >= last[0]:
            self.steady[job_id] = (progress.checked - last[0]) / (at - last[1])

    def _measured_rate(self) -> float | None:
        """Keys per second across the running chunks, from measurements only; None until there is one.

        A chunk not yet measured counts at the mean of those that are (or at a finished chunk's rate)."""
        known = [self.steady[c.job_id] for c in self.state.running if c.job_id in self.steady]
        if not known and not self.rate_measured:
            return None
        each = sum(known) / len(known) if known else self.rate_per_chunk
        unknown = sum(1 for c in self.state.running if c.job_id not in self.steady)
        return sum(known) + unknown * each

    def _settle(self, chunk: RunningChunk, task: asyncio.Task[GrindResult]) -> OrderOutcome | None:
        self.live.pop(chunk.job_id, None)
        self.samples.pop(chunk.job_id, None)
        self.steady.pop(chunk.job_id, None)
        self.state = replace(self.state, running=tuple(c for c in self.state.running if c.job_id != chunk.job_id))
        try:
            result = task.result()
        except GrindingError as err:
            if err.code in ("lost", "cancelled"):
                # Gone without a failure of its own (expired, cancelled by someone else, a restart): grind anew.
                self.lost += 1
                log.info("order chunk %s was lost (%s); grinding a new one", chunk.job_id, err.message)
                if self.lost > self.policy.max_lost:
                    raise GrindingError(
                        "order_failed", f"{self.lost} chunks were lost; the order is refunded", kind="lost"
                    ) from err
            elif err.code == "unavailable":
                self._count_outage(err)
            else:
                self._count_failure(err)
            return None
        self.state = replace(
            self.state,
            checked=self.state.checked + result.checked,
            elapsed_s=self.state.elapsed_s + result.elapsed_s,
            chunks_done=self.state.chunks_done + 1,
        )
        if result.elapsed_s > 0 and result.checked > 0:
            self.rate_per_chunk = result.checked / result.elapsed_s
            self.rate_measured = True
        winner = next((hit for hit in result.results if hit.full), None)
        if winner is None:
            return None
        log.info(
            "order found %s after %d keys in %d chunks", winner.identifier, self.state.checked, self.state.chunks_done
        )
        return OrderOutcome(result=result, hit=winner, checked=self.state.checked, chunks=self.state.chunks_done)

    def _count_failure(self, err: GrindingError) -> None:
        if err.code == "rejected":
            raise GrindingError(
                "order_failed",
                f"the worker refused the order's job ({err.message}); the order is refunded",
                kind="refused",
            )
        self.state = replace(self.state, failures=self.state.failures + 1)
        log.warning(
            "order chunk failed (%d failures, %d allowed): %s",
            self.state.failures,
            self.policy.max_failures,
            err.message,
        )
        if self.state.failures > self.policy.max_failures:
            raise GrindingError(
                "order_failed",
                f"{self.state.failures} chunks failed (last: {err.message}); the order is refunded",
                kind="grinder_failed",
            )

    def _count_outage(self, err: GrindingError) -> None:
        """The provider could not be reached or did not take the job: wait it out, up to max_outage_s."""
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since = now
        self._submit_backoff_s = min(self._submit_backoff_s * 2, MAX_RESUBMIT_DELAY_S)
        log.warning("order chunk not started (%s); trying again in %.0f s", err.message, self._submit_backoff_s)
        if now - self._outage_since > self.policy.max_outage_s:
            raise GrindingError(
                "order_failed",
                f"the grinder was unavailable for over {self.policy.max_outage_s:.0f} s "
                f"({err.message}); the order is refunded",
                kind="unavailable",
            )

    async def _stop_watching(self) -> None:
        """Stop following the chunks without cancelling them (they keep running where they are)."""
        running = list(self.tasks)
        self.tasks.clear()
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def _stop_all(self) -> None:
        running = list(self.tasks.items())
        self.tasks.clear()
        for task, _ in running:
            task.cancel()
        await asyncio.gather(*(self.client.cancel(chunk.job_id) for _, chunk in running), return_exceptions=True)
        await asyncio.gather(*(task for task, _ in running), return_exceptions=True)
        self.state = replace(self.state, running=())

    async def _report(self, *, force: bool) -> None:
        now = time.monotonic()
        if self.on_progress is None or (not force and now - self.last_report < PROGRESS_INTERVAL_S):
            return
        self.last_report = now
        live = [self.live[c.job_id] for c in self.state.running if c.job_id in self.live]
        checked = self.state.checked + sum(p.checked for p in live)
        # The rate (and so the ETA) comes from measurements alone: until a chunk has been timed past its start-up,
        # the last known rate stands (none at first: the ETA waits rather than quote hours for minutes of work).
        measured = self._measured_rate() if self.state.running else None
        if measured is not None:
            self.last_rate = measured
        remaining = self.expected_keys - checked
        eta = remaining / self.last_rate if self.last_rate > 0 and remaining > 0 else None
        await notify(
            self.on_progress,
            OrderProgress(
                checked=checked,
                rate=self.last_rate,
                expected_keys=self.expected_keys,
                eta_s=eta,
                chunks_running=len(self.state.running),
                state=self.state,
            ),
        )
