"""Whether a person chose to show their name on public pages (a community's gallery): off until they do.

`/profile share` (showing one's profile to a channel) turns it on; the Mini App's switch turns it on or off.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from bot.answers import UserRef
from bot.storage import Database


async def set_shown(db: Database, user: UserRef, shown: bool) -> None:
    """Record whether the user's name may appear on public pages (galleries, season tables)."""
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO profile_visibility (platform, user_id, shown, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (platform, user_id) DO UPDATE SET shown = excluded.shown, updated_at = excluded.updated_at",
            (user.platform, user.user_id, int(shown), time.time()),
        )


async def is_shown(db: Database, user: UserRef) -> bool:
    """Whether the user chose to show their name publicly; False until they opt in."""
    row = await db.fetchone(
        "SELECT shown FROM profile_visibility WHERE platform = ? AND user_id = ?", (user.platform, user.user_id)
    )
    return row is not None and bool(row["shown"])


async def shown_among(db: Database, people: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (platform, user_id) chose to show their name."""
    wanted = set(people)
    if not wanted:
        return set()
    rows = await db.fetchall("SELECT platform, user_id FROM profile_visibility WHERE shown = 1", ())
    return {(r["platform"], r["user_id"]) for r in rows} & wanted
