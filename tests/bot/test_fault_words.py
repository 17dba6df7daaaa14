"""After a storage fault, every answer says what actually committed, and the ledger agrees with the words.

A fault is injected after each commit point of a pull (the charge, each step of the job, the delivery, the
community records), of an order, a gift, a grant and a top-up, on SQLite and PostgreSQL: the commit stands, the
caller is told storage failed, and storage stays down (reads too, or reads only back) until healed. The words
are then checked against the ledger once the bot has finished what it owed: "nothing was charged" only when no
charge exists, "charged" only when one does (and the job is then delivered or refunded exactly once).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answers import ServiceError
from bot.app import App, create_app
from bot.committed import FaultAnswer
from bot.config import Settings
from bot.storage import StorageUnavailable
from payments.events import LedgerInstruction

from .conftest import ALICE, BOB, RecordingFrontEnd
from .faults import StorageFaults

START = 5


@pytest.fixture(autouse=True)
def read_back_without_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The read-back after a fault still tries three times, without its pauses (0.25 s and 0.75 s, for a fault
    that clears by itself): here storage stays down, or answers reads, until the test heals it, so a pause changes
    no answer and only cost about a second per fault."""
    from bot import committed

    monkeypatch.setattr(committed, "READ_BACK_DELAYS_S", (0.0,) * len(committed.READ_BACK_DELAYS_S))


async def _settle(app: App, faults: StorageFaults) -> None:
    """Storage is back: let the bot finish what it owes (what the maintenance loop does every third of a lease)."""
    faults.heal()
    for _ in range(2):
        await app.jobs.sweep()
        await app.jobs.wait_idle()
        await app.service.wait_idle()


async def _charges(app: App) -> list[tuple[str, str, int]]:
    rows = await app.db.fetchall(
        "SELECT job_id, kind, tokens FROM ledger WHERE user_id = ? AND job_id IS NOT NULL ORDER BY id", (ALICE.user_id,)
    )
    return [(r["job_id"], r["kind"], r["tokens"]) for r in rows]


async def _commit_points(settings: Settings) -> int:
    """How many transactions one pull commits, start to finish (charge, steps, delivery, records)."""
    async with create_app(settings) as app:
        app.service.register_frontend(RecordingFrontEnd())
        await app.service.grant(ALICE, START)
        faults = StorageFaults(app.db)
        faults.count()
        await app.service.pull(ALICE, None, "ab", allow_easy=True)
        await app.service.wait_idle()
        return faults.commits


def _check_words(err: FaultAnswer) -> None:
    text = err.message.lower()
    if err.committed == "nothing":
        assert text.startswith("nothing was charged") and "try again" in text
    elif err.committed == "charged":
        assert "was charged (1 token)" in text and "try again" not in text
    elif err.committed == "refunded":
        assert "refunded (1 token)" in text
    else:
        assert err.committed == "unknown" and "cannot say yet" in text and "check /balance" in text
        assert "try again" not in text


@pytest.mark.parametrize("reads", ["down", "back"], ids=["reads-down", "reads-back"])
async def test_a_fault_after_each_commit_of_a_pull_is_answered_with_what_committed(
    store_settings: Settings, reads: str
) -> None:
    points = await _commit_points(store_settings)
    assert points >= 5  # charge, submitted, running, found, delivered at least
    said: list[str] = []
    for point in range(1, points + 1):
        async with create_app(store_settings) as app:
            fe = RecordingFrontEnd()
            app.service.register_frontend(fe)
            start = await app.service.grant(ALICE, START)  # the store is shared by every round: its own start
            before = await _charges(app)
            faults = StorageFaults(app.db)
            faults.after_commits(point, reads_fail=reads == "down")
            answer: FaultAnswer | None = None
            try:
                await app.service.pull(ALICE, None, "ab", allow_easy=True)
            except FaultAnswer as err:
                answer = err
            except StorageUnavailable as err:  # a fault answered with the fixed words: the defect this guards
                pytest.fail(f"commit point {point}: answered with fixed words: {err.message}")
            await _settle(app, faults)
            after = await _charges(app)
            new = after[len(before) :]
            balance = (await app.service.balance(ALICE)).tokens
            assert await app.ledger.audit() == []
            if answer is None:  # the fault came after everything the answer needed (community records)
                said.append("answered")
                [(job_id, kind, tokens)] = new
                assert (kind, tokens, balance) == ("pull", -1, start - 1)
                continue
            said.append(answer.committed)
            _check_words(answer)
            if answer.committed == "nothing":
                assert new == [] and balance == start, (point, answer.message, new)
                continue
            assert new and new[0][1] == "pull", (point, answer.message, new)  # something was charged
            if answer.committed == "unknown":
                continue
            job_id = answer.job_id
            assert job_id is not None and new[0][0] == job_id
            status = (await app.jobs.get(job_id)).status
            if status == "found":  # its one automatic delivery was tried as the fault struck: /keys, as told
                assert "/keys" in answer.message
                assert (await app.service.keys(ALICE)).delivered == (job_id,)
                status = (await app.jobs.get(job_id)).status
            kinds = [kind for j, kind, _ in new if j == job_id]
            if status == "delivered":  # charged once, delivered once
                assert kinds == ["pull"] and balance == start - 1
                assert [d.job_id for _, d in fe.deliveries] == [job_id]
            else:  # charged once, refunded once
                assert status == "refunded" and kinds == ["pull", "refund"] and balance == start
    assert said[0] == ("unknown" if reads == "down" else "charged"), said  # the charge's own commit
    assert "nothing" not in said, said  # every commit point is at or after the charge


