"""What a job step tells the rest of the bot once it commits: the observer interface at the jobs' own level.

bot/jobs.py publishes every committed step (accepted, submitted, running, found, delivered, undelivered,
delivery_deferred, failed, refunded), each grinding failure's reason and each wait on a provider through
its `JobEvents`. Subscribers implement `StepSubscriber`: the step's log line (bot/job_log.py) and its
metrics (bot/metrics.py), wired once where the jobs are built (bot/app.py). The engine knows neither, and
they know only a `JobRecord` (bot/job_records.py), which holds no secret.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from bot.job_records import JobRecord


class StepSubscriber(Protocol):
    """What hears the jobs' committed steps (the log line, the metrics).

    Each method is called synchronously by the step that committed, so it must be quick: an exception
    propagates into that step.
    """

    def job_step(self, step: str, record: JobRecord, fields: Mapping[str, Any]) -> None:
        """The job committed `step`; `fields` are what the step adds (keys_checked, grind_s, tokens ...)."""

    def job_failed(self, record: JobRecord, reason: str) -> None:
        """Grinding failed with `reason` (an error code, or grinder_error); the failed step and the refund follow."""

    def provider_waited(
        self, provider: str, kind: str, *, round_trip_s: float | None = None, queue_wait_s: float | None = None
    ) -> None:
        """One wait on a provider: until its first progress (queue_wait_s), or until its result (round_trip_s)."""


class JobEvents:
    """The jobs' publisher: each event goes to every subscriber, in the order they subscribed."""

    def __init__(self, *subscribers: StepSubscriber) -> None:
        self._subscribers = list(subscribers)

    def subscribe(self, subscriber: StepSubscriber) -> None:
        """Add `subscriber` after the existing ones: it hears events from now on."""
        self._subscribers.append(subscriber)

    def reached(self, step: str, record: JobRecord, **fields: Any) -> JobRecord:
        """The job committed `step`: tell every subscriber, and hand the record back (so a step can
        `return self.events.reached(...)`)."""
        for subscriber in self._subscribers:
            subscriber.job_step(step, record, fields)
        return record

    def failed(self, record: JobRecord, reason: str) -> None:
        """Grinding failed with `reason`: tell every subscriber, in order."""
        for subscriber in self._subscribers:
            subscriber.job_failed(record, reason)

    def provider_timer(self, provider: str, kind: str) -> ProviderTimer:
        """A timer for one wait on `provider` (a pull's jobs, or an order's run)."""
        return ProviderTimer(self, provider, kind)

    def provider_waited(
        self, provider: str, kind: str, *, round_trip_s: float | None = None, queue_wait_s: float | None = None
    ) -> None:
        """Tell every subscriber about one wait on `provider` (ProviderTimer sets one of round_trip_s, queue_wait_s a
        call)."""
        for subscriber in self._subscribers:
            subscriber.provider_waited(provider, kind, round_trip_s=round_trip_s, queue_wait_s=queue_wait_s)


class ProviderTimer:
    """Round trip and queue wait of one wait on a provider (a pull's jobs, or an order's run)."""

    def __init__(self, events: JobEvents, provider: str, kind: str) -> None:
        self.events = events
        self.provider = provider
        self.kind = kind
        self.started = time.monotonic()
        self._progressed = False

    def progressed(self) -> None:
        """Note the first progress: the first call reports the queue wait; later calls do nothing."""
        if not self._progressed:
            self._progressed = True
            self.events.provider_waited(self.provider, self.kind, queue_wait_s=time.monotonic() - self.started)

    def done(self) -> None:
        """Note the result: report the queue wait if no progress came first, then the round trip."""
        self.progressed()  # a job too quick to report progress waited no longer than its whole trip
        self.events.provider_waited(self.provider, self.kind, round_trip_s=time.monotonic() - self.started)
