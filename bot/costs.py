"""What grinding costs: each provider job's GPU-seconds and dollars (grind_usage), beside what users paid.

    vanikeys costs [--days 7]

The router (bot/grinding/router.py) records one row per provider job that ends, through
`UsageLog`: collected, failed, given up on, or cancelled (an order's other chunks once one wins),
each with the seconds the provider itself billed (RunPod's executionTime, the self-hosted box's own
ledger) or, where it reports none (Modal), the bot's upper-bound estimate, marked estimated. The
report sums them per kind (pull, order) and provider, and divides by the pulls and orders settled in
the same days; revenue is the tokens charged less refunds (the ledger), in dollars when
VANIKEYS_USD_PER_TOKEN is set. Idle time before a provider scales down is not in any row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot import metrics
from bot.grinding.router import Usage
from bot.storage import Database
from gpu_worker.i18n import N_, _, fixed, gettext_now, ngettext, number

KINDS = {"pull": N_("pull"), "order": N_("order")}  # grind_usage.kind, as the report names it


class UsageLog:
    """The router's usage sink: one row per (provider, provider job), recorded once."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, usage: Usage) -> None:
        """Count the usage in metrics and insert its row; a (provider, job) already recorded is left as it was.

        Raises the storage's errors if the insert cannot commit.
        """
        metrics.provider_usage(usage)
        job_ref = usage.job_ref.split("-", 1)[0] if usage.job_ref else None  # the tag's bot job id part
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO grind_usage (provider, backend_job_id, job_ref, kind, pulls, gpu_s, cost_usd, outcome, "
                "estimated, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    usage.provider,
                    usage.backend_job_id,
                    job_ref,
                    usage.kind,
                    usage.pulls,
                    usage.gpu_s,
                    usage.cost_usd,
                    usage.outcome,
                    int(usage.estimated),
                    time.time(),
                ),
            )


@dataclass(frozen=True)
class ProviderCost:
    """One provider's jobs of one kind over the report's days: their count, GPU-seconds and dollars."""

    provider: str
    kind: str
    jobs: int
    gpu_s: float
    cost_usd: float
    estimated_gpu_s: float = 0.0  # the part of gpu_s the provider did not report (the bot's estimate)


@dataclass(frozen=True)
class CostReport:
    """`vanikeys costs`: GPU cost per provider and kind over some days, beside the pulls, orders and revenue settled.

    Pulls and orders are jobs created in those days now found or delivered; revenue is their tokens less refunds.
    """

    days: float
    by_provider: list[ProviderCost]
    pulls: int  # pulls delivered or found (a 10-pull counts 10)
    orders: int  # orders delivered or found
    revenue_tokens: int  # tokens charged for pulls and orders, less refunds
    usd_per_token: float | None

    def cost(self, kind: str) -> float:
        """The dollars recorded for provider jobs of `kind` ("pull" or "order"), all providers together."""
        return sum(row.cost_usd for row in self.by_provider if row.kind == kind)

    @property
    def cost_per_pull(self) -> float | None:
        """Dollars per pull settled, or None when no pull was."""
        return self.cost("pull") / self.pulls if self.pulls else None

    @property
    def cost_per_order(self) -> float | None:
        """Dollars per order settled, or None when no order was."""
        return self.cost("order") / self.orders if self.orders else None

    def render(self) -> str:
        """The report as plain text lines for the terminal, in the current locale."""
        lines = [ngettext("grinding costs over the last {n} day", "grinding costs over the last {n} days", self.days)]
        if not self.by_provider:
            lines.append("  " + _("no provider jobs recorded (the local backend costs no GPU time)"))
        for row in self.by_provider:
            jobs = ngettext("{n} job", "{n} jobs", row.jobs, n=number(row.jobs).rjust(7))
            gpu = _("{seconds} GPU-s", seconds=fixed(row.gpu_s, 1).rjust(12))
            line = f"  {row.provider:<11} {gettext_now(KINDS.get(row.kind, row.kind)):<5} {jobs} {gpu} "
            line += "$" + fixed(row.cost_usd, 4).rjust(10)
            if row.estimated_gpu_s:
                line += " " + _("({seconds} estimated)", seconds=fixed(row.estimated_gpu_s, 1))
            lines.append(line)
        per_pull = _("n/a") if self.cost_per_pull is None else "$" + fixed(self.cost_per_pull, 5)
        per_order = _("n/a") if self.cost_per_order is None else "$" + fixed(self.cost_per_order, 4)
        lines.append(
            "  "
            + _(
                "pulls: {pulls} at {per_pull} each; orders: {orders} at {per_order} each",
                pulls=number(self.pulls),
                per_pull=per_pull,
                orders=number(self.orders),
                per_order=per_order,
            )
        )
        total = self.cost("pull") + self.cost("order")
        revenue = ngettext("{n} token", "{n} tokens", self.revenue_tokens)
        if self.usd_per_token is not None:
            revenue += " ($" + fixed(self.revenue_tokens * self.usd_per_token, 2) + ")"
        lines.append(
            "  " + _("total GPU cost {total}; revenue {revenue}", total="$" + fixed(total, 4), revenue=revenue)
        )
        return "\n".join(lines)


async def cost_report(db: Database, days: float, *, usd_per_token: float | None = None) -> CostReport:
    """The report over the last `days` days, from grind_usage, jobs and the ledger (read only)."""
    since = time.time() - days * 86400
    rows = await db.fetchall(
        "SELECT provider, kind, COUNT(*) AS jobs, SUM(gpu_s) AS gpu_s, SUM(cost_usd) AS cost, "
        "SUM(CASE WHEN estimated = 1 THEN gpu_s ELSE 0 END) AS estimated_s FROM grind_usage "
        "WHERE at >= ? GROUP BY provider, kind ORDER BY provider, kind",
        (since,),
    )
    settled = await db.fetchall(
        "SELECT kind, COALESCE(SUM(count), 0) AS pulls, COUNT(*) AS jobs FROM jobs "
        "WHERE status IN ('found', 'delivered') AND created_at >= ? GROUP BY kind",
        (since,),
    )
    by_kind = {r["kind"]: r for r in settled}
    revenue = await db.fetchone(
        "SELECT COALESCE(-SUM(tokens), 0) AS tokens FROM ledger WHERE kind IN ('pull', 'order', 'refund') "
        "AND job_id IN (SELECT job_id FROM jobs WHERE created_at >= ?)",
        (since,),
    )
    return CostReport(
        days=days,
        by_provider=[
            ProviderCost(
                r["provider"],
                r["kind"],
                int(r["jobs"]),
                float(r["gpu_s"] or 0),
                float(r["cost"] or 0),
                float(r["estimated_s"] or 0),
            )
            for r in rows
        ],
        pulls=int(by_kind["pull"]["pulls"]) if "pull" in by_kind else 0,
        orders=int(by_kind["order"]["jobs"]) if "order" in by_kind else 0,
        revenue_tokens=int(revenue["tokens"]) if revenue else 0,
        usd_per_token=usd_per_token,
    )