@pytest.mark.parametrize("reads", ["down", "back"], ids=["reads-down", "reads-back"])
async def test_a_fault_at_the_charge_of_an_order_says_what_committed(store_settings: Settings, reads: str) -> None:
    async with create_app(store_settings) as app:
        app.service.register_frontend(RecordingFrontEnd())
        await app.service.grant(ALICE, 1000)
        faults = StorageFaults(app.db)
        faults.after_commits(1, reads_fail=reads == "down")
        with pytest.raises(FaultAnswer) as answered:
            await app.service.order(ALICE, None, "ab")
        await _settle(app, faults)
        [(job_id, _kind, tokens)] = [c for c in await _charges(app) if c[1] == "order"]
        if reads == "down":
            assert answered.value.committed == "unknown" and "cannot say yet" in answered.value.message
        else:
            assert answered.value.committed == "charged" and answered.value.job_id == job_id
            assert f"your order was charged ({-tokens:,} tokens" in answered.value.message
        assert (await app.jobs.get(job_id)).status in ("delivered", "refunded")
        assert await app.ledger.audit() == []


async def test_a_fault_before_the_charge_commits_says_nothing_was_charged(store_settings: Settings) -> None:
    async with create_app(store_settings) as app:
        app.service.register_frontend(RecordingFrontEnd())
        await app.service.grant(ALICE, START)
        faults = StorageFaults(app.db)
        faults.down, faults.reads_down = True, False  # writes fail, reads answer (a full disk)
        for command in (app.service.pull(ALICE, None, "ab", allow_easy=True), app.service.order(ALICE, None, "ab")):
            with pytest.raises(FaultAnswer) as answered:
                await command
            assert answered.value.committed == "nothing"
            assert answered.value.message.startswith("nothing was charged")
        faults.heal()
        assert await _charges(app) == [] and (await app.service.balance(ALICE)).tokens == START


@pytest.mark.parametrize("reads", ["down", "back"], ids=["reads-down", "reads-back"])
async def test_a_fault_at_a_gift_or_a_grant_says_whether_it_was_made(store_settings: Settings, reads: str) -> None:
    async with create_app(store_settings) as app:
        fe = RecordingFrontEnd()
        app.service.register_frontend(fe)
        await app.service.grant(ALICE, START)
        faults = StorageFaults(app.db)
        faults.after_commits(1, reads_fail=reads == "down")
        if reads == "back":
            gift = await app.service.gift(ALICE, BOB, 2, idempotency_key="m-1")
            assert gift.applied and gift.balance_after == START - 2 and "you gifted 2 tokens" in gift.message
            assert [text for _, text in fe.notices] == ["Alice gifted you 2 tokens; your balance is now 2"]
        else:
            with pytest.raises(FaultAnswer) as answered:
                await app.service.gift(ALICE, BOB, 2, idempotency_key="m-1")
            assert answered.value.committed == "unknown" and "check /balance" in answered.value.message
        faults.heal()
        assert (await app.service.balance(BOB)).tokens == 2  # it was made, whatever the words could tell
        faults.after_commits(1, reads_fail=reads == "down")
        if reads == "back":
            assert await app.service.grant(BOB, 3) == 5
        else:
            with pytest.raises(FaultAnswer, match="cannot say yet"):
                await app.service.grant(BOB, 3)
        faults.heal()
        assert (await app.service.balance(BOB)).tokens == 5
        faults.down, faults.reads_down = True, False  # nothing commits
        with pytest.raises(FaultAnswer, match=r"^nothing was given"):
            await app.service.gift(ALICE, BOB, 1, idempotency_key="m-2")
        with pytest.raises(FaultAnswer, match=r"^nothing was granted"):
            await app.service.grant(BOB, 1)
        faults.heal()
        assert (await app.service.balance(BOB)).tokens == 5
        assert await app.ledger.audit() == []


