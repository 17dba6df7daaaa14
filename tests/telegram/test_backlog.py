"""A backlog: many pulls in one rate-limited group, and shutting down while messages still wait.

The fake enforces Telegram's limits (scaled down so the tests take seconds)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from bot.app import create_app
from bot.frontends.telegram import running
from bot.frontends.telegram.outbox import OutboxLimits
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.harness import btc_address_from_wif, make_config, make_settings, reveals_in, running_bot

WIF = re.compile(r"WIF: (\S+)")


def keys_sent_to(fake: FakeBotApi, person: dict) -> list[str]:
    return [wif for m in fake.messages_in(person["id"]) for wif in WIF.findall(m.text)]


async def test_many_pulls_in_one_busy_group_all_finish_without_starving_others(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    fake.group_limit, fake.group_window_s = 2, 2.0  # Telegram's 20 a minute, scaled down
    busy, quiet = fake.group_chat(), fake.group_chat(-1009876543210, "Quiet")
    crowd = [fake.user(3400 + i, f"C{i}") for i in range(12)]
    loner, other = fake.user(3490, "Lone"), fake.user(3491, "Other")
    limits = OutboxLimits(group_messages=2, group_window_s=2.0)
    # Fewer slots than pulls: a slot held while a reveal waits for the group's budget would serialise
    # every pull (the private and the quiet group's among them) behind the busy group's pace.
    async with running_bot(fake, tmp_path, config={"outbox": limits, "heavy_concurrency": 2}) as running:
        for person in crowd + [loner, other]:
            await fake.push_text(fake.private_chat(person), person, "/start")
        for person in crowd:
            await fake.push_text(busy, person, "/pull ^a")
        await fake.push_text(fake.private_chat(loner), loner, "/pull ^b")
        await fake.push_text(quiet, other, "/pull ^c")
        await fake.wait_for(lambda: all(keys_sent_to(fake, p) for p in crowd + [loner, other]), timeout=60)
        delivered_all_at = max(
            r.at
            for r in fake.requests
            if r.method == "sendMessage" and r.error is None and "WIF:" in str(r.params.get("text", ""))
        )
        await fake.wait_for(lambda: reveals_in(fake, busy["id"]) >= len(crowd), timeout=60)
        await running.handlers.outbox.idle()
    for person in crowd + [loner, other]:
        (wif,) = keys_sent_to(fake, person)  # exactly one key each, and it is a real one
        assert btc_address_from_wif(wif)
    assert reveals_in(fake, busy["id"]) == len(crowd)  # every reveal, late or in a digest; none twice
    assert reveals_in(fake, quiet["id"]) == 1
    busy_sends = [
        r.at
        for r in fake.requests
        if r.params.get("chat_id") == busy["id"] and r.method in ("sendMessage", "sendPhoto") and r.error is None
    ]
    # The keys did not wait for the busy group's reveals: every key was out before its last reveal went.
    assert delivered_all_at < max(busy_sends)


async def test_stop_is_prompt_with_a_backlog_and_loses_no_key(fake: FakeBotApi, tmp_path: Path) -> None:
    fake.group_limit, fake.group_window_s = 1, 120.0  # one group message per two minutes: a backlog for sure
    group = fake.group_chat()
    people = [fake.user(3500 + i, f"S{i}") for i in range(4)]
    config = make_config(fake, outbox=OutboxLimits(group_messages=1, group_window_s=120.0), stop_grace_s=0.5)
    async with create_app(make_settings(fake, tmp_path)) as app:
        bot = running(app.service, config)
        _, handlers = await bot.__aenter__()
        try:
            for person in people:
                await fake.push_text(fake.private_chat(person), person, "/start")
            await fake.push_text(group, people[0], "/help")  # takes the group's one message
            await fake.wait_for_message(group["id"], "/pull")
            for person in people:
                await fake.push_text(group, person, "/pull ^a")  # keys go privately; reveals queue
            await fake.push_text(group, people[0], "/order ^zz")  # its handler waits on the group's queue
            await fake.wait_for(lambda: all(keys_sent_to(fake, p) for p in people), timeout=30)
            await fake.wait_for(lambda: handlers.outbox.pending() >= len(people), timeout=10)
        finally:
            # Before: Application.stop() waited for the /order handler, i.e. for the group's next minute.
            await asyncio.wait_for(bot.__aexit__(None, None, None), timeout=30)
        await asyncio.wait_for(app.jobs.wait_idle(), 10)
        rows = await app.db.fetchall("SELECT kind, status FROM jobs", ())
    assert sorted(r["kind"] for r in rows) == ["pull"] * len(people)  # the order was never placed nor charged
    assert {r["status"] for r in rows} == {"delivered"}  # every paid pull's key went out
    for person in people:
        assert btc_address_from_wif(keys_sent_to(fake, person)[0])


async def test_pulls_waiting_for_a_slot_send_no_chat_actions(fake: FakeBotApi, tmp_path: Path) -> None:
    """Under load hundreds of pulls wait for a slot; each sending "typing…" every few seconds took the whole
    overall budget from the messages that finish pulls. Only a pull that holds a slot shows "typing…"."""
    people = [fake.user(3600 + i, f"W{i}") for i in range(5)]
    async with running_bot(fake, tmp_path, config={"heavy_concurrency": 1}) as running:
        for person in people:
            await fake.push_text(fake.private_chat(person), person, "/start")
        await fake.wait_for(lambda: len(fake.calls("sendMessage")) >= len(people))
        slots = running.handlers._heavy
        await slots.acquire()  # the one slot is busy
        try:
            for person in people:
                await fake.push_text(fake.private_chat(person), person, "/pull ^ab")
            await fake.wait_for(lambda: len(slots._waiters or ()) == len(people))
            assert fake.chat_actions == []
        finally:
            slots.release()
        await fake.wait_for(lambda: all(keys_sent_to(fake, p) for p in people), timeout=30)
    assert {chat for chat, action, _ in fake.chat_actions} <= {p["id"] for p in people}


async def test_reveals_queued_at_a_stop_are_posted_after_the_restart(fake: FakeBotApi, tmp_path: Path) -> None:
    """A deploy while a group is at its message limit: the queued reveals are kept in the database and the
    restarted bot posts them, once each, as a digest; nothing is kept afterwards."""
    fake.group_limit, fake.group_window_s = 1, 120.0
    group = fake.group_chat()
    people = [fake.user(3700 + i, f"R{i}") for i in range(4)]
    config = make_config(fake, outbox=OutboxLimits(group_messages=1, group_window_s=120.0), stop_grace_s=0.2)
    async with create_app(make_settings(fake, tmp_path)) as app:
        async with running(app.service, config) as (_, handlers):
            for person in people:
                await fake.push_text(fake.private_chat(person), person, "/start")
            await fake.push_text(group, people[0], "/help")  # takes the group's one message
            await fake.wait_for_message(group["id"], "/pull")
            for person in people:
                await fake.push_text(group, person, "/pull ^a")
            await fake.wait_for(lambda: all(keys_sent_to(fake, p) for p in people), timeout=30)
            # one reveal waits in the group's worker for the next minute, the others in its queue
            await fake.wait_for(lambda: handlers.outbox.pending() >= len(people) - 1, timeout=10)
        await asyncio.wait_for(app.jobs.wait_idle(), 10)
        kept = await app.db.fetchall("SELECT chat_id, line FROM late_reveals")
    assert reveals_in(fake, group["id"]) == 0
    assert len(kept) == len(people) and {r["chat_id"] for r in kept} == {str(group["id"])}
    assert not any("WIF" in r["line"] or "tg-spoiler" in r["line"] for r in kept)  # what the group sees, no key

    fake.group_limit, fake.group_window_s = 20, 60.0  # a new minute: the group has room again
    async with create_app(make_settings(fake, tmp_path)) as app:
        async with running(app.service, make_config(fake)) as (_, handlers):
            await fake.wait_for_message(group["id"], "before the bot restarted")
            await handlers.outbox.idle()
        left = await app.db.fetchall("SELECT id FROM late_reveals")
    (digest,) = [m for m in fake.messages_in(group["id"]) if "before the bot restarted" in m.text]
    assert reveals_in(fake, group["id"]) == len(people)
    assert all(p["first_name"] in digest.text for p in people)
    assert left == []


async def test_a_pull_gives_its_slot_back_once_its_result_is_stored(fake: FakeBotApi, tmp_path: Path) -> None:
    """The slot covers the grind, not the sending: a key whose DM waits out a 429 does not hold up the next
    person's pull (before, with one slot, B's pull could not start until A's DM had gone)."""
    from tests.telegram.fake_bot_api import too_many_requests

    a, b = fake.user(3800, "SlotA"), fake.user(3801, "SlotB")
    async with running_bot(fake, tmp_path, config={"heavy_concurrency": 1}):
        for person in (a, b):
            await fake.push_text(fake.private_chat(person), person, "/start")
        await fake.wait_for(lambda: len(fake.calls("sendMessage")) >= 2)
        fake.fail_next(
            "sendMessage",
            too_many_requests(3),
            when=lambda params: params.get("chat_id") == a["id"] and "WIF" in str(params.get("text")),
        )
        await fake.push_text(fake.private_chat(a), a, "/pull ^ab")
        await fake.wait_for(lambda: fake.rate_limited(), timeout=10)  # A's key is waiting out its 429
        await fake.push_text(fake.private_chat(b), b, "/pull ^ab")
        await fake.wait_for(lambda: keys_sent_to(fake, a) and keys_sent_to(fake, b), timeout=30)
    delivered = {
        p["first_name"]: min(
            r.at
            for r in fake.requests
            if r.method == "sendMessage"
            and r.error is None
            and r.params.get("chat_id") == p["id"]
            and "WIF" in str(r.params.get("text"))
        )
        for p in (a, b)
    }
    assert delivered["SlotB"] < delivered["SlotA"]


