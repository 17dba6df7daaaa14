"""Job leases on the database's own clock: who drives a job, and until when.

A lease measured on each process's wall clock lets a process whose clock runs
behind write leases that have already run out for its peers (they take its
live jobs over), or ones that never run out. Every lease here is written and
compared on one clock: PostgreSQL's `now()` (the server's, whatever host a
bot process runs on), or SQLite's, which reads the clock of the one machine
every process sharing the file runs on. `lease_until` holds seconds since the
epoch on that clock.

A renewal that changes no row means the lease is no longer ours: a peer took
the job over after this process stopped renewing (paused, or cut off from the
database), and this process must stop its work on that job.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.base import Database, Row

# Seconds since the epoch on the database's clock, per store.
_NOW = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "CAST(EXTRACT(EPOCH FROM now()) AS DOUBLE PRECISION)",
}
SETTLED = ("delivered", "refunded")


def clock_sql(db: Database) -> str:
    """The database's clock in seconds since the epoch, as an SQL expression for `db`'s dialect: every claim that
    several processes compare (leases, kept messages) is written and read on this one clock."""
    return _NOW[db.dialect]


@dataclass(frozen=True)
class Claim:
    """A job row's owner, lease end and status as read, with the database's clock at that moment."""

    owner: str | None  # the owner seen before the claim
    lease_until: float | None
    status: str
    now: float  # the database's clock when read
    row: Row  # the whole job row as read with it


class Leases:
    """This process's leases on the jobs it drives (owner + lease_until), on the database's clock.

    A lease lasts `lease_s` seconds from each renewal; a job whose lease ran out may be claimed by another owner.
    """

    def __init__(self, db: Database, owner: str, lease_s: float) -> None:
        self.db = db
        self.owner = owner
        self.lease_s = lease_s
        self.now_sql = clock_sql(db)

    def until_sql(self) -> str:
        """A fresh lease's end on the database's clock, `<now> + ?`, for a caller's own INSERT (pass `lease_s`)."""
        return f"{self.now_sql} + ?"

    def renew_sql(self) -> str:
        """`lease_until = <now> + ?` for a caller's own UPDATE (pass `lease_s` as its parameter)."""
        return f"lease_until = {self.now_sql} + ?"

    async def seen(self, job_id: str) -> Claim | None:
        """The job's row and its claim, with the database's clock, in one read."""
        row = await self.db.fetchone(f"SELECT *, {self.now_sql} AS now FROM jobs WHERE job_id = ?", (job_id,))
        if row is None:
            return None
        return Claim(row["owner"], row["lease_until"], row["status"], float(row["now"]), row)

    async def take(self, job_id: str, seen: Claim) -> bool:
        """Compare-and-set: the job becomes ours only if its owner and lease are still what `seen` read."""
        async with self.db.transaction() as tx:
            if seen.owner is None:
                changed = await tx.execute(
                    f"UPDATE jobs SET owner = ?, {self.renew_sql()} WHERE job_id = ? AND owner IS NULL",
                    (self.owner, self.lease_s, job_id),
                )
            else:
                changed = await tx.execute(
                    f"UPDATE jobs SET owner = ?, {self.renew_sql()} WHERE job_id = ? AND owner = ? "
                    "AND (lease_until IS NULL OR lease_until = ?)",
                    (self.owner, self.lease_s, job_id, seen.owner, seen.lease_until),
                )
        return changed == 1

    async def renew(self, job_id: str) -> bool:
        """Extend our lease on one job; False when it is no longer ours (taken over)."""
        async with self.db.transaction() as tx:
            return (
                await tx.execute(
                    f"UPDATE jobs SET {self.renew_sql()} WHERE job_id = ? AND owner = ?",
                    (self.lease_s, job_id, self.owner),
                )
                == 1
            )

    async def renew_all(self) -> None:
        """Extend by `lease_s` every unsettled job this owner holds (the periodic sweep)."""
        async with self.db.transaction() as tx:
            await tx.execute(
                f"UPDATE jobs SET {self.renew_sql()} WHERE owner = ? AND status NOT IN (?, ?)",
                (self.lease_s, self.owner, *SETTLED),
            )

    async def taken_from_us(self, job_ids: list[str]) -> dict[str, str]:
        """Of `job_ids` (jobs this process is driving), those another process now owns: job id -> owner."""
        if not job_ids:
            return {}
        marks = ",".join("?" * len(job_ids))
        rows = await self.db.fetchall(
            f"SELECT job_id, owner FROM jobs WHERE job_id IN ({marks}) AND owner IS NOT NULL AND owner <> ?",
            (*job_ids, self.owner),
        )
        return {r["job_id"]: r["owner"] for r in rows}

    async def up_for_takeover(self) -> list[Row]:
        """Unsettled jobs nobody live drives: no owner while not at rest, ours, or a lease run out.
        Found jobs without an owner are at rest (waiting for their platform's front end) and left alone."""
        return await self.db.fetchall(
            "SELECT job_id FROM jobs WHERE (status IN ('accepted', 'submitted', 'running', 'failed') "
            f"AND (owner IS NULL OR owner = ? OR lease_until < {self.now_sql})) "
            "OR (status = 'found' AND delivery_attempted_at IS NULL AND owner IS NOT NULL "
            f"AND (owner = ? OR lease_until < {self.now_sql})) ORDER BY created_at",
            (self.owner, self.owner),
        )

    async def release(self, job_id: str) -> None:
        """Give up this owner's lease on one job (no-op if another owner holds it)."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE jobs SET owner = NULL, lease_until = NULL WHERE job_id = ? AND owner = ?", (job_id, self.owner)
            )

    async def release_all(self) -> None:
        """Give up every lease this owner holds (clean shutdown: peers take the jobs over at once)."""
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE jobs SET owner = NULL, lease_until = NULL WHERE owner = ?", (self.owner,))
