"""Public reveals that could not be posted before the bot stopped, kept until it is back.

A group allows about 20 messages a minute, so under load its reveals queue up;
when the bot stops (a deploy, a restart) whatever is still queued is stored
here, and after the restart the front end posts it late, as a digest. Only what
the group would have seen is stored (a name, the pattern, the address, the
tier), never a secret. Delivery is at least once: a reveal that was in flight at
the stop may be seen twice, never lost.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.storage import Database

CLAIM_LAPSES_S = 600.0


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
                await tx.execute("INSERT INTO late_reveals (platform, chat_id, line, created_at) VALUES (?, ?, ?, ?)",
                                 row)
    return len(rows)


async def claim(db: Database, platform: str, claimant: str | None = None,
                clock: Callable[[], float] = time.time) -> dict[str, list[LateReveal]]:
    """The stored reveals of one platform, per chat, oldest first, claimed for this process: two processes
    starting at once (PostgreSQL) do not both post them. A claim not followed by `forget` (the process died
    while posting) lapses after CLAIM_LAPSES_S, and the next start posts them."""
    claimant = claimant or uuid.uuid4().hex
    now = clock()
    async with db.transaction() as tx:
        await tx.execute("UPDATE late_reveals SET claim = ?, claimed_at = ? "
                         "WHERE platform = ? AND (claim IS NULL OR claimed_at < ?)",
                         (claimant, now, platform, now - CLAIM_LAPSES_S))
        rows = await tx.fetchall("SELECT id, chat_id, line FROM late_reveals WHERE claim = ? ORDER BY id",
                                 (claimant,))
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
