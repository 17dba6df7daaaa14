"""The per-chat outbox: paced to the group limit, 429s waited out, reveals folded not dropped, state bounded."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from telegram.error import BadRequest, RetryAfter

from bot.frontends.telegram.cooldown import Cooldowns
from bot.frontends.telegram.outbox import Outbox, OutboxLimits, SlidingWindow
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.harness import running_bot

GROUP = -100


class Recorder:
    """Stands in for the Bot API call: records when each message went out, fails on request."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str, float]] = []
        self.digests: list[list[str]] = []
        self.fail_with: list[Exception] = []

    def send(self, chat_id: int, text: str):  # type: ignore[no-untyped-def]
        async def go() -> str:
            if self.fail_with:
                raise self.fail_with.pop(0)
            self.sent.append((chat_id, text, time.monotonic()))
            return text

        return go

    async def digest(self, chat_id: int, lines: list[str]) -> str:
        self.digests.append(lines)
        self.sent.append((chat_id, "digest", time.monotonic()))
        return "digest"


def test_sliding_window_counts_events_in_the_window() -> None:
    now = [0.0]
    window = SlidingWindow(2, 10.0, lambda: now[0])
    assert window.wait_s() == 0
    window.record()
    window.record()
    assert window.wait_s() == pytest.approx(10.0) and window.free() == 0
    now[0] = 10.01
    assert window.wait_s() == 0 and window.free() == 2 and window.idle()


async def test_group_messages_are_paced_and_private_chats_are_not_held_up() -> None:
    recorder = Recorder()
    outbox = Outbox(recorder.digest, OutboxLimits(group_messages=3, group_window_s=0.5))
    group = [outbox.post(GROUP, recorder.send(GROUP, f"g{i}")) for i in range(7)]
    private = await outbox.call(42, recorder.send(42, "dm"))
    assert private == "dm"
    assert [f.done() for f in group].count(True) <= 3  # the group waits; the private chat did not
    assert await asyncio.gather(*group) == [f"g{i}" for i in range(7)]
    times = [t for chat, _, t in recorder.sent if chat == GROUP]
    for i in range(3, len(times)):
        assert times[i] - times[i - 3] >= 0.5 - 0.01  # never more than 3 in any 0.5 s
    await outbox.idle()
    assert outbox.tracked_chats() <= 1  # only the group's window, until it is pruned


async def test_busy_group_folds_waiting_reveals_into_a_digest_and_loses_none() -> None:
    recorder = Recorder()
    outbox = Outbox(recorder.digest, OutboxLimits(group_messages=2, group_window_s=0.4, fold_after=2))
    futures = [outbox.post(GROUP, recorder.send(GROUP, f"reveal {i}"), digest_line=f"line {i}") for i in range(8)]
    results = await asyncio.wait_for(asyncio.gather(*futures), 10)
    individually = [text for _, text, _ in recorder.sent if text.startswith("reveal")]
    folded = [line for lines in recorder.digests for line in lines]
    assert len(individually) + len(folded) == 8  # every reveal went out, alone or in a digest
    assert sorted(individually + [f"reveal {line.split()[1]}" for line in folded]) == sorted(
        f"reveal {i}" for i in range(8)
    )
    assert folded and outbox.folded == len(folded)
    assert all(r == "digest" or r.startswith("reveal") for r in results)


async def test_429_is_waited_out_for_reveals_and_final_edits_and_errors_reach_the_caller() -> None:
    recorder = Recorder()
    outbox = Outbox(recorder.digest, OutboxLimits(retries=0, must_retries=3))
    recorder.fail_with = [RetryAfter(1), RetryAfter(1)]
    started = time.monotonic()
    assert await outbox.call(GROUP, recorder.send(GROUP, "final"), must_deliver=True) == "final"
    assert time.monotonic() - started >= 1.9
    recorder.fail_with = [RetryAfter(1)]
    with pytest.raises(RetryAfter):  # an ordinary message with no retries left fails to its caller
        await outbox.call(GROUP, recorder.send(GROUP, "progress"))
    recorder.fail_with = [BadRequest("chat not found")]
    with pytest.raises(BadRequest):
        await outbox.call(GROUP, recorder.send(GROUP, "x"))
    assert await outbox.call(GROUP, recorder.send(GROUP, "after")) == "after"  # the worker survived


async def test_outbox_state_is_released_when_chats_go_quiet() -> None:
    recorder = Recorder()
    outbox = Outbox(recorder.digest, OutboxLimits(group_messages=1000, group_window_s=0.05, overall_per_s=100_000))
    for chat in range(-1, -400, -1):
        outbox.post(chat, recorder.send(chat, "hi"))
    await outbox.idle()
    await asyncio.sleep(0.06)
    outbox.post(-1, recorder.send(-1, "again"))
    await outbox.idle()
    assert outbox.pending() == 0 and not outbox._workers and not outbox._queues
    assert outbox.tracked_chats() <= 256


