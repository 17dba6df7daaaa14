"""Every settled pull's best key, kept for personal bests, streaks, seasons and profiles.

One row per pull job, written once (`ON CONFLICT DO NOTHING`), whichever of
the pull's caller or the job's settle notice gets there first.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.answers import CommunityRef, LeaderboardEntry, PersonalBest, ProfilePull, ShownKey, UserRef
from bot.community.calendar import local_day, season_of
from bot.results import shown_key_from_json, shown_key_to_json
from bot.storage import Database

_SPACES = re.compile(r"\s+")


def pattern_family(format_id: str, pattern: str) -> str:
    """The pattern family: format + pattern case-folded, spaces collapsed ("btc ^love").

    Case and fuzzy options are left out on purpose: "1 in X pulls" already
    prices them, so the rarest pull of the family is a fair best.
    """
    return f"{format_id} {_SPACES.sub(' ', pattern.strip()).lower()}"


@dataclass(frozen=True)
class PullRecord:
    """What a finished pull adds to the records: who, where, the pattern and its best key, and when."""

    job_id: str
    user: UserRef
    community: CommunityRef | None
    format_id: str
    pattern: str
    best: ShownKey
    created_at: float


async def previous_best(db: Database, user: UserRef, family: str, job_id: str) -> float | None:
    """The user's best `one_in_pulls` in `family` before the pull `job_id`, or None for a first pull there."""
    row = await db.fetchone(
        "SELECT MAX(best_one_in) AS best FROM pull_bests WHERE platform = ? AND user_id = ? AND family = ? "
        "AND job_id != ?",
        (user.platform, user.user_id, family, job_id),
    )
    return None if row is None or row["best"] is None else float(row["best"])


async def record_pull(db: Database, pull: PullRecord, time_zone: str) -> PersonalBest:
    """Store the pull (once) and say whether it beat the person's previous best of its family."""
    family = pattern_family(pull.format_id, pull.pattern)
    previous = await previous_best(db, pull.user, family, pull.job_id)
    community = pull.community
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO pull_bests (job_id, platform, user_id, display_name, community_platform, community_id, "
            "community_title, family, pattern, best_key, best_one_in, local_day, season, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING",
            (
                pull.job_id,
                pull.user.platform,
                pull.user.user_id,
                pull.user.display_name,
                community.platform if community else None,
                community.community_id if community else None,
                community.title if community else "",
                family,
                pull.pattern,
                json.dumps(shown_key_to_json(pull.best)),
                pull.best.one_in_pulls,
                local_day(pull.created_at, time_zone),
                season_of(pull.created_at, time_zone).label,
                pull.created_at,
            ),
        )
    return PersonalBest(
        family=family, previous_one_in=previous, is_new=previous is not None and pull.best.one_in_pulls > previous
    )


async def pull_days(db: Database, user: UserRef, limit: int = 400) -> list[str]:
    """The local days on which the person pulled, newest first."""
    rows = await db.fetchall(
        "SELECT DISTINCT local_day FROM pull_bests WHERE platform = ? AND user_id = ? ORDER BY local_day DESC LIMIT ?",
        (user.platform, user.user_id, limit),
    )
    return [r["local_day"] for r in rows]


def _where_community(community: CommunityRef | None) -> tuple[str, tuple[str, ...]]:
    if community is None:
        return "community_id IS NULL", ()
    return "community_platform = ? AND community_id = ?", (community.platform, community.community_id)


async def season_entries(
    db: Database, community: CommunityRef | None, season: str, limit: int = 10
) -> list[LeaderboardEntry]:
    """The season's rarest pull per person in this community, rarest first."""
    where, params = _where_community(community)
    rows = await db.fetchall(
        f"SELECT platform, user_id, display_name, pattern, best_key, created_at FROM pull_bests "
        f"WHERE season = ? AND {where} ORDER BY best_one_in DESC, created_at LIMIT 2000",
        (season, *params),
    )
    entries: list[LeaderboardEntry] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        who = (row["platform"], row["user_id"])
        if who in seen:
            continue
        seen.add(who)
        entries.append(
            LeaderboardEntry(
                rank=len(entries) + 1,
                user=UserRef(*who, row["display_name"]),
                key=shown_key_from_json(json.loads(row["best_key"])),
                pattern=row["pattern"],
                at=datetime.fromtimestamp(row["created_at"], tz=UTC),
            )
        )
        if len(entries) == limit:
            break
    return entries


async def season_rank(db: Database, community: CommunityRef | None, season: str, user: UserRef) -> int | None:
    """The user's rank (1 = best) among the season's pullers in `community`, or None if they have no pull there.

    `community` None ranks the pulls made outside any community (private chats).
    """
    where, params = _where_community(community)
    mine = await db.fetchone(
        f"SELECT MAX(best_one_in) AS best FROM pull_bests WHERE season = ? AND {where} "
        "AND platform = ? AND user_id = ?",
        (season, *params, user.platform, user.user_id),
    )
    if mine is None or mine["best"] is None:
        return None
    ahead = await db.fetchone(
        f"SELECT COUNT(*) AS n FROM (SELECT platform, user_id FROM pull_bests WHERE season = ? AND {where} "
        f"GROUP BY platform, user_id HAVING MAX(best_one_in) > ?) AS better",
        (season, *params, mine["best"]),
    )
    return 1 + (int(ahead["n"]) if ahead is not None else 0)


async def best_pulls(db: Database, user: UserRef, limit: int = 5) -> tuple[list[ProfilePull], int]:
    """The user's `limit` best pulls, rarest first, and how many pulls they have in all."""
    rows = await db.fetchall(
        "SELECT pattern, best_key, created_at, community_title FROM pull_bests WHERE platform = ? AND user_id = ? "
        "ORDER BY best_one_in DESC, created_at LIMIT ?",
        (user.platform, user.user_id, limit),
    )
    total = await db.fetchone(
        "SELECT COUNT(*) AS n FROM pull_bests WHERE platform = ? AND user_id = ?", (user.platform, user.user_id)
    )
    pulls = [
        ProfilePull(
            key=shown_key_from_json(json.loads(r["best_key"])),
            pattern=r["pattern"],
            at=datetime.fromtimestamp(r["created_at"], tz=UTC),
            community_title=r["community_title"],
        )
        for r in rows
    ]
    return pulls, int(total["n"]) if total is not None else 0


async def latest_job(db: Database, user: UserRef) -> str | None:
    """The job id of the user's most recent recorded pull, or None."""
    row = await db.fetchone(
        "SELECT job_id FROM pull_bests WHERE platform = ? AND user_id = ? ORDER BY created_at DESC LIMIT 1",
        (user.platform, user.user_id),
    )
    return None if row is None else str(row["job_id"])
