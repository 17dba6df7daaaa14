"""The SQL of the job state machine (bot/jobs.py), as named queries.

Written once, SQLite-style (`?` placeholders); the PostgreSQL store translates
each statement (bot/storage/sql.py), so both stores run exactly these. Every
state change is conditional on the state it leaves (`move`), so a step that
lost a race to another process changes nothing and reads back no row.
"""

from __future__ import annotations

import functools

_INSERT_JOB = (
    "INSERT INTO jobs (job_id, kind, platform, user_id, display_name, community_platform, community_id, "
    "community_title, origin, format, pattern, case_mode, fuzzy, split_pubkey, count, budget, price, "
    "free_pulls, status, expected_keys, owner, lease_until, created_at, updated_at, locale) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'accepted', ?, ?, {lease_until}, ?, ?, ?) "
    "RETURNING *"
)
JOB = "SELECT * FROM jobs WHERE job_id = ?"
LOG_STEP = "INSERT INTO job_steps (job_id, status, at) VALUES (?, ?, ?)"

# Jobs a restart drives on: unsettled, or found and never offered to anyone.
UNSETTLED = (
    "SELECT job_id FROM jobs WHERE status IN ('accepted', 'submitted', 'running', 'failed') "
    "OR (status = 'found' AND delivery_attempted_at IS NULL) ORDER BY created_at"
)
UNOFFERED_ON_PLATFORM = (
    "SELECT job_id FROM jobs WHERE status = 'found' AND delivery_attempted_at IS NULL AND platform = ?"
)

ORDER_STATE = "SELECT order_state FROM jobs WHERE job_id = ?"
KEYS_CHECKED = "SELECT keys_checked FROM jobs WHERE job_id = ?"
# The progress of a running order, kept only by its owner; renews the lease in the same statement.
SAVE_ORDER_PROGRESS = (
    "UPDATE jobs SET order_state = ?, keys_checked = ?, {renew}, updated_at = ? "
    "WHERE job_id = ? AND status = 'running' AND owner = ?"
)
RESUBMITTED = "UPDATE jobs SET backend_job_id = ? WHERE job_id = ? AND status = 'running'"

ATTEMPT_DELIVERY_ONCE = (
    "UPDATE jobs SET delivery_attempted_at = ? WHERE job_id = ? AND status = 'found' AND delivery_attempted_at IS NULL"
)
ATTEMPT_DELIVERY_AGAIN = "UPDATE jobs SET delivery_attempted_at = ? WHERE job_id = ? AND status = 'found'"
DEFER_DELIVERY = "UPDATE jobs SET delivery_attempted_at = NULL WHERE job_id = ? AND status = 'found'"

# Settled jobs past the retention period: their step logs, and refunded jobs themselves (never a sealed secret).
_SETTLED_BEFORE = (
    "SELECT job_id FROM jobs WHERE status IN ('delivered', 'refunded') AND updated_at < ? "
    "AND NOT EXISTS (SELECT 1 FROM vault v WHERE v.job_id = jobs.job_id AND v.ciphertext IS NOT NULL)"
)
PRUNE_STEPS = f"DELETE FROM job_steps WHERE job_id IN ({_SETTLED_BEFORE})"
PRUNE_REFUNDED = (
    "DELETE FROM jobs WHERE status = 'refunded' AND updated_at < ? "
    "AND NOT EXISTS (SELECT 1 FROM vault v WHERE v.job_id = jobs.job_id) "
    "AND NOT EXISTS (SELECT 1 FROM job_steps s WHERE s.job_id = jobs.job_id)"
)


@functools.lru_cache(maxsize=4)
def insert_job(lease_until_sql: str) -> str:
    """A new job, leased to its creator: `lease_until_sql` is the store's lease end (bot/storage/leases.py),
    so the row is written with its lease in one statement."""
    return _INSERT_JOB.format(lease_until=lease_until_sql)


@functools.lru_cache(maxsize=64)
def for_user(statuses: int) -> str:
    """A user's jobs in any of `statuses` states (that many `?`), oldest first."""
    marks = ",".join("?" * statuses)
    return f"SELECT * FROM jobs WHERE platform = ? AND user_id = ? AND status IN ({marks}) ORDER BY created_at"


@functools.lru_cache(maxsize=64)
def move(columns: tuple[str, ...]) -> str:
    """Move one job to a new state, setting `columns` too, only if it is still in the state it leaves:
    parameters (new status, updated_at, *column values, job_id, old status); the row as it now stands."""
    sets = "".join(f", {name} = ?" for name in columns)
    return f"UPDATE jobs SET status = ?, updated_at = ?{sets} WHERE job_id = ? AND status = ? RETURNING *"


@functools.lru_cache(maxsize=4)
def save_order_progress(renew_sql: str) -> str:
    """An order's progress: parameters (order state, keys checked, lease seconds, updated_at, job_id, owner),
    `renew_sql` being the store's lease renewal (bot/storage/leases.py)."""
    return SAVE_ORDER_PROGRESS.format(renew=renew_sql)