def test_cooldowns_are_bounded() -> None:
    now = [0.0]
    cooldowns = Cooldowns(1.0, clock=lambda: now[0])
    for user in range(60_000):
        cooldowns.wait_left(str(user))
    now[0] = 5.0
    cooldowns.wait_left("late")
    assert len(cooldowns) <= 50_001


async def test_close_fails_queued_and_in_flight_messages_at_once() -> None:
    """Shutdown: nobody may wait for ever on a message that will not go (Application.stop waits for them)."""
    from telegram.error import NetworkError

    recorder = Recorder()
    outbox = Outbox(recorder.digest, OutboxLimits(group_messages=1, group_window_s=600.0))
    first = outbox.post(GROUP, recorder.send(GROUP, "goes"))
    stuck = [outbox.post(GROUP, recorder.send(GROUP, f"waits {i}")) for i in range(3)]
    assert await first == "goes"
    waiter = asyncio.ensure_future(outbox.call(GROUP, recorder.send(GROUP, "a handler waits on this")))
    await asyncio.sleep(0)
    await outbox.close()
    for future in [*stuck, waiter]:
        with pytest.raises(NetworkError):
            await asyncio.wait_for(future, 1)
    with pytest.raises(NetworkError):  # after close: refused at once, never queued
        await asyncio.wait_for(outbox.call(GROUP, recorder.send(GROUP, "late")), 1)
    assert [text for _, text, _ in recorder.sent] == ["goes"]


async def test_a_long_backlog_of_reveals_goes_out_in_whole_digests_none_cut() -> None:
    """60 reveals waiting in one group: each digest holds what one message can, the rest wait for the next,
    so no line is cut off ("… N more lines not shown" would lose those reveals)."""
    recorder = Recorder()
    limits = OutboxLimits(group_messages=1, group_window_s=0.2, fold_after=2, digest_chars=400)
    outbox = Outbox(recorder.digest, limits)
    lines = [f"person{i:02d} ^abc: 1abcXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX Rare" for i in range(60)]
    futures = [
        outbox.post(GROUP, recorder.send(GROUP, f"reveal {i}"), digest_line=line) for i, line in enumerate(lines)
    ]
    await asyncio.wait_for(asyncio.gather(*futures), 20)
    alone = [text for _, text, _ in recorder.sent if text.startswith("reveal")]
    assert len(recorder.digests) >= 2
    for digest in recorder.digests:
        assert sum(len(line) + 3 for line in digest) <= limits.digest_chars
    folded = [line for digest in recorder.digests for line in digest]
    assert sorted(folded + [lines[int(text.split()[1])] for text in alone]) == sorted(lines)


def test_lines_in_one_digest_takes_at_least_one_line_and_stops_at_the_limit() -> None:
    from bot.frontends.telegram.text_size import lines_in_one_digest

    assert lines_in_one_digest(["x" * 500], 100) == 1  # a line longer than the limit still goes (fit() cuts it)
    assert lines_in_one_digest(["x" * 7] * 10, 30) == 3  # 10 characters each with "• " and the newline
    assert lines_in_one_digest([], 30) == 0
    # Telegram counts UTF-16 units: an emoji is two, so emoji names fill a digest twice as fast
    assert lines_in_one_digest(["😀" * 5] * 10, 39) == 3  # 13 units each with "• " and the newline


def test_a_digest_of_emoji_names_fits_one_message_and_loses_no_line() -> None:
    """Names are the users' own: a backlog of emoji-heavy reveal lines must still go in whole messages."""
    from bot.frontends.telegram.rendering import fit
    from bot.frontends.telegram.text_size import MAX_MESSAGE, lines_in_one_digest, utf16_len

    lines = [f"<b>{'🐸' * 64}</b> <code>^abc</code>: 1abcdefghijkmnopqrstuvwxyz12345 🔵 Rare" for _ in range(80)]
    limit = OutboxLimits().digest_chars
    while lines:
        count = lines_in_one_digest(lines, limit)
        chunk, lines = lines[:count], lines[count:]
        text = fit(["🎰 99 more pulls (from before the bot restarted):"] + [f"• {line}" for line in chunk])
        assert utf16_len(text) <= MAX_MESSAGE and "not shown" not in text and text.count("\n• ") == count