async def test_a_top_up_applied_as_storage_failed_is_told_once_and_not_retried(store_settings: Settings) -> None:
    async with create_app(store_settings) as app:
        fe = RecordingFrontEnd()
        app.service.register_frontend(fe)
        instruction = LedgerInstruction(
            platform=ALICE.platform,
            user_id=ALICE.user_id,
            tokens=500,
            idempotency_key="stripe:cs_1",
            reason="purchase",
            notice="500 tokens added",
            stripe_id="cs_1",
        )
        faults = StorageFaults(app.db)
        faults.after_commits(1, reads_fail=False)
        outcome = await app.service.apply_instruction(instruction)  # applied: Stripe must get its 200
        assert outcome.applied and outcome.balance == 500
        assert [text for _, text in fe.notices] == ["500 tokens added"]
        faults.heal()
        assert not (await app.service.apply_instruction(instruction)).applied  # Stripe's retry: once per key
        assert (await app.service.balance(ALICE)).tokens == 500
        faults.down = True  # nothing commits, and nothing can be read back: the webhook answers 503, Stripe retries
        second = LedgerInstruction(
            platform=ALICE.platform,
            user_id=ALICE.user_id,
            tokens=100,
            idempotency_key="stripe:cs_2",
            reason="purchase",
            notice="100 tokens added",
            stripe_id="cs_2",
        )
        with pytest.raises(StorageUnavailable):
            await app.service.apply_instruction(second)
        faults.heal()
        assert (await app.service.balance(ALICE)).tokens == 500 and len(fe.notices) == 1


async def test_a_top_up_whose_fault_left_it_unknown_is_told_when_the_retry_finds_it(store_settings: Settings) -> None:
    async with create_app(store_settings) as app:
        fe = RecordingFrontEnd()
        app.service.register_frontend(fe)
        instruction = LedgerInstruction(
            platform=ALICE.platform,
            user_id=ALICE.user_id,
            tokens=500,
            idempotency_key="stripe:cs_3",
            reason="purchase",
            notice="500 tokens added",
            stripe_id="cs_3",
        )
        faults = StorageFaults(app.db)
        faults.after_commits(1, reads_fail=True)  # it commits, and nothing can be read back: Stripe retries
        with pytest.raises(StorageUnavailable):
            await app.service.apply_instruction(instruction)
        assert fe.notices == []
        faults.heal()
        retried = await app.service.apply_instruction(instruction)  # finds it applied: the buyer is told now
        assert retried.balance == 500 and retried.tokens_moved == 500
        assert [text for _, text in fe.notices] == ["500 tokens added"]
        assert not (await app.service.apply_instruction(instruction)).applied  # and only once
        assert len(fe.notices) == 1 and (await app.service.balance(ALICE)).tokens == 500


def test_service_errors_say_what_they_left_committed() -> None:
    assert ServiceError("bad_pattern", "x").committed == "nothing"
    assert ServiceError("busy", "x", committed="charged").committed == "charged"
    assert StorageUnavailable("why").committed == "nothing"


async def test_telegram_shows_the_charge_a_fault_left_never_nothing_was_charged(tmp_path: Path) -> None:
    """The group's "rolling…" placeholder used to end "nothing was charged" on any error."""
    from tests.telegram.fake_bot_api import FakeBotApi
    from tests.telegram.harness import running_bot

    api = FakeBotApi()
    await api.start()
    try:
        alice, group = api.user(101, "Alice"), api.group_chat()
        async with running_bot(api, tmp_path, config={"rolling_step_s": 0.05}) as bot:
            await api.push_text(api.private_chat(alice), alice, "/start")
            await api.wait_for_message(alice["id"], "VaniKeys")
            faults = StorageFaults(bot.app.db)
            faults.after_commits(1, reads_fail=False)  # the charge commits; its caller hears storage failed
            await api.push_text(group, alice, "/pull ^a")
            told = await api.wait_for(
                lambda: [
                    r.params["text"]
                    for r in api.requests
                    if r.params.get("chat_id") == group["id"]
                    and "was charged (1 free pull)" in r.params.get("text", "")
                ]
            )
            faults.heal()
            await _settle(bot.app, faults)
            await api.wait_for(lambda: [m for m in api.messages_in(alice["id"]) if "WIF" in m.text])
        texts = [r.params.get("text", "") for r in api.requests if r.params.get("chat_id") == group["id"]]
        assert told and not any("nothing was charged" in text.lower() for text in texts), texts
    finally:
        await api.stop()
