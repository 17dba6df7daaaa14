"""Daily streaks: consecutive local days with a settled pull; milestones give bonus free pulls (never tokens).

The streak is derived from the pull records themselves (no counter to drift).
A milestone's bonus is a ledger row giving free pulls back for today, keyed
by person and local day, so it is granted at most once a day however many
pulls race to it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import pairwise

from bot.answers import StreakAnswer, UserRef
from bot.community.calendar import local_day, previous_day
from bot.community.records import pull_days
from bot.ledger import Ledger
from bot.storage import Database
from gpu_worker.i18n import _, ngettext


@dataclass(frozen=True)
class StreakRules:
    """The operator's streak rules: the days count in `time_zone`; each milestone reached grants `bonus_pulls` free
    pulls.
    """

    time_zone: str
    milestones: tuple[int, ...]
    bonus_pulls: int


def streak_lengths(days_newest_first: list[str], today: str) -> tuple[int, int]:
    """(current, best) from distinct local days. Current counts back from today, or from yesterday
    when today has no pull yet (the streak is still alive until today ends)."""
    if not days_newest_first:
        return 0, 0
    best = run = 1
    for newer, older in pairwise(days_newest_first):
        run = run + 1 if previous_day(newer) == older else 1
        best = max(best, run)
    current = 0
    if days_newest_first[0] in (today, previous_day(today)):
        current = 1
        for newer, older in pairwise(days_newest_first):
            if previous_day(newer) != older:
                break
            current += 1
    return current, best


def next_milestone(rules: StreakRules, days: int) -> int | None:
    """The first milestone above a streak of `days` days, or None when every one is reached."""
    return next((m for m in rules.milestones if m > days), None)


async def bonus_granted_today(db: Database, user: UserRef, day: str) -> int:
    """The bonus free pulls the user was granted on `day` (0 if none)."""
    row = await db.fetchone("SELECT free_pulls FROM ledger WHERE idempotency_key = ?", (_bonus_key(user, day),))
    return 0 if row is None else -int(row["free_pulls"])


async def streak_of(db: Database, user: UserRef, rules: StreakRules, now: float | None = None) -> StreakAnswer:
    """The user's current and best streak, the next milestone and today's bonus, as `/streak` answers."""
    today = local_day(time.time() if now is None else now, rules.time_zone)
    days = await pull_days(db, user)
    current, best = streak_lengths(days, today)
    bonus = await bonus_granted_today(db, user, today)
    return _answer(user, rules, days[0] if days else None, current, best, bonus)


async def after_pull(
    db: Database, ledger: Ledger, user: UserRef, rules: StreakRules, now: float | None = None
) -> StreakAnswer:
    """Called once a pull is recorded: grant today's milestone bonus if the streak just reached one."""
    at = time.time() if now is None else now
    today = local_day(at, rules.time_zone)
    days = await pull_days(db, user)
    current, best = streak_lengths(days, today)
    if rules.bonus_pulls > 0 and current in rules.milestones and days and days[0] == today:
        async with db.transaction() as tx:
            await ledger.credit(
                tx,
                user,
                0,
                kind="streak_bonus",
                idempotency_key=_bonus_key(user, today),
                free_pulls_back=rules.bonus_pulls,
                reason=f"{current}-day streak bonus",
            )
    bonus = await bonus_granted_today(db, user, today)
    return _answer(user, rules, days[0] if days else None, current, best, bonus)


def _bonus_key(user: UserRef, day: str) -> str:
    return f"streak:{user.platform}:{user.user_id}:{day}"


def _answer(
    user: UserRef, rules: StreakRules, last_day: str | None, current: int, best: int, bonus: int
) -> StreakAnswer:
    upcoming = next_milestone(rules, current)
    parts = [
        ngettext("{n}-day streak", "{n}-day streak", current)
        if current
        else _("no streak yet: pull today to start one")
    ]
    if bonus:
        parts.append(ngettext("{n} bonus free pull today", "{n} bonus free pulls today", bonus))
    if upcoming is not None and rules.bonus_pulls > 0:
        parts.append(ngettext("next bonus at {n} day", "next bonus at {n} days", upcoming))
    return StreakAnswer(
        user=user,
        days=current,
        best_days=best,
        last_day=last_day,
        time_zone=rules.time_zone,
        next_milestone=upcoming,
        bonus_pulls_today=bonus,
        message="; ".join(parts),
    )