async def test_close_keeps_the_reveals_it_could_not_send_and_those_revealed_after() -> None:
    from telegram.error import NetworkError

    recorder = Recorder()
    outbox = Outbox(recorder.digest, OutboxLimits(group_messages=1, group_window_s=600.0, fold_after=100))
    assert await outbox.call(GROUP, recorder.send(GROUP, "takes the group's one message")) is not None
    queued = [outbox.post(GROUP, recorder.send(GROUP, f"reveal {i}"), digest_line=f"line {i}") for i in range(3)]
    outbox.post(GROUP, recorder.send(GROUP, "not a reveal"))
    await outbox.close()
    with pytest.raises(NetworkError):  # a pull that finishes after the stop: its reveal is kept too
        await outbox.call(-200, recorder.send(-200, "reveal late"), digest_line="line late")
    for future in queued:
        with pytest.raises(NetworkError):
            await future
    assert outbox.keeper.unsent == {GROUP: ["line 0", "line 1", "line 2"], -200: ["line late"]}


async def test_one_persons_flood_waits_behind_everyone_elses_answers_and_reveals() -> None:
    recorder = Recorder()
    outbox = Outbox(recorder.digest, OutboxLimits(group_messages=2, group_window_s=0.2, fold_after=99))
    spam = [outbox.post(GROUP, recorder.send(GROUP, f"spam {i}"), owner=1) for i in range(10)]
    others = [outbox.post(GROUP, recorder.send(GROUP, f"answer {who}"), owner=who) for who in (2, 3, 4)]
    reveal = outbox.post(GROUP, recorder.send(GROUP, "reveal"), digest_line="a line", owner=5)
    await asyncio.gather(*spam, *others, reveal)
    order = [text for chat, text, _ in recorder.sent if chat == GROUP]
    # the reveal first, then one answer for each person before the flood goes on
    assert order[:5] == ["reveal", "spam 0", "answer 2", "answer 3", "answer 4"]
    assert order[5:] == [f"spam {i}" for i in range(1, 10)], "one person's own messages keep their order"


async def test_a_slow_down_notice_is_folded_into_the_newest_and_dropped_once_stale() -> None:
    recorder = Recorder()
    outbox = Outbox(recorder.digest, OutboxLimits(group_messages=1, group_window_s=0.6))
    busy = outbox.post(GROUP, recorder.send(GROUP, "first"), owner=7)  # takes the group's only slot
    notices = [
        outbox.post(
            GROUP, recorder.send(GROUP, f"slow down {i}"), owner=1, stale_after_s=0.2, fold_key=("slow_down", 1)
        )
        for i in range(50)
    ]
    await busy
    assert outbox.pending() == 1, "fifty notices from one person fold into one"
    assert all(n.done() and n.result() is None for n in notices[:-1])
    assert await notices[-1] is None, "stale before the window opened again: dropped"
    assert await outbox.call(GROUP, recorder.send(GROUP, "an answer"), owner=2) == "an answer"
    assert [text for _, text, _ in recorder.sent] == ["first", "an answer"], "only the stale notice was dropped"


async def test_fifty_pulls_in_a_second_from_one_person_do_not_hold_up_the_others_in_the_group(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    spammer, other = fake.user(5101, "Spam"), fake.user(5102, "Quiet")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path, config={"cooldown_s": 30.0}):
        await asyncio.gather(*(fake.push_text(group, spammer, "/pull ^a") for _ in range(50)))
        asked = time.monotonic()
        await fake.push_text(group, other, "/help")
        answered = await fake.wait_for_message(group["id"], "pull for vanity crypto keys", timeout=20)
        waited = time.monotonic() - asked
        slow_downs = [m for m in fake.messages_in(group["id"]) if "Slow down" in m.text]
    assert answered is not None and waited < 5, f"the quiet person waited {waited:.1f} s"
    assert len(slow_downs) <= 1, "one person's cooldown notices folded, not 49 public replies"


async def test_a_message_waiting_behind_the_group_limit_is_kept_at_once_and_forgotten_once_sent() -> None:
    from bot.frontends.telegram.outbox import Kept, UnsentKeeper

    recorder = Recorder()
    keeper = UnsentKeeper()
    outbox = Outbox(recorder.digest, OutboxLimits(group_messages=1, group_window_s=0.5, fold_after=100), keeper=keeper)
    first = outbox.post(GROUP, recorder.send(GROUP, "goes at once"), keep=Kept(GROUP, "message", "a"))
    waiting = outbox.post(GROUP, recorder.send(GROUP, "reveal"), digest_line="line 1")
    answer = outbox.post(GROUP, recorder.send(GROUP, "an answer"), keep=Kept(GROUP, "message", "b"))
    # kept while they wait (a hard kill now loses neither); the first was never kept: it could go at once
    assert sorted(k.text for k in keeper.kept.values()) == ["b", "line 1"]
    await asyncio.gather(first, waiting, answer)
    assert keeper.kept == {}, "forgotten once sent"
    private = outbox.post(42, recorder.send(42, "dm"), keep=Kept(42, "message", "c"))
    assert keeper.kept == {}, "a private chat has no group limit to wait behind"
    await private


