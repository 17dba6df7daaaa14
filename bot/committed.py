"""What committed when storage failed under a command, in the words people are told.

A fault before a command's first commit changed nothing; a fault after it
leaves the charge standing (the job then finishes or is refunded by itself,
bot/jobs.py); a fault at the commit itself (a connection lost while COMMIT
travels) leaves it unknown until storage is read back. So the answer is never
a fixed string: it is built from what is known, and where the fault leaves
that unknown, from reading storage back (a few tries over about a second);
only when storage still cannot answer does it say "unknown", with what to do
meanwhile (never "try again", which could pay twice).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.answers import Committed
from bot.command_refs import commands
from bot.storage import Database, Row, StorageUnavailable
from gpu_worker.i18n import N_, _, ngettext

T = TypeVar("T")

READ_BACK_DELAYS_S = (0.0, 0.25, 0.75)  # a transient fault (a reconnect, a lock) often clears within a second


class FaultAnswer(StorageUnavailable):
    """A storage fault under a command, answered with what actually committed (`committed`, and in the message).

    code stays "storage_unavailable"; job_id names the job that was charged, when there is one."""

    def __init__(self, why: str, committed: Committed, message: str, *, job_id: str | None = None) -> None:
        super().__init__(why)
        self.committed = committed
        self.message = message
        self.args = (message,)
        self.job_id = job_id


async def read_back(read: Callable[[], Awaitable[T]]) -> T:
    """`read()` after a fault, retried briefly; StorageUnavailable when storage still cannot answer."""
    last: StorageUnavailable | None = None
    for delay in READ_BACK_DELAYS_S:
        if delay:
            await asyncio.sleep(delay)
        try:
            return await read()
        except StorageUnavailable as exc:
            last = exc
    assert last is not None
    raise last


async def job_created_after(
    db: Database,
    *,
    owner: str,
    platform: str,
    user_id: str,
    kind: str,
    format_id: str,
    pattern: str,
    since: float,
    exclude: set[str],
) -> Row | None:
    """The job a create that failed at its commit may have left: this process's (owner), this person's, this
    pattern's, created since the attempt began, not one already accounted for."""
    rows = await db.fetchall(
        "SELECT job_id, price, free_pulls, status FROM jobs WHERE owner = ? AND platform = ? AND user_id = ? "
        "AND kind = ? AND format = ? AND pattern = ? AND created_at >= ? ORDER BY created_at",
        (owner, platform, user_id, kind, format_id, pattern, since),
    )
    return next((row for row in rows if row["job_id"] not in exclude), None)


async def job_status(db: Database, job_id: str) -> str | None:
    """The job's status; "found-attempted" for a found key whose one automatic delivery was already tried
    (it is never sent twice by itself: /keys gets it)."""
    row = await db.fetchone("SELECT status, delivery_attempted_at FROM jobs WHERE job_id = ?", (job_id,))
    if row is None:
        return None
    attempted = row["status"] == "found" and row["delivery_attempted_at"] is not None
    return "found-attempted" if attempted else str(row["status"])


async def ledger_row(db: Database, idempotency_key: str) -> Row | None:
    """The ledger row written under `idempotency_key`, or None: whether a charge committed."""
    return await db.fetchone(
        "SELECT tokens, debt_change, balance_after FROM ledger WHERE idempotency_key = ?", (idempotency_key,)
    )


def paid(price: int, free_pulls: int) -> str:
    """ "1 token", "2 free pulls", "10 tokens and 1 free pull"."""
    parts = []
    if price:
        parts.append(ngettext("{n} token", "{n} tokens", price))
    if free_pulls:
        parts.append(ngettext("{n} free pull", "{n} free pulls", free_pulls))
    return _(" and ").join(parts) or _("nothing")


