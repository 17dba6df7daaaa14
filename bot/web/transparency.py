"""The transparency report: the odds model's tier shares beside what pulls actually got, from aggregates only.

For every settled pull (a 10-pull counts ten) the model's chance of each tier at
that pull's own pattern and budget is added up: the expected count. The observed
count is how many pulls' best keys landed in the tier. Nothing per person, per
key or per balance leaves this module: only counts, shares and intervals.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from bot.i18n import N_, _
from bot.odds_cache import OddsCache
from bot.results import TIER_ORDER
from bot.storage import Database
from bot.web.stats import tier_chances, wilson
from bot.web.svg import ChartRow, tier_chart
from gpu_worker.errors import VanikeysError
from gpu_worker.humanize import tier_name
from gpu_worker.i18n import gettext_now
from gpu_worker.patterns import parse_pattern

log = logging.getLogger(__name__)

MAX_PULL_JOBS = 20_000  # the newest settled pull jobs the report reads
CACHE_S = 300.0
USAGE_DAYS = 7.0

# A refund's reason as a category: the job's error text is free-form and never shown as such.
# The labels are English here and translated where the page shows them.
REFUND_REASONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (N_("verification failed"), ("verif",)),
    (
        N_("provider unavailable"),
        ("unavailable", "no worker", "provider", "endpoint", "runpod", "modal", "self-hosted"),
    ),
    (N_("time limit reached"), ("time limit", "timed out", "timeout", "too long")),
    (N_("order gave up"), ("gave up", "give up", "attempt")),
    (N_("grinder error"), ("grinder", "failed")),
)
OTHER_REASON = N_("other")
ALL_FORMATS = N_("All formats")


@dataclass(frozen=True)
class TierLine:
    """One tier's row: pulls observed and expected, the shares, and the observed share's Wilson interval."""

    tier: str
    observed: int
    expected: float
    share: float
    predicted: float
    low: float
    high: float

    @property
    def consistent(self) -> bool:
        """Whether the predicted share lies inside the observed share's interval."""
        return self.low <= self.predicted <= self.high


@dataclass(frozen=True)
class TierTable:
    """The tier rows for one group of pulls (all, or one format), and their chart drawn in the reader's language."""

    title: str  # ALL_FORMATS or a format id
    pulls: int
    lines: tuple[TierLine, ...]

    @property
    def shown_title(self) -> str:
        """The title in the current locale (a format id stays as it is)."""
        return gettext_now(self.title) if self.title == ALL_FORMATS else self.title

    @property
    def svg(self) -> str:
        """The chart of predicted against observed shares, its words in the current locale (the report is cached for
        every reader; the chart is drawn for each)."""
        return tier_chart(
            [ChartRow(tier_name(t.tier), t.predicted, t.share, t.low, t.high) for t in self.lines],
            _("{title}: predicted and observed share of pulls per tier", title=self.shown_title),
        )


@dataclass(frozen=True)
class ProviderLine:
    """How many jobs one provider took and how many it completed."""

    provider: str
    jobs: int
    completed: int

    @property
    def share(self) -> float:
        """Completed jobs as a share of those taken (0.0 with none)."""
        return self.completed / self.jobs if self.jobs else 0.0


@dataclass(frozen=True)
class Report:
    """The transparency page's content: tier tables, refunds by reason, providers, when it was built."""

    overall: TierTable
    by_format: tuple[TierTable, ...]
    refunds: tuple[tuple[str, int], ...]
    providers: tuple[ProviderLine, ...]
    backend: str
    generated_at: float
    skipped: int = 0  # pulls whose pattern no longer parses (left out of both sides)
    notes: tuple[str, ...] = field(default_factory=tuple)


def refund_reason(error: str | None) -> str:
    """The refund reason label a job's error text falls under, or "other"."""
    text = (error or "").lower()
    for label, words in REFUND_REASONS:
        if any(word in text for word in words):
            return label
    return OTHER_REASON