async def test_at_a_stop_every_queued_message_is_kept_and_only_pictures_are_counted_as_dropped() -> None:
    from bot.frontends.telegram.outbox import Kept, UnsentKeeper

    recorder = Recorder()
    keeper = UnsentKeeper()
    outbox = Outbox(recorder.digest, OutboxLimits(group_messages=1, group_window_s=600.0), keeper=keeper)
    await outbox.call(GROUP, recorder.send(GROUP, "takes the group's one message"))
    outbox.post(GROUP, recorder.send(GROUP, "an answer"), keep=Kept(GROUP, "message", "answer"))
    outbox.post(GROUP, recorder.send(GROUP, "a /card picture"))
    outbox.post(GROUP, recorder.send(GROUP, "slow down"), stale_after_s=30.0, owner=1, fold_key=("slow_down", 1))
    outbox.post(GROUP, recorder.send(GROUP, "a progress edit"), best_effort=True)
    await outbox.close()
    assert [k.text for k in keeper.kept.values()] == ["answer"]
    assert outbox.dropped_at_close == 1, "the picture; a cooldown notice and a progress edit are no loss"


async def test_a_message_refused_for_good_is_forgotten_and_one_that_failed_otherwise_stays_kept() -> None:
    from telegram.error import Forbidden, NetworkError

    from bot.frontends.telegram.outbox import Kept, UnsentKeeper

    recorder = Recorder()
    keeper = UnsentKeeper()
    outbox = Outbox(recorder.digest, OutboxLimits(group_messages=1, group_window_s=0.3, fold_after=100), keeper=keeper)
    await outbox.call(GROUP, recorder.send(GROUP, "first"))
    recorder.fail_with = [Forbidden("bot was kicked"), NetworkError("connection reset")]
    refused = outbox.post(GROUP, recorder.send(GROUP, "refused"), keep=Kept(GROUP, "message", "refused"))
    failed = outbox.post(GROUP, recorder.send(GROUP, "failed"), keep=Kept(GROUP, "message", "failed"))
    for future in (refused, failed):
        with pytest.raises((Forbidden, NetworkError)):
            await future
    assert [k.text for k in keeper.kept.values()] == ["failed"], "posted again after the restart"


def test_a_send_counts_from_when_its_answer_came_back() -> None:
    """The fake (and Telegram) count a message when it arrives. Counted only when it started, a slow send let
    the next one start a full window after the first started but less than a window after Telegram saw the
    first: a 429 the outbox did not predict."""
    now = [0.0]
    window = SlidingWindow(1, 10.0, lambda: now[0])
    cell = window.record()  # the send starts at 0 ...
    now[0] = 0.4
    window.settle(cell)  # ... and its answer comes back at 0.4
    now[0] = 10.1
    assert window.wait_s() == pytest.approx(0.3), "not free until a window after the answer"
    now[0] = 10.41
    assert window.wait_s() == 0


async def test_an_urgent_message_goes_before_everything_waiting_in_its_chat() -> None:
    recorder = Recorder()
    outbox = Outbox(recorder.digest, OutboxLimits(group_messages=1, group_window_s=0.2, fold_after=100))
    backlog = [outbox.post(GROUP, recorder.send(GROUP, f"answer {i}"), owner=i) for i in range(4)]
    reveal = outbox.post(GROUP, recorder.send(GROUP, "reveal"), digest_line="a line")
    urgent = outbox.post(GROUP, recorder.send(GROUP, "config"), owner=99, urgent=True)
    await asyncio.gather(*backlog, reveal, urgent)
    order = [text for _, text, _ in recorder.sent]
    assert order[:3] == ["config", "reveal", "answer 0"], "before the reveals too: one message, never folded"


async def test_a_floods_cooldown_notices_go_privately_once_per_wait_and_cost_the_group_nothing(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    """Before: the first notices went out publicly one each while the group still had room (14 of 49 in the load
    benchmark), spending the budget everyone else's answers needed."""
    spammer = fake.user(5111, "Flood")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path, config={"cooldown_s": 30.0}):
        await fake.push_text(fake.private_chat(spammer), spammer, "/start")
        await fake.wait_for_message(spammer["id"], "VaniKeys")
        for _ in range(20):
            await fake.push_text(group, spammer, "/pull ^a")
        await fake.wait_for_message(group["id"], " pulled ", timeout=30)
        await fake.wait_for_message(spammer["id"], "Slow down", timeout=30)
        await asyncio.sleep(1.0)  # any later notice would have gone by now
    assert not [m for m in fake.messages_in(group["id"]) if "Slow down" in m.text]
    assert len([m for m in fake.messages_in(spammer["id"]) if "Slow down" in m.text]) == 1, "once per wait"