async def test_late_reveals_for_a_chat_that_refuses_them_are_dropped_and_the_rest_posted(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    """After a restart: a group that removed the bot (403) drops its kept reveals for good; another group still
    gets its own; the bot runs on."""
    from tests.telegram.fake_bot_api import forbidden_blocked

    gone, here = fake.group_chat(-1001111, "Gone"), fake.group_chat(-1002222, "Here")
    async with create_app(make_settings(fake, tmp_path)) as app:
        await app.service.keep_late_reveals(
            "telegram", {str(gone["id"]): ["<b>A</b> ^a: 1a Common"], str(here["id"]): ["<b>B</b> ^b: 1b Common"]}
        )
        fake.fail_next("sendMessage", forbidden_blocked(), when=lambda params: params.get("chat_id") == gone["id"])
        async with running(app.service, make_config(fake)) as (_, handlers):
            await fake.wait_for_message(here["id"], "before the bot restarted")
            await fake.wait_for(
                lambda: (
                    fake.rate_limited()
                    or any(r.error is not None and r.params.get("chat_id") == gone["id"] for r in fake.requests)
                )
            )
            await handlers.outbox.idle()
            alice = fake.user(3900, "Alice")
            await fake.push_text(fake.private_chat(alice), alice, "/help")
            await fake.wait_for_message(alice["id"], "VaniKeys")
        left = await app.db.fetchall("SELECT chat_id FROM late_reveals")
    assert left == []
    assert reveals_in(fake, here["id"]) == 1 and reveals_in(fake, gone["id"]) == 0


async def test_answers_queued_at_a_stop_are_kept_and_posted_after_the_restart(fake: FakeBotApi, tmp_path: Path) -> None:
    """Before: only reveals were kept; every other queued message was dropped at a stop ("stopping: 8 queued
    Telegram messages not sent"). Now each is posted after the restart as it was, replying to its command."""
    fake.group_limit, fake.group_window_s = 1, 120.0
    group = fake.group_chat()
    asker = fake.user(3750, "Asker")
    config = make_config(fake, outbox=OutboxLimits(group_messages=1, group_window_s=120.0), stop_grace_s=0.2)
    async with create_app(make_settings(fake, tmp_path)) as app:
        async with running(app.service, config) as (_, handlers):
            await fake.push_text(group, asker, "/help")  # takes the group's one message
            await fake.wait_for_message(group["id"], "/pull")
            await fake.push_text(group, asker, "/leaderboard")
            await fake.push_text(group, asker, "/season")
            await fake.wait_for(lambda: handlers.outbox.pending() == 2, timeout=10)
        kept = await app.db.fetchall("SELECT line FROM late_reveals ORDER BY id")
    assert len(kept) == 2
    assert len(fake.messages_in(group["id"])) == 1  # the /help answer: nothing else went

    fake.group_limit, fake.group_window_s = 20, 60.0
    async with create_app(make_settings(fake, tmp_path)) as app:
        async with running(app.service, make_config(fake)) as (_, handlers):
            await fake.wait_for(
                lambda: (
                    len(
                        [
                            r
                            for r in fake.calls("sendMessage")
                            if r.error is None and r.params.get("chat_id") == group["id"]
                        ]
                    )
                    == 3
                ),
                timeout=30,
            )
            await handlers.outbox.idle()
        left = await app.db.fetchall("SELECT id FROM late_reveals")
    late = [r for r in fake.calls("sendMessage") if r.error is None and r.params.get("chat_id") == group["id"]][1:]
    assert all(r.params.get("reply_parameters") for r in late), "each still answers its command"
    assert left == []
