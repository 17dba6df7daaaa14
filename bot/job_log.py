"""Each committed job step as one structured log line: a subscriber to the jobs' events (bot/job_events.py).

Every step is an INFO line, failures included (they are expected, and refunded): the console, which shows
warnings only, stays quiet, and alerts come from the metrics.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot import logs
from bot.job_records import JobRecord


class JobLog:
    """The `job.<step>` log line of every step (bot/logs.py: job id, user, provider job ids, kind, format)."""

    def job_step(self, step: str, record: JobRecord, fields: Mapping[str, Any]) -> None:
        """Log the committed `step` of `record` with its `fields` (a pattern and price on acceptance, the error on
        failure), as one INFO line through bot/logs.py (which redacts)."""
        spec = record.spec
        logs.event(
            f"job.{step}",
            job_id=record.job_id,
            user=logs.user_ref(spec.user.platform, spec.user.user_id),
            provider_job_id=provider_job_ids(record.backend_job_id),
            kind=spec.kind,
            format=spec.format_id,
            status=record.status,
            **_loggable(step, record, fields),
        )

    def job_failed(self, record: JobRecord, reason: str) -> None:
        """Nothing of its own: the failed step's line follows, with the error."""

    def provider_waited(
        self, provider: str, kind: str, *, round_trip_s: float | None = None, queue_wait_s: float | None = None
    ) -> None:
        """Nothing: waits are measured by the metrics, not logged."""


def _loggable(step: str, record: JobRecord, fields: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if step == "accepted":
        out.setdefault("pattern", record.spec.pattern)
        out.setdefault("price", record.price)
    if step in ("failed", "refunded") and record.error:
        out.setdefault("error", record.error)
    if step == "delivered" and record.delivered_at:
        out.setdefault("latency_s", round(record.delivered_at - record.created_at, 3))
    return out


def provider_job_ids(backend_job_id: str | None) -> str | None:
    """A pull stores its provider job ids as a JSON list; an order's chunks live in its order state."""
    if not backend_job_id:
        return None
    try:
        ids = json.loads(backend_job_id)
    except ValueError:
        return backend_job_id
    return ",".join(str(i) for i in ids) if isinstance(ids, list) else str(ids)
