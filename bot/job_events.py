"""One call per job step: its structured log line and its metrics (bot/jobs.py calls these after each commit)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from bot import logs, metrics

if TYPE_CHECKING:
    from bot.jobs import JobRecord

def reached(step: str, record: JobRecord, **fields: Any) -> JobRecord:
    """The job committed `step`: log it, count it, and hand the record back (so a step can `return reached(...)`).

    Every step is an INFO line, failures included (they are expected, and refunded): the console, which shows
    warnings only, stays quiet, and alerts come from the metrics."""
    spec = record.spec
    logs.event(f"job.{step}", job_id=record.job_id, user=logs.user_ref(spec.user.platform, spec.user.user_id),
               provider_job_id=provider_job_ids(record.backend_job_id), kind=spec.kind, format=spec.format_id,
               status=record.status, **_loggable(step, record, fields))
    metrics.job_step(step, record, keys_checked=int(fields.get("keys_checked", 0) or 0),
                     grind_s=float(fields.get("grind_s", 0.0) or 0.0))
    return record


def failed(record: JobRecord, reason: str) -> None:
    """Grinding failed with `reason` (an error code); the refund follows."""
    metrics.job_failed(record, reason)


def _loggable(step: str, record: JobRecord, fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if step == "accepted":
        out.setdefault("pattern", record.spec.pattern)
        out.setdefault("price", record.price)
    if step in ("failed", "refunded") and record.error:
        out.setdefault("error", record.error)
    if step == "delivered" and record.delivered_at:
        out.setdefault("latency_s", round(record.delivered_at - record.created_at, 3))
    return out


class ProviderTimer:
    """Round trip and queue wait of one wait on a provider (a pull's jobs, or an order's run)."""

    def __init__(self, provider: str, kind: str) -> None:
        self.provider = provider
        self.kind = kind
        self.started = time.monotonic()
        self._progressed = False

    def progressed(self) -> None:
        if not self._progressed:
            self._progressed = True
            metrics.provider_waited(self.provider, self.kind, queue_wait_s=time.monotonic() - self.started)

    def done(self) -> None:
        self.progressed()  # a job too quick to report progress waited no longer than its whole trip
        metrics.provider_waited(self.provider, self.kind, round_trip_s=time.monotonic() - self.started)


def provider_job_ids(backend_job_id: str | None) -> str | None:
    """A pull stores its provider job ids as a JSON list; an order's chunks live in its order state."""
    if not backend_job_id:
        return None
    try:
        ids = json.loads(backend_job_id)
    except ValueError:
        return backend_job_id
    return ",".join(str(i) for i in ids) if isinstance(ids, list) else str(ids)
