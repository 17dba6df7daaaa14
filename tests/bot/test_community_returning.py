"""Reasons to return, through the real service and a real SQLite file: gifts, streaks, seasons, profiles."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.answers import CommunityRef, ServiceError, ShownKey, UserRef
from bot.app import App, create_app
from bot.community import records, streaks
from bot.community.calendar import season_of
from bot.config import ConfigError, Settings

from .conftest import ALICE, BOB, GUILD, RecordingFrontEnd, small_settings

CAROL = UserRef("test", "carol", "Carol")
NEW_YORK = "America/New_York"


def at(zone: str, *args: int) -> float:
    return datetime(*args, tzinfo=ZoneInfo(zone)).timestamp()  # type: ignore[misc]


def key(one_in: float, identifier: str = "1AbXyz") -> ShownKey:
    return ShownKey("btc", identifier, ((1, 3),), 2, 2, True, "Rare", one_in)


async def add_pull(
    app: App,
    user: UserRef,
    when: float,
    one_in: float = 5.0,
    community: CommunityRef | None = GUILD,
    pattern: str = "^ab",
) -> None:
    job_id = f"job-{user.user_id}-{when}-{random.random()}"
    await records.record_pull(
        app.db, records.PullRecord(job_id, user, community, "btc", pattern, key(one_in), when), app.settings.time_zone
    )


# --- gifts --------------------------------------------------------------------------


async def test_a_gift_moves_tokens_once_and_tells_the_recipient_privately(
    app: App, frontend: RecordingFrontEnd
) -> None:
    await app.service.grant(ALICE, 50)
    answer = await app.service.gift(ALICE, BOB, 20, idempotency_key="interaction-1")
    assert answer.applied and answer.balance_after == 30 and "Bob" in answer.message
    again = await app.service.gift(ALICE, BOB, 20, idempotency_key="interaction-1")  # a retried delivery
    assert not again.applied and again.balance_after == 30
    assert (await app.service.balance(BOB)).tokens == 20
    [(told, text)] = frontend.notices
    assert told == BOB and "Alice gifted you 20 tokens" in text
    history = await app.service.history(BOB)
    assert [e.kind for e in history.entries] == ["gift_received"] and history.entries[0].tokens == 20
    assert await app.ledger.audit() == []


async def test_gifts_are_refused_to_oneself_over_the_limit_from_a_frozen_account_and_past_the_balance(
    tmp_path: Path,
) -> None:
    async with create_app(small_settings(tmp_path, daily_spend_limit=30)) as app:
        fe = RecordingFrontEnd()
        app.service.register_frontend(fe)
        await app.service.grant(ALICE, 100)
        refusals = [
            (lambda: app.service.gift(ALICE, ALICE, 5, idempotency_key="a"), "bad_gift", "yourself"),
            (lambda: app.service.gift(ALICE, BOB, 31, idempotency_key="b"), "daily_limit", "limit"),
            # past the balance as well as the limit: the balance is what to fix, not the day's limit
            (
                lambda: app.service.gift(ALICE, BOB, 500, idempotency_key="b2"),
                "insufficient_tokens",
                "balance is 100 tokens: gift 100 or fewer",
            ),
            (lambda: app.service.gift(ALICE, BOB, 0, idempotency_key="c"), "bad_amount", "from 1"),
            (lambda: app.service.gift(ALICE, UserRef("other", "bob"), 5, idempotency_key="d"), "bad_gift", "platform"),
            (lambda: app.service.gift(BOB, ALICE, 5, idempotency_key="e"), "insufficient_tokens", "balance is 0"),
        ]
        for call, code, words in refusals:
            with pytest.raises(ServiceError) as err:
                await call()
            assert err.value.code == code and words in err.value.message
        await app.service.gift(ALICE, BOB, 30, idempotency_key="f")  # exactly the limit
        with pytest.raises(ServiceError) as err:
            await app.service.gift(ALICE, BOB, 1, idempotency_key="g")  # gifts count toward the daily limit
        assert err.value.code == "daily_limit"
        await app.ledger.apply(CAROL, 10, kind="grant", idempotency_key="carol-grant")
        await app.ledger.apply(CAROL, -15, kind="payment_refund", idempotency_key="carol-clawback")
        with pytest.raises(ServiceError) as err:
            await app.service.gift(CAROL, BOB, 1, idempotency_key="h")
        assert err.value.code == "account_frozen"
        assert [user for user, _ in fe.notices] == [BOB]
        assert await app.ledger.audit() == []


async def test_a_hundred_gifts_racing_spends_keep_every_balance_equal_to_its_ledger(tmp_path: Path) -> None:
    async with create_app(small_settings(tmp_path, daily_spend_limit=10**6)) as app:
        fe = RecordingFrontEnd()
        app.service.register_frontend(fe)
        people = [UserRef("test", f"p{i}", f"P{i}") for i in range(5)]
        for person in people:
            await app.service.grant(person, 40)
        rng = random.Random(7)
        gifts = []
        for i in range(100):
            sender, recipient = rng.sample(people, 2)
            gifts.append((sender, recipient, rng.randint(1, 15), f"gift-{i % 80}"))  # 20 keys come twice
        pulls = [app.service.pull(rng.choice(people), GUILD, "^ab") for _ in range(20)]
        calls = [app.service.gift(s, r, n, idempotency_key=k) for s, r, n, k in gifts] + pulls
        rng.shuffle(calls)
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        unexpected = [
            o
            for o in outcomes
            if isinstance(o, BaseException) and not (isinstance(o, ServiceError) and o.code == "insufficient_tokens")
        ]
        assert unexpected == []
        assert await app.ledger.audit() == []  # every balance equals the sum of its ledger rows
        total = sum([(await app.service.balance(p)).tokens for p in people])
        spent = await app.db.fetchone("SELECT -COALESCE(SUM(tokens), 0) AS s FROM ledger WHERE kind = 'pull'")
        assert total == 5 * 40 - spent["s"]  # type: ignore[index]  # gifts move tokens, never make or lose any
        sent = await app.db.fetchall("SELECT idempotency_key FROM ledger WHERE kind = 'gift_sent'")
        received = await app.db.fetchall("SELECT idempotency_key FROM ledger WHERE kind = 'gift_received'")
        assert len(sent) == len(received) == len({r["idempotency_key"] for r in sent}) > 0
        assert len(fe.notices) == len(received)


# --- streaks ------------------------------------------------------------------------


def test_streak_lengths_count_consecutive_days_back_from_today_or_yesterday() -> None:
    assert streaks.streak_lengths([], "2026-03-10") == (0, 0)
    days = ["2026-03-10", "2026-03-09", "2026-03-08", "2026-03-05", "2026-03-04"]
    assert streaks.streak_lengths(days, "2026-03-10") == (3, 3)
    assert streaks.streak_lengths(days, "2026-03-11") == (3, 3)  # alive until today ends
    assert streaks.streak_lengths(days, "2026-03-12") == (0, 3)  # a missed day breaks it
    assert streaks.streak_lengths(["2026-03-01", "2026-02-28"], "2026-03-01") == (2, 2)  # month rollover


async def test_a_streak_rolls_over_at_midnight_in_the_configured_time_zone(tmp_path: Path) -> None:
    settings = small_settings(tmp_path, time_zone=NEW_YORK, streak_milestones=(2,), streak_bonus_pulls=1)
    async with create_app(settings) as app:
        rules = streaks.StreakRules(NEW_YORK, (2,), 1)
        late = at(NEW_YORK, 2026, 3, 9, 23, 59)  # 03:59 UTC on the 10th
        early = at(NEW_YORK, 2026, 3, 10, 0, 1)  # 04:01 UTC on the 10th: the same UTC day, the next local day
        await add_pull(app, ALICE, late)
        first = await streaks.after_pull(app.db, app.ledger, ALICE, rules, now=late)
        assert (first.days, first.bonus_pulls_today, first.next_milestone) == (1, 0, 2)
        await add_pull(app, ALICE, early)
        second = await streaks.after_pull(app.db, app.ledger, ALICE, rules, now=early)
        assert (second.days, second.best_days, second.last_day) == (2, 2, "2026-03-10")
        assert second.bonus_pulls_today == 1 and "1 bonus free pull today" in second.message
        again = await streaks.after_pull(app.db, app.ledger, ALICE, rules, now=early + 60)  # same day: no second bonus
        assert again.bonus_pulls_today == 1
        bonus_rows = await app.db.fetchall("SELECT tokens, free_pulls FROM ledger WHERE kind = 'streak_bonus'")
        assert [(r["tokens"], r["free_pulls"]) for r in bonus_rows] == [(0, -1)]  # free pulls, never tokens
        # the streak lives through the next local day and is gone the day after
        tomorrow = await streaks.streak_of(app.db, ALICE, rules, now=at(NEW_YORK, 2026, 3, 11, 23, 0))
        gone = await streaks.streak_of(app.db, ALICE, rules, now=at(NEW_YORK, 2026, 3, 12, 0, 30))
        assert (tomorrow.days, gone.days, gone.best_days) == (2, 0, 2)
    # with days counted in UTC the same two pulls fall on one day: no streak of two, no bonus
    async with create_app(small_settings(tmp_path / "utc", streak_milestones=(2,))) as app:
        await add_pull(app, BOB, late)
        await add_pull(app, BOB, early)
        utc = await streaks.after_pull(app.db, app.ledger, BOB, streaks.StreakRules("UTC", (2,), 1), now=early)
        assert (utc.days, utc.bonus_pulls_today) == (1, 0)


async def test_a_milestone_pull_gives_a_free_pull_usable_at_once(tmp_path: Path) -> None:
    settings = small_settings(tmp_path, streak_milestones=(1,), free_pulls_per_day=0)
    async with create_app(settings) as app:
        app.service.register_frontend(RecordingFrontEnd())
        await app.service.grant(ALICE, 5)
        first = await app.service.pull(ALICE, GUILD, "^ab")
        assert first.tokens_spent == 1 and first.streak is not None and first.streak.bonus_pulls_today == 1
        assert (await app.service.balance(ALICE)).free_pulls_left == 1
        second = await app.service.pull(ALICE, GUILD, "^ab")
        assert (second.tokens_spent, second.free_pulls_used) == (0, 1)
        third = await app.service.pull(ALICE, GUILD, "^ab")
        assert third.tokens_spent == 1
        assert (await app.service.streak(ALICE)).days == 1


def test_streak_and_time_zone_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "VANIKEYS_TIME_ZONE": "Europe/Berlin",
            "VANIKEYS_STREAK_MILESTONES": "7, 3,30",
            "VANIKEYS_STREAK_BONUS_PULLS": "2",
        },
        dotenv_path=None,
    )
    assert (settings.time_zone, settings.streak_milestones, settings.streak_bonus_pulls) == (
        "Europe/Berlin",
        (3, 7, 30),
        2,
    )
    assert Settings.from_env({"VANIKEYS_STREAK_MILESTONES": "none"}, dotenv_path=None).streak_milestones == ()
    for env, words in (
        ({"VANIKEYS_TIME_ZONE": "Mars/Olympus"}, "IANA"),
        ({"VANIKEYS_STREAK_MILESTONES": "3,²"}, "3,7,30"),
    ):
        with pytest.raises(ConfigError) as err:
            Settings.from_env(env, dotenv_path=None)
        assert words in str(err.value)


# --- seasons and profiles -------------------------------------------------------------


def test_a_season_is_an_iso_week_from_monday_midnight_local() -> None:
    sunday_night = season_of(at(NEW_YORK, 2026, 3, 15, 23, 59), NEW_YORK)
    monday_morning = season_of(at(NEW_YORK, 2026, 3, 16, 0, 1), NEW_YORK)
    assert sunday_night.label == "2026-W11" and monday_morning.label == "2026-W12"
    assert monday_morning.starts_at == datetime(2026, 3, 16, tzinfo=ZoneInfo(NEW_YORK))
    assert sunday_night.ends_at == monday_morning.starts_at


async def test_the_season_leaderboard_ranks_this_weeks_best_per_person_beside_the_all_time_one(app: App) -> None:
    now = time.time()
    await add_pull(app, ALICE, now, one_in=50.0)
    await add_pull(app, ALICE, now, one_in=20.0)
    await add_pull(app, BOB, now, one_in=300.0)
    await add_pull(app, CAROL, now - 8 * 86400, one_in=9000.0)  # last season
    await add_pull(app, CAROL, now, one_in=999.0, community=CommunityRef("test", "other"))
    season = await app.service.season_leaderboard(GUILD)
    assert season.season == season_of(now, app.settings.time_zone).label
    assert [(e.rank, e.user.user_id, e.key.one_in_pulls) for e in season.entries] == [
        (1, "bob", 300.0),
        (2, "alice", 50.0),
    ]
    assert season.starts_at.timestamp() <= now < season.ends_at.timestamp()
    profile = await app.service.profile(ALICE, GUILD)
    assert profile.season_rank == 2 and profile.total_pulls == 2 and not profile.share
    assert [p.key.one_in_pulls for p in profile.best_pulls] == [50.0, 20.0]
    assert profile.streak.days == 1
    carol = await app.service.profile(CAROL, GUILD, share=True)
    assert carol.season_rank is None and carol.share and carol.best_pulls[0].key.one_in_pulls == 9000.0
