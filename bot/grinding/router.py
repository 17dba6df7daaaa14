"""The router: one GrindingClient over several providers (RunPod, a self-hosted box, Modal), picked per job.

Order of preference for each submit:
0. a provider with a fixed number of slots (the self-hosted box) that has none free goes last: it is
   tried only when every other provider refused the job;
1. providers not cooling down after an error (a provider that failed a submit, or whose job waited
   too long in its queue, rests `cooldown_s` before it is tried first again);
2. a preferred provider (the self-hosted box) while it has room (fewer jobs in flight than its slots);
3. a provider whose queue (from its /health, read at most every `health_ttl_s`) is not backed up, and
   that holds fewer of our jobs than its `max_in_flight` (Modal, which has no /health);
4. the cheapest per GPU-second.
A job counts against its provider from the moment it is sent, not when the submit returns, and the
order is decided with no await between the choice and the reservation, so a burst of submits never
overfills the box. A submit that fails goes to the next provider (failover). A job whose provider
lost it or left it queued too long is reported `lost`, so the caller grinds it again, and the router
then picks another provider: failover mid-pull and mid-order. Every provider job that ends here
(collected, failed, given up on or cancelled) records its provider, GPU-seconds and cost through the
usage sink (bot/costs.py): the provider's own billed seconds where it reports them, else an estimate
marked as one. Job ids are "provider:inner id", so a restarted bot knows where to look.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gpu_worker.job import GrindJob, GrindResult

from .model import Billed, GrindingError, OrderPolicy, ProgressCallback
from .orders import ChunkedOrders

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Usage:
    """One provider job's use, recorded when it ends: GPU seconds, cost, outcome, and whether the
    seconds are estimated.
    """

    provider: str
    backend_job_id: str
    job_ref: str | None  # the bot's job id, when the job was tagged with it
    kind: str  # "pull" | "order"
    pulls: int
    gpu_s: float
    cost_usd: float
    outcome: str  # "completed" | "cancelled" | a GrindingError code
    estimated: bool = False  # the provider reported no billed seconds: gpu_s is the bot's estimate


class UsageSink(Protocol):
    """Where the router records each provider job's usage (the grind_usage table)."""

    async def record(self, usage: Usage) -> None:
        """Record one provider job's usage."""


class ProviderClient(Protocol):
    """A provider's grinding client, as the router drives it."""

    backend: str
    durable: bool

    async def submit(self, job: GrindJob) -> str:
        """Start the job at this provider; returns its id there."""

    async def wait(self, job_id: str, job: GrindJob, on_progress: ProgressCallback | None = None) -> GrindResult:
        """The job's verified result; GrindingError if it failed."""

    async def cancel(self, job_id: str) -> None:
        """Stop the job at this provider."""

    async def close(self) -> None:
        """Release the client's resources."""


@dataclass
class Provider:
    """One provider the router may send jobs to: its client, price, capacity, preference and job kinds."""

    name: str
    client: ProviderClient
    usd_per_gpu_s: float
    slots: int | None = None  # jobs it runs at once (a self-hosted box); None: elastic
    preferred: bool = False
    max_queue: int = 8  # queued jobs past which it counts as backed up
    health: Callable[[], Awaitable[Any]] | None = None  # returns something with jobs_in_queue
    kinds: tuple[str, ...] = ("pull", "order")  # which jobs it takes (a RunPod endpoint for orders only)
    max_in_flight: int | None = None  # our jobs there past which it counts as backed up (Modal: no /health)


