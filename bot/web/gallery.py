"""What a community's public gallery and a person's Mini App collection show, read from the pull records.

A gallery is found by its random slug, only while its admin keeps it on. People are
named only when they chose to show their profile (bot/community/visibility.py);
everyone else is "a member". Platform ids never leave this module.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.answers import CommunityRef, ShownKey, UserRef
from bot.community import records, visibility
from bot.community.calendar import season_of
from bot.i18n import N_
from bot.results import shown_key_from_json, tier_at_least
from bot.storage import Database, Row
from gpu_worker.i18n import gettext_now

CARD_TIER = "Rare"
RECENT_CARDS = 12
SEASON_ROWS = 10
BEST_ROWS = 10
COLLECTION_ROWS = 50
ANONYMOUS = N_("a member")  # stored and compared in English; shown_name() translates it on the page
A_COMMUNITY = N_("A community")


def shown_name(name: str) -> str:
    """A name as the page shows it: the anonymous stand-ins in the reader's language, a person's name as it is."""
    return gettext_now(name) if name in (ANONYMOUS, A_COMMUNITY) else name


@dataclass(frozen=True)
class GalleryPull:
    """A pull as a public page shows it: a reference that names nobody, the name (or anonymous), key, pattern, time."""

    ref: str  # the pull's job id: addresses its card, names nobody
    name: str  # display name, or ANONYMOUS
    key: ShownKey
    pattern: str
    at: datetime
    community_title: str = ""


@dataclass(frozen=True)
class Gallery:
    """A community's gallery page: recent cards, this season's table and each member's best."""

    slug: str
    title: str
    season: str
    recent: tuple[GalleryPull, ...]
    season_rows: tuple[GalleryPull, ...]
    bests: tuple[GalleryPull, ...]


async def community_for(db: Database, slug: str) -> CommunityRef | None:
    """The community whose published gallery is at `slug`, with its latest title; None if there is none."""
    row = await db.fetchone(
        "SELECT platform, community_id FROM community_settings WHERE gallery_slug = ? AND gallery = 1", (slug,)
    )
    if row is None:
        return None
    title = await db.fetchone(
        "SELECT community_title FROM pull_bests WHERE community_platform = ? AND community_id = ? "
        "ORDER BY created_at DESC LIMIT 1",
        (row["platform"], row["community_id"]),
    )
    return CommunityRef(row["platform"], row["community_id"], (title["community_title"] if title else "") or "")


async def gallery(db: Database, slug: str, community: CommunityRef, time_zone: str) -> Gallery:
    """The gallery of `community` now; names appear only for members who chose to be shown."""
    rows = await db.fetchall(
        "SELECT job_id, platform, user_id, display_name, pattern, best_key, best_one_in, created_at FROM pull_bests "
        "WHERE community_platform = ? AND community_id = ? ORDER BY created_at DESC LIMIT 2000",
        (community.platform, community.community_id),
    )
    shown = await visibility.shown_among(db, ((r["platform"], r["user_id"]) for r in rows))

    def pull(row: Row) -> GalleryPull:
        who = (row["platform"], row["user_id"])
        return GalleryPull(
            ref=row["job_id"],
            name=(row["display_name"] or ANONYMOUS) if who in shown else ANONYMOUS,
            key=shown_key_from_json(json.loads(row["best_key"])),
            pattern=row["pattern"],
            at=datetime.fromtimestamp(row["created_at"], tz=UTC),
        )

    pulls = [pull(r) for r in rows]
    recent = tuple(p for p in pulls if tier_at_least(p.key.tier, CARD_TIER))[:RECENT_CARDS]
    season = season_of(time.time(), time_zone).label
    entries = await records.season_entries(db, community, season, limit=SEASON_ROWS)
    season_rows = tuple(
        GalleryPull(
            ref="",
            name=(e.user.display_name or ANONYMOUS) if e.user.key in shown else ANONYMOUS,
            key=e.key,
            pattern=e.pattern,
            at=e.at,
        )
        for e in entries
    )
    best: dict[tuple[str, str], GalleryPull] = {}
    for row, p in sorted(zip(rows, pulls, strict=True), key=lambda rp: -float(rp[0]["best_one_in"])):
        who = (row["platform"], row["user_id"])
        if who in shown and who not in best:
            best[who] = p
    return Gallery(
        slug=slug,
        title=community.title or A_COMMUNITY,
        season=season,
        recent=recent,
        season_rows=season_rows,
        bests=tuple(best.values())[:BEST_ROWS],
    )


async def gallery_card(db: Database, community: CommunityRef, ref: str) -> tuple[GalleryPull, str] | None:
    """A Rare-and-up pull of this community (and the name to put on its card), or None."""
    row = await db.fetchone(
        "SELECT job_id, platform, user_id, display_name, pattern, best_key, created_at, community_title "
        "FROM pull_bests WHERE job_id = ? AND community_platform = ? AND community_id = ?",
        (ref, community.platform, community.community_id),
    )
    if row is None:
        return None
    key = shown_key_from_json(json.loads(row["best_key"]))
    if not tier_at_least(key.tier, CARD_TIER):
        return None
    shown = await visibility.is_shown(db, UserRef(row["platform"], row["user_id"]))
    name = (row["display_name"] or "") if shown else ""
    return GalleryPull(
        ref=ref,
        name=name or ANONYMOUS,
        key=key,
        pattern=row["pattern"],
        at=datetime.fromtimestamp(row["created_at"], tz=UTC),
        community_title=row["community_title"] or "",
    ), name


async def collection(db: Database, user: UserRef) -> tuple[tuple[GalleryPull, ...], int]:
    """The person's own pulls, newest first (their best key each), and how many they have made."""
    rows = await db.fetchall(
        "SELECT job_id, pattern, best_key, created_at, community_title FROM pull_bests "
        "WHERE platform = ? AND user_id = ? ORDER BY created_at DESC LIMIT ?",
        (user.platform, user.user_id, COLLECTION_ROWS),
    )
    total = await db.fetchone(
        "SELECT COUNT(*) AS n FROM pull_bests WHERE platform = ? AND user_id = ?", (user.platform, user.user_id)
    )
    pulls = tuple(
        GalleryPull(
            ref=r["job_id"],
            name=user.display_name,
            key=shown_key_from_json(json.loads(r["best_key"])),
            pattern=r["pattern"],
            at=datetime.fromtimestamp(r["created_at"], tz=UTC),
            community_title=r["community_title"] or "",
        )
        for r in rows
    )
    return pulls, int(total["n"]) if total is not None else 0


async def own_pull(db: Database, user: UserRef, ref: str) -> GalleryPull | None:
    """The user's own pull `ref` with their name, or None when it is not theirs."""
    row = await db.fetchone(
        "SELECT job_id, pattern, best_key, created_at, community_title FROM pull_bests "
        "WHERE job_id = ? AND platform = ? AND user_id = ?",
        (ref, user.platform, user.user_id),
    )
    if row is None:
        return None
    return GalleryPull(
        ref=ref,
        name=user.display_name,
        key=shown_key_from_json(json.loads(row["best_key"])),
        pattern=row["pattern"],
        at=datetime.fromtimestamp(row["created_at"], tz=UTC),
        community_title=row["community_title"] or "",
    )
