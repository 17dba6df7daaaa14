"""Payment events the bot would not honour (wrong amount, unknown pack, unusable metadata), kept for the operator.

The webhook answers Stripe 200 for these (a 500 would be retried for days) and
hands them here; each event is recorded once however often it arrives. The
operator settles them by hand (a refund in Stripe's dashboard, or a /grant)
and may mark them resolved.
"""

from __future__ import annotations

import time

from bot.storage import Database, Row
from payments.events import PaymentIssue


class PaymentIssues:
    """Stripe events that could not be credited, kept for the operator until resolved."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, issue: PaymentIssue) -> None:
        """Keep `issue` (once per event id; a retried event changes nothing)."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO payment_issues (event_id, event_type, stripe_id, reason, platform, user_id, amount_cents, "
                "currency, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                (
                    issue.event_id,
                    issue.event_type,
                    issue.stripe_id,
                    issue.reason[:500],
                    issue.platform,
                    issue.user_id,
                    issue.amount_cents,
                    issue.currency,
                    time.time(),
                ),
            )

    async def open_issues(self) -> list[Row]:
        """The unresolved issues, oldest first."""
        return await self.db.fetchall("SELECT * FROM payment_issues WHERE resolved_at IS NULL ORDER BY created_at")

    async def resolve(self, event_id: str) -> bool:
        """Mark the issue for `event_id` resolved; False if there is no open one."""
        async with self.db.transaction() as tx:
            return (
                await tx.execute(
                    "UPDATE payment_issues SET resolved_at = ? WHERE event_id = ? AND resolved_at IS NULL",
                    (time.time(), event_id),
                )
                == 1
            )