class RouterGrindingClient(ChunkedOrders):
    """Sends each job to the best provider that can take it now, and grinds it elsewhere if that one fails.

    Job ids are "provider:inner id", so a restarted bot waits on each at the provider that has it; usage is recorded per
    provider job.
    """

    durable = True

    def __init__(
        self,
        providers: list[Provider],
        *,
        order_policy: OrderPolicy,
        cooldown_s: float = 30.0,
        health_ttl_s: float = 10.0,
        usage: UsageSink | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not providers:
            raise ValueError("the router needs at least one provider")
        names = [p.name for p in providers]
        if len(set(names)) != len(names) or any(":" in n for n in names):
            raise ValueError("provider names must be unique and contain no ':'")
        self.providers = {p.name: p for p in providers}
        self.backend = providers[0].name if len(providers) == 1 else "router"
        self.order_policy = order_policy
        self.cooldown_s = cooldown_s
        self.health_ttl_s = health_ttl_s
        self.usage = usage
        self.clock = clock
        self.in_flight: dict[str, set[str]] = {p.name: set() for p in providers}
        self._sends = itertools.count()
        # (provider, inner id) -> when sent (or first watched after a restart) and the job, until its usage row
        self._watched: dict[tuple[str, str], tuple[float, GrindJob]] = {}
        self._recording: set[asyncio.Future[None]] = set()  # usage rows being written (see _record)
        self.down_until: dict[str, float] = {}
        self._queues: dict[str, tuple[float, int]] = {}  # provider -> (read at, jobs in queue)
        self._warned_no_workers: set[str] = set()

    # --- choosing ----------------------------------------------------------------

    async def ranked(self, kind: str | None = None) -> list[Provider]:
        """The providers that take `kind` jobs (None: any), best first.

        Order: with room before full, not resting after a failure, preferred, not backed up, then cheapest.
        """
        candidates = [p for p in self.providers.values() if kind is None or kind in p.kinds]
        queues = dict(
            zip(
                (p.name for p in candidates),
                await asyncio.gather(*(self._queue_depth(p) for p in candidates)),
                strict=True,
            )
        )
        return self._order(candidates, queues)

    def _order(self, candidates: list[Provider], queues: dict[str, int]) -> list[Provider]:
        """The ranking as of now, from in-flight counts that include jobs still being sent (no await here)."""
        now = self.clock()

        def key(provider: Provider) -> tuple[bool, bool, bool, bool, float]:
            in_flight = len(self.in_flight[provider.name])
            has_room = provider.slots is None or in_flight < provider.slots
            resting = self.down_until.get(provider.name, 0.0) > now
            first_choice = provider.preferred and has_room
            backed_up = (
                queues.get(provider.name, 0) > provider.max_queue
                or not has_room
                or (provider.max_in_flight is not None and in_flight >= provider.max_in_flight)
            )
            return (not has_room, resting, not first_choice, backed_up, provider.usd_per_gpu_s)

        return sorted(candidates, key=key)

    async def _queue_depth(self, provider: Provider) -> int:
        if provider.health is None:
            return 0
        read_at, depth = self._queues.get(provider.name, (float("-inf"), 0))
        if self.clock() - read_at < self.health_ttl_s:
            return depth
        try:
            health = await asyncio.wait_for(provider.health(), 5.0)
            depth = int(getattr(health, "jobs_in_queue", 0))
            workers = int(getattr(health, "workers_idle", 0)) + int(getattr(health, "workers_running", 0))
            if workers == 0 and provider.name not in self._warned_no_workers:
                self._warned_no_workers.add(provider.name)
                log.warning(
                    "%s reports no workers: the next job waits for a cold start; if this lasts, check "
                    "the endpoint's max workers and GPU availability (docs/runpod.md)",
                    provider.name,
                )
        except Exception as exc:  # an unreadable health endpoint is a warning sign, not a verdict
            log.info("health of %s unreadable (%s)", provider.name, type(exc).__name__)
        self._queues[provider.name] = (self.clock(), depth)
        return depth

    async def check_health(self) -> None:
        """Read every provider's health now (at start-up), so an endpoint with no workers is warned about at
        once rather than at the first paid pull that waits for it."""
        self._queues.clear()
        await asyncio.gather(*(self._queue_depth(p) for p in self.providers.values()))

    def _rest(self, provider: str, why: str) -> None:
        self.down_until[provider] = self.clock() + self.cooldown_s
        log.warning("provider %s rests %.0f s: %s", provider, self.cooldown_s, why)

    # --- the client ----------------------------------------------------------------

    async def submit(self, job: GrindJob) -> str:
        """Submit to the first provider in rank order that takes the job; returns "provider:id".

        GrindingError("unavailable") naming each provider's problem when none takes it.
        """
        problems: list[str] = []
        kind = _kind(job)
        candidates = [p for p in self.providers.values() if kind in p.kinds]
        queues = dict(
            zip(
                (p.name for p in candidates),
                await asyncio.gather(*(self._queue_depth(p) for p in candidates)),
                strict=True,
            )
        )
        tried: set[str] = set()
        while True:
            # Chosen and reserved with no await in between: concurrent submits see each other's reservations.
            provider = next((p for p in self._order(candidates, queues) if p.name not in tried), None)
            if provider is None:
                break
            tried.add(provider.name)
            reservation = f"sending-{next(self._sends)}"  # unique: one job object may be sent many times
            self.in_flight[provider.name].add(reservation)
            try:
                inner = await provider.client.submit(job)
            except GrindingError as err:
                if err.code == "rejected":
                    raise
                self._rest(provider.name, err.message)
                problems.append(f"{provider.name}: {err.message}")
                continue
            finally:
                self.in_flight[provider.name].discard(reservation)
            self.in_flight[provider.name].add(inner)
            self._watched[(provider.name, inner)] = (self.clock(), job)
            return f"{provider.name}:{inner}"
        raise GrindingError("unavailable", "no grinding provider took the job (" + "; ".join(problems) + ")")

    async def wait(self, job_id: str, job: GrindJob, on_progress: ProgressCallback | None = None) -> GrindResult:
        """The job's verified result from the provider that has it; a provider that becomes unavailable has the job
        ground elsewhere.
        """
        provider, inner = self._split(job_id)
        self.in_flight[provider.name].add(inner)  # also after a restart
        self._watched.setdefault((provider.name, inner), (self.clock(), job))
        try:
            result = await provider.client.wait(inner, job, on_progress)
        except GrindingError as err:
            if err.code == "unavailable":  # queued too long or unreachable to its deadline: grind elsewhere
                self._rest(provider.name, err.message)
                await self._record(provider, inner, job, err.code)
                raise GrindingError(
                    "lost", f"{provider.name} did not run job {inner} in time; grinding it elsewhere"
                ) from None
            if err.code == "lost":
                self._rest(provider.name, err.message)
            await self._record(provider, inner, job, err.code)
            raise
        finally:
            self.in_flight[provider.name].discard(inner)
        await self._record(provider, inner, job, "completed", result)
        return result

    async def cancel(self, job_id: str) -> None:
        """Stop the job and record what it cost up to the moment the provider stopped it."""
        try:
            provider, inner = self._split(job_id)
        except GrindingError:
            return
        self.in_flight[provider.name].discard(inner)
        await provider.client.cancel(inner)
        watched = self._watched.get((provider.name, inner))
        if watched is not None:
            await self._record(provider, inner, watched[1], "cancelled")

    async def close(self) -> None:
        """Close every provider's client."""
        await asyncio.gather(*(p.client.close() for p in self.providers.values()), return_exceptions=True)

    def _split(self, job_id: str) -> tuple[Provider, str]:
        name, sep, inner = job_id.partition(":")
        provider = self.providers.get(name) if sep else None
        if provider is None:
            raise GrindingError("lost", f"job {job_id} belongs to no configured provider; grinding it again")
        return provider, inner

    async def _record(
        self, provider: Provider, inner: str, job: GrindJob, outcome: str, result: GrindResult | None = None
    ) -> None:
        """Record the job's usage, to the end even when the caller is cancelled meanwhile (an order whose other
        chunk won cancels this one's wait while it records): its watch is gone, so `cancel` would not record it,
        and the provider's bill would have no row. The cancel goes on once the row is written."""
        recording = asyncio.ensure_future(self._record_now(provider, inner, job, outcome, result))
        self._recording.add(recording)
        recording.add_done_callback(self._recording.discard)
        try:
            await asyncio.shield(recording)
        except asyncio.CancelledError:
            await asyncio.wait([recording])  # bounded: billed() waits 5 s at most, then one write
            raise

    async def _record_now(
        self, provider: Provider, inner: str, job: GrindJob, outcome: str, result: GrindResult | None
    ) -> None:
        watched = self._watched.pop((provider.name, inner), None)
        sent_at = watched[0] if watched is not None else None
        if self.usage is None:
            return
        try:
            billed = await self._billed(provider, inner, result, sent_at)
            usage = Usage(
                provider=provider.name,
                backend_job_id=inner,
                job_ref=(job.tag or None),
                kind=_kind(job),
                pulls=job.pulls,
                gpu_s=billed.gpu_s,
                cost_usd=billed.gpu_s * provider.usd_per_gpu_s,
                outcome=outcome,
                estimated=billed.estimated,
            )
            await self.usage.record(usage)
        except Exception as exc:  # bookkeeping must never fail a paid job
            log.warning("usage of %s job %s not recorded: %s", provider.name, inner, type(exc).__name__)

    async def _billed(
        self, provider: Provider, inner: str, result: GrindResult | None, sent_at: float | None
    ) -> Billed:
        """The provider's own billed seconds; where it gives none, the longer of the worker's grind time and
        the time since we sent (or, after a restart, first watched) the job: an upper bound, marked estimated."""
        reported = getattr(provider.client, "billed", None)
        if reported is not None:
            try:
                billed: Billed | None = await asyncio.wait_for(reported(inner), 5.0)
            except Exception:  # a provider that cannot answer now: estimate rather than lose the row
                billed = None
            if billed is not None:
                return billed
        waited = self.clock() - sent_at if sent_at is not None else 0.0
        return Billed(gpu_s=max(waited, result.elapsed_s if result is not None else 0.0), estimated=True)


def _kind(job: GrindJob) -> str:
    return "order" if job.stop == "full" else "pull"
