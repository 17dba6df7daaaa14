"""The shared-pull moment through the real service: reveal before the private key, best first, easy patterns,
personal bests, cards and announcements for the rarer tiers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.answers import CommunityRef, PullAnswer, ServiceError
from bot.app import App, create_app
from bot.config import Settings
from bot.grinder import InProcessGrindingClient
from bot.grinding.tasks import RunningJob
from bot.results import tier_at_least
from gpu_worker.job import GrindResult

from .conftest import ALICE, BOB, GUILD, RecordingFrontEnd, small_settings

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class EventLog(RecordingFrontEnd):
    """A front end that also writes down, in order, when each private delivery happened."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    async def deliver_private(self, user, delivery) -> bool:  # type: ignore[no-untyped-def]
        self.events.append(f"dm:{delivery.job_id}")
        return await super().deliver_private(user, delivery)


class LuckyGrinder(InProcessGrindingClient):
    """A real worker that grinds `factor` times the pull's budget and reports the budget: its best is rare
    for that budget (every hit is still re-derived and re-scored by the service)."""

    factor = 2000

    async def _run(self, running: RunningJob) -> GrindResult:
        job = running.job
        big = RunningJob(job.model_copy(update={"budget": job.budget * self.factor}), listeners=running.listeners)
        result = await super()._run(big)
        return result.model_copy(update={"checked": job.budget})


@pytest.fixture
async def lucky_app(tmp_path: Path) -> App:
    # 4 keys a pull: a full "^ab" on btc is Epic (1 in ~164 pulls); the lucky worker grinds 8,000 keys.
    async with create_app(small_settings(tmp_path, pull_budget_cpu=4), grinder=LuckyGrinder("python")) as app:
        yield app  # type: ignore[misc]


async def test_the_reveal_comes_before_the_private_key_and_the_final_answer_says_delivered(app: App) -> None:
    fe = EventLog()
    app.service.register_frontend(fe)
    await app.service.grant(ALICE, 5)
    seen: list[PullAnswer] = []

    async def reveal(answer: PullAnswer) -> None:
        fe.events.append(f"reveal:{answer.job_id}")
        assert fe.deliveries == []  # nothing private went out yet
        seen.append(answer)

    final = await app.service.pull(ALICE, GUILD, "^ab", on_reveal=reveal)
    assert fe.events == [f"reveal:{final.job_id}", f"dm:{final.job_id}"]
    [shown] = seen
    assert shown.delivered is False and "on its way" in shown.delivery_note
    assert final.delivered is True and "sent to you privately" in final.delivery_note
    assert shown.keys == final.keys and final.balance_after == 4


async def test_the_key_is_delivered_when_the_reveal_raises(app: App, frontend: RecordingFrontEnd) -> None:
    await app.service.grant(ALICE, 5)

    async def broken(answer: PullAnswer) -> None:
        raise RuntimeError("the channel is gone")

    final = await app.service.pull(ALICE, GUILD, "^ab", on_reveal=broken)
    assert final.delivered
    [(user, delivery)] = frontend.deliveries
    assert user == ALICE and delivery.job_id == final.job_id


async def test_the_key_is_delivered_when_the_caller_gives_up_during_the_reveal(
    app: App, frontend: RecordingFrontEnd
) -> None:
    await app.service.grant(ALICE, 5)
    revealing = asyncio.Event()

    async def slow(answer: PullAnswer) -> None:
        revealing.set()
        await asyncio.sleep(3600)  # a reveal that never ends: the key must not wait for it

    task = asyncio.create_task(app.service.pull(ALICE, GUILD, "^ab", on_reveal=slow))
    await asyncio.wait_for(revealing.wait(), 30)
    assert frontend.deliveries == []
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(app.jobs.wait_idle(), 30)
    [(user, _)] = frontend.deliveries
    assert user == ALICE
    row = await app.db.fetchone("SELECT status FROM jobs")
    assert row is not None and row["status"] == "delivered"


async def test_a_ten_pull_is_best_first_in_the_reveal_and_in_the_private_message(
    app: App, frontend: RecordingFrontEnd
) -> None:
    await app.service.grant(ALICE, 9)
    answer = await app.service.pull(ALICE, None, "^abc", "btc", 10)
    assert answer.best_index == 0 and answer.best is answer.keys[0]
    ranks = [(k.one_in_pulls, k.score) for k in answer.keys]
    assert ranks == sorted(ranks, reverse=True)
    [(_, delivery)] = frontend.deliveries
    assert [s.identifier for s in delivery.secrets] == [k.identifier for k in answer.keys]


async def test_an_easy_pattern_is_refused_before_charging_unless_allowed(app: App, frontend: RecordingFrontEnd) -> None:
    await app.service.grant(ALICE, 5)
    with pytest.raises(ServiceError) as err:
        await app.service.pull(ALICE, GUILD, "a")
    assert err.value.code == "easy_pattern"
    assert "/order a btc" in err.value.message and "tokens" in err.value.message and "Common" in err.value.message
    assert (await app.service.balance(ALICE)).tokens == 5
    assert (await app.db.fetchone("SELECT COUNT(*) AS n FROM jobs"))["n"] == 0  # type: ignore[index]
    answer = await app.service.pull(ALICE, GUILD, "a", allow_easy=True)
    assert answer.best.full and answer.best.tier == "Common" and answer.balance_after == 4