# (status, kind) -> what committed and how to say it; the words name the pull or the order, so each language can
# say it its own way (a pull and an order differ in gender in most of them).
_JOB_WORDS: dict[tuple[str, str], tuple[Committed, str]] = {
    ("refunded", "pull"): ("refunded", N_("your pull failed and was refunded ({cost})")),
    ("refunded", "order"): ("refunded", N_("your order failed and was refunded ({cost})")),
    ("failed", "pull"): (
        "charged",
        N_(
            "your pull failed after it was charged ({cost}): the refund is made by itself "
            "as soon as the bot's database is back"
        ),
    ),
    ("failed", "order"): (
        "charged",
        N_(
            "your order failed after it was charged ({cost}): the refund is made by "
            "itself as soon as the bot's database is back"
        ),
    ),
    ("delivered", "pull"): ("charged", N_("your pull was charged ({cost}) and its key was sent to you privately")),
    ("delivered", "order"): ("charged", N_("your order was charged ({cost}) and its key was sent to you privately")),
    ("found-attempted", "pull"): (
        "charged",
        N_(
            "your pull was charged ({cost}) and found its key, which could not "
            "be sent: send {cmd_keys} to get it once the bot's database is back"
        ),
    ),
    ("found-attempted", "order"): (
        "charged",
        N_(
            "your order was charged ({cost}) and found its key, which could "
            "not be sent: send {cmd_keys} to get it once the bot's database is back"
        ),
    ),
    ("found", "pull"): (
        "charged",
        N_(
            "your pull was charged ({cost}) and found its key: it reaches you privately "
            "once the bot's database is back (if it does not, send {cmd_keys})"
        ),
    ),
    ("found", "order"): (
        "charged",
        N_(
            "your order was charged ({cost}) and found its key: it reaches you privately "
            "once the bot's database is back (if it does not, send {cmd_keys})"
        ),
    ),
    ("running", "pull"): (
        "charged",
        N_(
            "your pull was charged ({cost}) and is running; the result will reach you "
            "privately once the bot's database is back (if it does not, send {cmd_keys}; a "
            "refund if it fails): do not send it again"
        ),
    ),
    ("running", "order"): (
        "charged",
        N_(
            "your order was charged ({cost}) and is running; the result will reach you "
            "privately once the bot's database is back (if it does not, send {cmd_keys}; a "
            "refund if it fails): do not send it again"
        ),
    ),
}
_NOTHING = {
    "pull": N_("nothing was charged: the bot's database failed before your pull was paid for; try again shortly"),
    "order": N_("nothing was charged: the bot's database failed before your order was paid for; try again shortly"),
}
_UNKNOWN = {
    "pull": N_(
        "the bot's database failed while your pull was being paid for, and cannot say yet whether it "
        "was: if it was, the pull finishes by itself (its key reaches you privately, or a refund); "
        "check {cmd_balance} in a minute before you send it again"
    ),
    "order": N_(
        "the bot's database failed while your order was being paid for, and cannot say yet whether "
        "it was: if it was, the order finishes by itself (its key reaches you privately, or a "
        "refund); check {cmd_balance} in a minute before you send it again"
    ),
}


def job_words(kind: str, status: str | None, price: int, free_pulls: int) -> tuple[Committed, str]:
    """What to tell the person about a charged job whose drive the fault stopped, by its last known status
    (None: storage could not say)."""
    known = status if status in ("refunded", "failed", "delivered", "found-attempted", "found") else "running"
    committed, words = _JOB_WORDS[(known, "order" if kind == "order" else "pull")]
    return committed, _(words, cost=paid(price, free_pulls), **commands("keys"))


def nothing_words(kind: str) -> str:
    """What to tell someone whose `kind` was not charged because the database failed first."""
    return _(_NOTHING["order" if kind == "order" else "pull"])


def unknown_words(kind: str) -> str:
    """What to tell someone when the database failed mid-charge and cannot yet say whether `kind` was paid."""
    return _(_UNKNOWN["order" if kind == "order" else "pull"], **commands("balance"))
