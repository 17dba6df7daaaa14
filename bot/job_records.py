"""A job as stored: what was asked (JobSpec) and where it stands (JobRecord).

They live below the job engine (bot/jobs.py) so that what reads a job without driving it (delivery, the
step subscribers, the service's answers) does not import the engine (docs/architecture.md, Layers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.answers import CommunityRef, Origin, ShownKey, UserRef
from bot.ledger import utc_day
from bot.results import shown_key_from_json
from bot.storage import Row
from gpu_worker.job import MAX_TIME_LIMIT_S, GrindJob


@dataclass(frozen=True)
class JobSpec:
    """What was asked and paid for: fixed when the job is created, never changed after."""

    kind: str  # "pull" | "order"
    user: UserRef
    community: CommunityRef | None
    origin: Origin | None
    format_id: str
    pattern: str
    case_mode: str  # "insensitive" | "exact"
    fuzzy: bool
    split_pubkey: str | None
    count: int  # pulls in this job (1 or 10); 1 for orders
    budget: int  # keys per pull; for orders the total key budget before giving up
    expected_keys: float
    locale: str | None = None  # the language of its public messages (an order's progress), as placed


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
    error_kind: str | None = None  # a failure's kind, what people are told (bot/grinding/failures.py)

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
        return GrindJob.parse(
            {
                "v": 1,
                "format": s.format_id,
                "pattern": s.pattern,
                "case": s.case_mode,
                "fuzzy": s.fuzzy,
                "budget": budget,
                "stop": "full" if s.kind == "order" else "budget",
                "top": 1,
                "split_pubkey": s.split_pubkey,
                "pulls": pulls,
                "tag": self.job_id,  # providers' usage names the job
                "time_limit_s": MAX_TIME_LIMIT_S if s.kind == "order" else 3600.0,
            }
        )


def record_from_row(row: Row) -> JobRecord:
    """The record a `jobs` row (every column, as `SELECT *` reads it) stands for."""
    community = None
    if row["community_id"] is not None:
        community = CommunityRef(row["community_platform"], row["community_id"], row["community_title"])
    origin = None
    if row["origin"]:
        data = json.loads(row["origin"])
        origin = Origin(data["platform"], data["chat_id"], data.get("message_id"))
    result = json.loads(row["result"]) if row["result"] else None
    spec = JobSpec(
        kind=row["kind"],
        user=UserRef(row["platform"], row["user_id"], row["display_name"]),
        community=community,
        origin=origin,
        format_id=row["format"],
        pattern=row["pattern"],
        case_mode=row["case_mode"],
        fuzzy=bool(row["fuzzy"]),
        split_pubkey=row["split_pubkey"],
        count=row["count"],
        budget=row["budget"],
        expected_keys=row["expected_keys"],
        locale=row["locale"],
    )
    return JobRecord(
        job_id=row["job_id"],
        spec=spec,
        price=row["price"],
        free_pulls=row["free_pulls"],
        status=row["status"],
        backend=row["backend"],
        backend_job_id=row["backend_job_id"],
        keys_checked=row["keys_checked"],
        elapsed_s=row["elapsed_s"],
        result=result,
        error=row["error"],
        delivery_attempted_at=row["delivery_attempted_at"],
        delivered_at=row["delivered_at"],
        created_at=row["created_at"],
        error_kind=row["error_kind"],
    )


def cut_short_refund(record: JobRecord, checked: int, keys_due: int) -> dict[str, int] | None:
    """What a pull cut short by its time limit gives back: the unground share of its tokens (rounded down, so
    never more than was paid) and of its free pulls (to the nearest whole one: a free pull cut short at a
    quarter of its keys is given back whole). None for a pull that ground all its keys."""
    if checked >= keys_due or keys_due <= 0:
        return None
    unground = keys_due - max(0, checked)
    return {
        "tokens": record.price * unground // keys_due,
        "free_pulls": (2 * record.free_pulls * unground + keys_due) // (2 * keys_due),
        "ground_pct": 100 * max(0, checked) // keys_due,
    }