async def build_report(db: Database, odds_cache: OddsCache, backend: str) -> Report:
    """Build the report from the latest MAX_PULL_JOBS delivered pulls (odds from `odds_cache`)."""
    rows = await db.fetchall(
        "SELECT format, pattern, case_mode, fuzzy, budget, result FROM jobs WHERE kind = 'pull' "
        "AND status IN ('found', 'delivered') AND result IS NOT NULL ORDER BY created_at DESC LIMIT ?",
        (MAX_PULL_JOBS,),
    )
    observed: dict[str, Counter[str]] = defaultdict(Counter)
    expected: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(TIER_ORDER, 0.0))
    chances_for: dict[tuple[str, str, str, bool, int], dict[str, float]] = {}
    skipped = 0
    for row in rows:
        spec = (row["format"], row["pattern"], row["case_mode"], bool(row["fuzzy"]), int(row["budget"]))
        chances = chances_for.get(spec)
        if chances is None:
            try:
                pattern = parse_pattern(spec[0], spec[1], case=spec[2], fuzzy=spec[3])
            except VanikeysError:
                skipped += 1
                continue
            chances = tier_chances(await odds_cache.get(pattern), spec[4])
            chances_for[spec] = chances
        keys = json.loads(row["result"]).get("keys", [])
        for key in keys:
            tier = str(key.get("tier", ""))
            if tier not in TIER_ORDER:
                continue
            for scope in ("all", spec[0]):
                observed[scope][tier] += 1
                for name, chance in chances.items():
                    expected[scope][name] += chance
        await asyncio.sleep(0)  # a long report never holds the event loop in one go
    overall = _table(ALL_FORMATS, observed["all"], expected["all"])
    formats = tuple(_table(fmt, observed[fmt], expected[fmt]) for fmt in sorted(k for k in observed if k != "all"))
    refund_rows = await db.fetchall(
        "SELECT error, COUNT(*) AS n FROM jobs WHERE status = 'refunded' GROUP BY error", ()
    )
    refunds: Counter[str] = Counter()
    for row in refund_rows:
        refunds[refund_reason(row["error"])] += int(row["n"])
    usage_rows = await db.fetchall(
        "SELECT provider, COUNT(*) AS n, SUM(CASE WHEN outcome = 'completed' THEN 1 ELSE 0 END) AS ok "
        "FROM grind_usage WHERE at >= ? GROUP BY provider ORDER BY provider",
        (time.time() - USAGE_DAYS * 86400,),
    )
    providers = tuple(ProviderLine(str(r["provider"]), int(r["n"]), int(r["ok"] or 0)) for r in usage_rows)
    return Report(
        overall=overall,
        by_format=formats,
        refunds=tuple(sorted(refunds.items(), key=lambda kv: -kv[1])),
        providers=providers,
        backend=backend,
        generated_at=time.time(),
        skipped=skipped,
    )


def _table(title: str, observed: Counter[str], expected: dict[str, float]) -> TierTable:
    pulls = sum(observed.values())
    lines = []
    for tier in TIER_ORDER:
        count = observed[tier]
        low, high = wilson(count, pulls)
        lines.append(
            TierLine(
                tier=tier,
                observed=count,
                expected=expected[tier],
                share=count / pulls if pulls else 0.0,
                predicted=expected[tier] / pulls if pulls else 0.0,
                low=low,
                high=high,
            )
        )
    return TierTable(title=title, pulls=pulls, lines=tuple(lines))


class ReportCache:
    """The report, rebuilt at most every CACHE_S seconds, by one request at a time."""

    def __init__(self, db: Database, odds_cache: OddsCache, backend: str, ttl_s: float = CACHE_S) -> None:
        self.db, self.odds_cache, self.backend, self.ttl_s = db, odds_cache, backend, ttl_s
        self._report: Report | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Report:
        """The report, rebuilt when it is older than `ttl_s` (one build at a time)."""
        async with self._lock:
            if self._report is None or time.time() - self._report.generated_at > self.ttl_s:
                self._report = await build_report(self.db, self.odds_cache, self.backend)
            return self._report
