"""A reveal still waiting when the bot stops is kept and posted in its channel after the restart.

Before: a reveal held back by the channel's rate limit (discord.py waiting out a 429) when the bot stopped was
lost: the key went by DM, the channel never saw the pull. Telegram kept its queued reveals in the database and
posted them after the restart; Discord now uses the same storage (bot/community/late_reveals.py).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import discord
import pytest

from bot.app import create_app
from bot.frontends.discord.outbox import Outbox, OutboxClosed
from bot.frontends.discord.rendering import late_reveal_digests
from tests.discord.conftest import discord_settings, quiet_config, start_bot, stop_bot
from tests.discord.fake_discord import FakeDiscord

REVEAL_EDIT = r"/webhooks/\d+/[^/]+/messages/@original"  # the reveal replaces the interaction's message


async def test_a_reveal_waiting_at_a_stop_is_posted_after_the_restart(fake: FakeDiscord, tmp_path: Path) -> None:
    settings = discord_settings(tmp_path)
    alice = fake.add_user("alice")
    async with create_app(settings) as app:
        bot, task = await start_bot(fake, app, quiet_config(stop_grace_s=0.5))
        try:
            # The reveal's edit is rate-limited for ten minutes: Discord holds it back (a 429, then the bucket)
            limit = fake.limit_route("PATCH", REVEAL_EDIT, limit=1, window_s=600.0)
            limit.used[""] = [fake.now()]
            await fake.slash(alice, "pull", {"pattern": "^ab"})
            await fake.wait_for(lambda: fake.rate_limited)
            for _ in range(500):  # until the reveal waits (behind a roll step that met the 429, or in the outbox)
                if bot.frontend.revealing:
                    break
                await asyncio.sleep(0.02)
            assert bot.frontend.revealing == 1
        finally:
            started = time.monotonic()
            await stop_bot(bot, task)
            stopped_in = time.monotonic() - started
        assert stopped_in < 8, "the stop does not wait out the rate limit"
        assert not [m for m in fake.public_messages() if m["embeds"]], "the reveal never reached the channel"
        kept = await app.db.fetchall("SELECT platform, chat_id, line FROM late_reveals")
        assert [(r["platform"], r["chat_id"]) for r in kept] == [("discord", str(fake.channel_id))]
        assert "Alice" in kept[0]["line"] and "`^ab`" in kept[0]["line"]
        assert "WIF" not in kept[0]["line"] and "||" not in kept[0]["line"], "what the channel sees, never a key"
        await asyncio.wait_for(app.jobs.wait_idle(), 30)
        (job,) = await app.db.fetchall("SELECT status FROM jobs")
        assert job["status"] in ("delivered", "found"), "the key went by DM, or waits in the vault for /keys"

    fake.route_limits.clear()
    async with create_app(settings) as app:  # the restart: a new process on the same database
        bot, task = await start_bot(fake, app, quiet_config())
        try:
            digest = await fake.wait_for(
                lambda: [m for m in fake.public_messages() if "from before the bot restarted" in m["content"]]
            )
            assert "1 more pull" in digest[0]["content"] and kept[0]["line"] in digest[0]["content"]
            assert await fake.wait_for(lambda: True) and not await app.db.fetchall("SELECT id FROM late_reveals")
        finally:
            await stop_bot(bot, task)


async def test_a_must_waiting_out_a_429_ends_at_the_stop_and_later_ones_at_once() -> None:
    outbox = Outbox()
    tries = 0

    async def limited() -> None:
        nonlocal tries
        tries += 1
        raise discord.RateLimited(600.0)

    waiting = asyncio.create_task(outbox.must(1, limited))
    await asyncio.sleep(0.05)
    assert outbox.pending() == 1 and tries == 1
    started = time.monotonic()
    await outbox.close(grace_s=0.2)
    with pytest.raises(OutboxClosed):
        await waiting
    assert time.monotonic() - started < 2 and outbox.pending() == 0
    with pytest.raises(OutboxClosed):
        await outbox.must(1, limited)
    assert tries == 1, "nothing is sent once the outbox is closed"


async def test_a_send_in_flight_gets_the_grace_period() -> None:
    outbox = Outbox()

    async def slow() -> str:
        await asyncio.sleep(0.1)
        return "sent"

    sending = asyncio.create_task(outbox.must(1, slow))
    await asyncio.sleep(0)
    await outbox.close(grace_s=2.0)
    assert await sending == "sent"


def test_kept_lines_become_digests_within_a_message() -> None:
    lines = [f"**user{i}** `^abc`: `1abc{'x' * 200}{i}` Rare" for i in range(40)]
    digests = late_reveal_digests(lines)
    assert sum(count for count, _ in digests) == 40 and len(digests) > 1
    assert all(len(text) <= 2000 for _, text in digests)
    shown = [line[2:] for _, text in digests for line in text.splitlines()[1:]]
    assert shown == lines, "every line once, in order"
    assert late_reveal_digests(lines[:1])[0][1].startswith("🎰 1 more pull (from before the bot restarted):")