async def test_personal_best_compares_with_the_same_family_only(app: App, frontend: RecordingFrontEnd) -> None:
    await app.service.grant(ALICE, 10)
    await app.service.grant(BOB, 10)
    first = await app.service.pull(ALICE, GUILD, "^ab")
    assert first.personal_best is not None and first.personal_best.family == "btc ^ab"
    assert first.personal_best.previous_one_in is None and not first.is_new_personal_best
    other = await app.service.pull(BOB, GUILD, "^AB")  # someone else's pulls are not Alice's bests
    assert other.personal_best is not None and other.personal_best.previous_one_in is None
    second = await app.service.pull(ALICE, GUILD, "  ^AB ")  # same family: case and spaces folded
    best = second.personal_best
    assert best is not None and best.family == "btc ^ab" and best.previous_one_in == first.best.one_in_pulls
    assert best.is_new == (second.best.one_in_pulls > first.best.one_in_pulls)
    elsewhere = await app.service.pull(ALICE, GUILD, "^abc", "eth")
    assert elsewhere.personal_best is not None and elsewhere.personal_best.previous_one_in is None
    assert elsewhere.personal_best.family == "eth ^abc"


async def test_a_rare_pull_beats_the_personal_best_gets_a_card_and_is_announced(lucky_app: App) -> None:
    app = lucky_app
    fe = RecordingFrontEnd()
    app.service.register_frontend(fe)
    admin = ALICE
    await app.service.configure(admin, GUILD, "announce_channel", "555", is_admin=True, label="#hall-of-fame")
    await app.service.grant(BOB, 10)
    # a plain pull first (the lucky worker is only lucky from the second job on)
    LuckyGrinder.factor = 1
    try:
        plain = await app.service.pull(BOB, GUILD, "^ab")
    finally:
        LuckyGrinder.factor = 2000
    rare = await app.service.pull(BOB, GUILD, "^ab")
    assert rare.best.full and tier_at_least(rare.best.tier, "Epic")
    assert rare.announce_channel == "555"
    assert rare.card_png is not None and rare.card_png.startswith(PNG_MAGIC)
    assert "card_png" not in repr(rare)
    assert rare.personal_best is not None and rare.personal_best.previous_one_in == plain.best.one_in_pulls
    assert rare.is_new_personal_best == (rare.best.one_in_pulls > plain.best.one_in_pulls)
    if not tier_at_least(plain.best.tier, "Rare"):
        assert plain.card_png is None and plain.announce_channel is None
    # in a private chat there is no announcement channel to post to
    private = await app.service.pull(BOB, None, "^ab")
    assert private.announce_channel is None and private.card_png is not None


async def test_a_rare_pull_in_a_community_without_an_announcement_channel_is_not_announced(lucky_app: App) -> None:
    fe = RecordingFrontEnd()
    lucky_app.service.register_frontend(fe)
    await lucky_app.service.grant(BOB, 10)
    answer = await lucky_app.service.pull(BOB, CommunityRef("test", "quiet", "Quiet"), "^ab")
    assert tier_at_least(answer.best.tier, "Epic") and answer.announce_channel is None


async def test_card_on_request_shows_the_latest_pull_and_refuses_other_peoples(
    app: App, frontend: RecordingFrontEnd
) -> None:
    with pytest.raises(ServiceError) as err:
        await app.service.card(ALICE, GUILD)
    assert err.value.code == "not_found" and "/pull" in err.value.message
    await app.service.grant(ALICE, 5)
    pulled = await app.service.pull(ALICE, GUILD, "^ab")
    card = await app.service.card(ALICE, GUILD)
    assert card.key == pulled.best and card.png.startswith(PNG_MAGIC) and card.filename.endswith(".png")
    again = await app.service.card(ALICE, GUILD, pulled.job_id)
    assert again.key == pulled.best
    with pytest.raises(ServiceError) as err:
        await app.service.card(BOB, GUILD, pulled.job_id)
    assert err.value.code == "not_found"


async def test_a_pull_whose_caller_vanished_still_counts_for_streak_and_season(
    settings: Settings, tmp_path: Path
) -> None:
    async with create_app(settings) as app:
        fe = RecordingFrontEnd()
        app.service.register_frontend(fe)
        await app.service.grant(ALICE, 5)
        task = asyncio.create_task(app.service.pull(ALICE, GUILD, "^ab"))
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await app.jobs.wait_idle()
        row = await app.db.fetchone("SELECT status FROM jobs")
        assert row is not None and row["status"] == "delivered" and len(fe.deliveries) == 1
        season = await app.service.season_leaderboard(GUILD)
        assert [e.user.user_id for e in season.entries] == ["alice"]
        assert (await app.service.streak(ALICE)).days == 1


async def test_a_reveal_that_hangs_does_not_hold_the_key_back(
    app: App, frontend: RecordingFrontEnd, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.service

    monkeypatch.setattr(bot.service, "REVEAL_TIMEOUT_S", 0.2)
    await app.service.grant(ALICE, 5)

    async def hangs(answer: PullAnswer) -> None:
        await asyncio.sleep(60)

    final = await asyncio.wait_for(app.service.pull(ALICE, GUILD, "^ab", on_reveal=hangs), 30)
    assert final.delivered and len(frontend.deliveries) == 1
