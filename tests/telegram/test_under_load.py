"""Under load, with the fake enforcing Telegram's limits: no reveal lost, every button press acknowledged
in time, one person's /odds cannot hog the bot, per-order state does not grow for ever."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from bot.answers import Origin
from bot.frontends.telegram import frontend as frontend_module
from bot.frontends.telegram.outbox import OutboxLimits
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.harness import reveals_in, running_bot

WIF = re.compile(r"WIF: (\S+)")


async def test_a_rate_limited_group_gets_every_reveal(fake: FakeBotApi, tmp_path: Path) -> None:
    fake.group_limit, fake.group_window_s = 4, 1.0  # Telegram's 20 a minute, scaled down to keep the test short
    group = fake.group_chat()
    people = [fake.user(3100 + i, f"P{i}") for i in range(6)]
    limits = OutboxLimits(group_messages=4, group_window_s=1.0)
    async with running_bot(fake, tmp_path, config={"outbox": limits}) as running:
        for person in people:
            await fake.push_text(fake.private_chat(person), person, "/start")
        for person in people:
            for pattern in ("^a", "^b"):
                await fake.push_text(group, person, f"/pull {pattern}")
        await fake.wait_for(lambda: reveals_in(fake, group["id"]) >= 12, timeout=60)
        await fake.wait_for(
            lambda: sum(len(WIF.findall(m.text)) for p in people for m in fake.messages_in(p["id"])) == 12, timeout=30
        )
        await running.handlers.outbox.idle()
    assert reveals_in(fake, group["id"]) == 12  # none lost, none twice
    group_sends = [
        r
        for r in fake.requests
        if r.params.get("chat_id") == group["id"] and r.method in ("sendMessage", "editMessageText") and r.error is None
    ]
    assert len(group_sends) < 12 + 6  # folded into digests rather than one message each plus suspense


async def test_a_hundred_simultaneous_presses_are_all_acknowledged(fake: FakeBotApi, tmp_path: Path) -> None:
    # Telegram's deadline (15 s) is enforced; the 3 s aim is measured by benchmarks/telegram_load.py, since on
    # a shared 2-core box with the fake in the same process a timed assertion would only measure the machine.
    fake.group_limit = 10_000
    group = fake.group_chat()
    people = [fake.user(3200 + i, f"Q{i}") for i in range(100)]
    async with running_bot(fake, tmp_path, config={"outbox": OutboxLimits(group_messages=10_000)}):
        await fake.push_text(group, people[0], "/help")
        anchor = await fake.wait_for_message(group["id"], "/pull")
        # "Order this" on 100 results at once: the same acknowledge-first path as a pull, without the
        # 100 grinds (the local backend's process per job would make this test slow; the benchmark pulls)
        queries = await asyncio.gather(*(fake.push_callback(p, anchor, f"q|{p['id']}|btc|i|^ab") for p in people))
        await fake.wait_for(lambda: all(fake.callback_answered(q) for q in queries), timeout=20)
        late = [q for q in queries if fake.callback_answer_delay.get(q, 99) > fake.callback_deadline_s]
        await fake.wait_for(
            lambda: len([m for m in fake.messages_in(group["id"]) if "Order the exact" in m.text]) == 100, timeout=60
        )
    assert not late
    assert not [r for r in fake.calls("answerCallbackQuery") if r.error is not None]


async def test_odds_has_a_per_user_cooldown(fake: FakeBotApi, tmp_path: Path) -> None:
    rae, sam = fake.user(3301, "Rae"), fake.user(3302, "Sam")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path, config={"odds_cooldown_s": 60}):
        await fake.push_text(group, rae, "/odds ^abc")
        await fake.wait_for_message(group["id"], "Odds for")
        await fake.push_text(group, rae, "/odds ^abd")
        slow = await fake.wait_for_message(group["id"], "Slow down")
        await fake.push_text(group, sam, "/odds ^abe")  # someone else is not held back
        await fake.wait_for(lambda: len([m for m in fake.messages_in(group["id"]) if "Odds for" in m.text]) == 2)
    assert "/odds again in" in slow.text
    assert not [m for m in fake.messages_in(group["id"]) if "^abd" in m.text]


async def test_per_order_state_is_bounded(fake: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frontend_module, "FINISHED_ORDERS_KEPT", 5)
    fake.group_limit = 1000
    group = fake.group_chat()
    async with running_bot(fake, tmp_path, config={"outbox": OutboxLimits(group_messages=1000)}) as running:
        front = running.handlers.frontend
        sent = [await front.send_text(group["id"], f"order {i}") for i in range(12)]
        for message in sent:
            origin = Origin("telegram", str(group["id"]), str(message.message_id))
            await front.edit_text_unless_finished(origin, "progress")
            await front.edit_text_unless_finished(origin, "done", final=True)
            assert not await front.edit_text_unless_finished(origin, "late progress")  # never after the final edit
        assert len(front._finished) == 5 and not front._edit_locks
    assert fake.message(group["id"], sent[-1].message_id).text == "done"


async def test_ten_people_pulling_at_once_in_a_group_all_see_their_reveals_within_its_first_minute(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    """Telegram's 20 a minute: before, the rolling suspense (a message and up to three edits per pull) took the
    group's budget whenever half of it was free, and the last reveals waited for the next minute. The suspense
    now only spends what the running pulls' reveals do not need."""
    group = fake.group_chat()
    people = [fake.user(3400 + i, f"T{i}") for i in range(10)]
    async with running_bot(fake, tmp_path, config={"rolling_step_s": 0.3}) as running:
        await asyncio.gather(*(fake.push_text(group, person, "/pull ^a") for person in people))
        await fake.wait_for(lambda: reveals_in(fake, group["id"]) >= len(people), timeout=45)
        await running.handlers.outbox.idle()
    assert reveals_in(fake, group["id"]) == len(people)
    assert not fake.rate_limited()
