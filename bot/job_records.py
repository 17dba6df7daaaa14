"""A job as stored: what was asked (JobSpec) and where it stands (JobRecord).

They live below the job engine (bot/jobs.py) so that what reads a job without driving it (delivery, the
step subscribers, the service's answers) does not import the engine (docs/architecture.md, Layers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.answers import CommunityRef, Origin, ShownKey, UserRef
from bot.ledger import utc_day
from bot.results import shown_key_from_json
from gpu_worker.job import MAX_TIME_LIMIT_S, GrindJob


@dataclass(frozen=True)
class JobSpec:
    """What was asked and paid for: fixed when the job is created, never changed after."""

    kind: str                    # "pull" | "order"
    user: UserRef
    community: CommunityRef | None
    origin: Origin | None
    format_id: str
    pattern: str
    case_mode: str               # "insensitive" | "exact"
    fuzzy: bool
    split_pubkey: str | None
    count: int                   # pulls in this job (1 or 10); 1 for orders
    budget: int                  # keys per pull; for orders the total key budget before giving up
    expected_keys: float


@dataclass(frozen=True)
class JobRecord:
    """A job's row as last read: its spec, price and where it stands (status, provider, progress, result)."""

    job_id: str
    spec: JobSpec
    price: int
    free_pulls: int
    status: str
    backend: str
    backend_job_id: str | None
    keys_checked: int
    elapsed_s: float
    result: dict[str, Any] | None
    error: str | None
    delivery_attempted_at: float | None
    delivered_at: float | None
    created_at: float

    @property
    def day(self) -> str:
        """The UTC day (YYYY-MM-DD) the job was created on: the day its charge and any refund count against."""
        return utc_day(self.created_at)

    @property
    def shown_keys(self) -> tuple[ShownKey, ...]:
        """The verified hits as shown in a channel (no secrets), best first; empty before a result."""
        if not self.result:
            return ()
        return tuple(shown_key_from_json(k) for k in self.result["keys"])

    def grind_job(self, budget: int, *, pulls: int = 1) -> GrindJob:
        """The wire job for this spec: `budget` keys for each of `pulls` pulls (an order stops at a full match)."""
        s = self.spec
        return GrindJob.parse({
            "v": 1, "format": s.format_id, "pattern": s.pattern, "case": s.case_mode, "fuzzy": s.fuzzy,
            "budget": budget, "stop": "full" if s.kind == "order" else "budget", "top": 1,
            "split_pubkey": s.split_pubkey, "pulls": pulls, "tag": self.job_id,  # providers' usage names the job
            "time_limit_s": MAX_TIME_LIMIT_S if s.kind == "order" else 3600.0,
        })
