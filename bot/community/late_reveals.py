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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.storage import Database


@dataclass(frozen=True)
class LateReveal:
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


async def waiting(db: Database, platform: str) -> dict[str, list[LateReveal]]:
    """The stored reveals of one platform, per chat, oldest first."""
    rows = await db.fetchall("SELECT id, chat_id, line FROM late_reveals WHERE platform = ? ORDER BY id", (platform,))
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
