"""A job as stored: what was asked (JobSpec) and where it stands (JobRecord).

They live below the job engine (bot/jobs.py) so that what reads a job without driving it (delivery, the
step subscribers, the service's answers) does not import the engine (docs/architecture.md, Layers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpu_worker.job import MAX_TIME_LIMIT_S, GrindJob

from bot.answers import CommunityRef, Origin, ShownKey, UserRef
from bot.ledger import utc_day
from bot.results import shown_key_from_json


@dataclass(frozen=True)
class JobSpec:
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
        return utc_day(self.created_at)

    @property
    def shown_keys(self) -> tuple[ShownKey, ...]:
        if not self.result:
            return ()
        return tuple(shown_key_from_json(k) for k in self.result["keys"])

    def grind_job(self, budget: int, *, pulls: int = 1) -> GrindJob:
        s = self.spec
        return GrindJob.parse({
            "v": 1, "format": s.format_id, "pattern": s.pattern, "case": s.case_mode, "fuzzy": s.fuzzy,
            "budget": budget, "stop": "full" if s.kind == "order" else "budget", "top": 1,
            "split_pubkey": s.split_pubkey, "pulls": pulls, "tag": self.job_id,  # providers' usage names the job
            "time_limit_s": MAX_TIME_LIMIT_S if s.kind == "order" else 3600.0,
        })
