"""Public reveals that could not be posted before the bot stopped, kept until it is back.

A group allows about 20 messages a minute, so under load its reveals queue up;
when the bot stops (a deploy, a restart) whatever is still queued is stored
here, and after the restart the front end posts it late, as a digest. Only what
the group would have seen is stored (a name, the pattern, the address, the
tier), never a secret. Delivery is at least once: a reveal that was in flight at
the stop may be seen twice, never lost.

A front end may also keep a reveal while it waits (`keep_waiting`), so that a
hard kill does not lose it: the row is claimed by the running process
(`<owner>:waiting`), which renews its claims (`renew`) until the reveal went out
(`forget`) or the process stops (`release`: the next start posts them at once).
A killed process stops renewing, and a live one claims the rows after the lapse. Claims are written and compared on
the database's clock, as job leases are (bot/storage/leases.py): a process whose own clock runs behind its peers'
would otherwise see its live claims taken (and its queued reveals posted twice), one running ahead would hold a dead
process's claims for too long.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.storage import Database
from bot.storage.leases import clock_sql
from gpu_worker.i18n import ngettext

CLAIM_LAPSES_S = 600.0


def digest_title(count: int) -> str:
    """The title of a digest of `count` kept reveals, posted after the restart (every front end's one wording)."""
    return ngettext(
        "🎰 {n} more pull (from before the bot restarted):",
        "🎰 {n} more pulls (from before the bot restarted):",
        count,
    )


@dataclass(frozen=True)
class LateReveal:
    """One stored public reveal: its row id, the chat it was for and the line the group would have seen (no secret)."""

    id: int
    chat_id: str
    line: str


async def keep(db: Database, platform: str, lines_by_chat: Mapping[str, Sequence[str]]) -> int:
    """Store the digest lines of reveals not posted, per chat; returns how many."""
    rows = [(platform, chat_id, line, time.time()) for chat_id, lines in lines_by_chat.items() for line in lines]
    if rows:
        async with db.transaction() as tx:
            for row in rows:
                await tx.execute(
                    "INSERT INTO late_reveals (platform, chat_id, line, created_at) VALUES (?, ?, ?, ?)", row
                )
    return len(rows)


async def claim(
    db: Database,
    platform: str,
    claimant: str | None = None,
    lapse_s: float = CLAIM_LAPSES_S,
    owner: str | None = None,
) -> dict[str, list[LateReveal]]:
    """The stored reveals of one platform, per chat, oldest first, claimed for this process: two processes
    starting at once (PostgreSQL) do not both post them. A claim not followed by `forget` (the process died
    while posting, or while the reveal waited) lapses after `lapse_s`, and a live process posts them.
    `claimant` must be new for each call: the rows returned are those this call claimed. `owner`: the running
    process's own rows are never taken back by itself (a late renewal would post a queued reveal twice)."""
    claimant = claimant or uuid.uuid4().hex
    own = f"{owner}:%" if owner else ""
    now = clock_sql(db)
    async with db.transaction() as tx:
        await tx.execute(
            f"UPDATE late_reveals SET claim = ?, claimed_at = {now} "
            f"WHERE platform = ? AND (claim IS NULL OR (claimed_at < {now} - ? AND claim NOT LIKE ?))",
            (claimant, platform, lapse_s, own),
        )
        rows = await tx.fetchall("SELECT id, chat_id, line FROM late_reveals WHERE claim = ? ORDER BY id", (claimant,))
    by_chat: dict[str, list[LateReveal]] = {}
    for row in rows:
        by_chat.setdefault(row["chat_id"], []).append(LateReveal(row["id"], row["chat_id"], row["line"]))
    return by_chat


async def forget(db: Database, ids: Iterable[int]) -> None:
    """Posted (or never postable there): no longer kept."""
    ids = list(ids)
    if ids:
        async with db.transaction() as tx:
            for reveal_id in ids:
                await tx.execute("DELETE FROM late_reveals WHERE id = ?", (reveal_id,))


async def keep_waiting(db: Database, platform: str, chat_id: str, line: str, owner: str) -> int:
    """Store one reveal (or kept message) that waits in a running process's queue, claimed by that process
    (`owner`); returns its id, for `forget` once it went out."""
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "INSERT INTO late_reveals (platform, chat_id, line, created_at, claim, claimed_at) "
            f"VALUES (?, ?, ?, ?, ?, {clock_sql(db)}) RETURNING id",
            (platform, chat_id, line, time.time(), f"{owner}:waiting"),
        )
    assert row is not None
    return int(row["id"])


async def renew(db: Database, owner: str) -> None:
    """This process is alive: its claims (waiting rows, rows it is posting) do not lapse."""
    async with db.transaction() as tx:
        await tx.execute(f"UPDATE late_reveals SET claimed_at = {clock_sql(db)} WHERE claim LIKE ?", (f"{owner}:%",))


async def release(db: Database, owner: str) -> None:
    """This process stops: what it still holds is unclaimed, for the next start to post at once."""
    async with db.transaction() as tx:
        await tx.execute("UPDATE late_reveals SET claim = NULL, claimed_at = NULL WHERE claim LIKE ?", (f"{owner}:%",))
