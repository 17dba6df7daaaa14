"""End to end under Discord's rules: rate-limited routes, the 3-second acknowledgement, 15-minute tokens."""

from __future__ import annotations

import asyncio
import functools
import time

import discord
import pytest

from bot.frontends.discord.outbox import Outbox
from tests.discord.conftest import Harness
from tests.discord.fake_discord import DEFERRED_CHANNEL_MESSAGE, FakeDiscord
from tests.discord.test_pulls import reveal_of, secrets_in_dms

SIXTEEN_MINUTES = 16 * 60.0


def pull_button_message(fake: FakeDiscord, custom_id: str = "vk:pull:1:btc:-:^ab") -> int:
    message = fake._store(
        fake.channel_id,
        {
            "content": "an earlier reveal",
            "components": [
                {"type": 1, "components": [{"type": 2, "style": 1, "label": "Pull again", "custom_id": custom_id}]}
            ],
        },
        ephemeral=False,
        loading=False,
        interaction=None,
    )
    return int(message["id"])


async def test_a_hundred_simultaneous_presses_are_all_acknowledged_in_time_and_all_revealed(harness: Harness) -> None:
    fake = harness.fake
    # Discord's buckets, tightened; message edits share one bucket across all interaction tokens, which
    # discord.py cannot know in advance (it keys buckets per token), so it meets real 429s
    fake.limit_route("PATCH", r"/webhooks/\d+/[^/]+/messages/.+", limit=20, window_s=1.0)
    fake.limit_route("PATCH", r"/channels/(\d+)/messages/\d+", limit=5, window_s=1.0)
    fake.limit_route("POST", r"/channels/(\d+)/messages", limit=5, window_s=1.0)
    message_id = pull_button_message(fake)
    users = [fake.add_user(f"user{n:03d}") for n in range(100)]

    presses = [await fake.press(user, message_id, "vk:pull:1:btc:-:^ab") for user in users]
    await fake.wait_for(lambda: all(reveal_of(fake, user) for user in users), timeout=120)

    assert all(p.acked_with == DEFERRED_CHANNEL_MESSAGE for p in presses)
    late = [p.ack_delay_s for p in presses if p.ack_delay_s is None or p.ack_delay_s >= 3.0]
    assert not late, f"{len(late)} presses acknowledged after Discord's 3 s"
    for user in users:
        assert len(reveal_of(fake, user)) == 1, "exactly one reveal each, none lost"
    await fake.wait_for(lambda: all(secrets_in_dms(fake, user) for user in users), timeout=60)
    assert all(len(secrets_in_dms(fake, user)) == 1 for user in users)
    assert fake.rate_limited, "the limits were met (else this test shows nothing)"


@pytest.mark.parametrize("bot_knows", [True, False], ids=["bot-clock-says-stale", "discord-says-expired"])
async def test_a_pull_that_outlives_its_interaction_token_still_reveals_through_the_channel(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, bot_knows: bool
) -> None:
    fake, bot = harness.fake, harness.bot
    gate = asyncio.Event()
    real_pull = harness.app.service.pull

    @functools.wraps(real_pull)
    async def queued_pull(*args: object, **kwargs: object) -> object:  # a long queue ahead of this pull
        await gate.wait()
        return await real_pull(*args, **kwargs)

    monkeypatch.setattr(harness.app.service, "pull", queued_pull)
    sam = fake.add_user("sam")
    interaction = await fake.slash(sam, "pull", {"pattern": "^ab"})
    await fake.wait_for(
        lambda: (
            (m := fake.messages.get(interaction.original_id or 0))
            and m["embeds"]
            and "Rolling" in m["embeds"][0]["title"]
        )
    )
    assert fake.messages[interaction.original_id]["embeds"][0]["color"] == 0x5865F2, "tier colour hidden"

    fake.advance(SIXTEEN_MINUTES)
    if bot_knows:
        monkeypatch.setattr(bot, "clock", lambda: time.monotonic() + SIXTEEN_MINUTES)
    mark = len(fake.requests)
    gate.set()
    reveal = (await fake.wait_for(lambda: reveal_of(fake, sam), timeout=30))[0]
    await fake.wait_for(lambda: secrets_in_dms(fake, sam))

    assert reveal["id"] == str(interaction.original_id), "the roll became the reveal, in place"
    later = fake.requests[mark:]
    through_channel = [
        r
        for r in later
        if r.method == "PATCH"
        and r.status == 200
        and r.path == f"/channels/{fake.channel_id}/messages/{interaction.original_id}"
    ]
    assert through_channel, "the reveal went through the channel endpoint"
    webhook_uses = [r for r in later if r.path.startswith("/webhooks/")]
    if bot_knows:
        assert not webhook_uses, "no reply path used the expired token"
    else:
        assert all(r.status == 401 for r in webhook_uses), "an expired token is noticed and routed around"


async def test_a_reveal_whose_token_discord_dropped_before_its_message_was_known_is_posted_in_the_channel(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = harness.fake
    gate = asyncio.Event()
    real_pull = harness.app.service.pull

    @functools.wraps(real_pull)
    async def queued_pull(*args: object, **kwargs: object) -> object:
        await gate.wait()
        return await real_pull(*args, **kwargs)

    monkeypatch.setattr(harness.app.service, "pull", queued_pull)
    uma = fake.add_user("uma")
    interaction = await fake.slash(uma, "pull", {"pattern": "^ab"})
    await fake.wait_for(lambda: interaction.acked_with is not None)
    fake.advance(SIXTEEN_MINUTES)  # Discord drops the token before the roll asks for its message: the id stays unknown
    mark = len(fake.requests)
    await asyncio.sleep(1.0)  # the roll's first step (and its 401s) come and go
    gate.set()
    reveal = (await fake.wait_for(lambda: reveal_of(fake, uma), timeout=30))[0]
    await fake.wait_for(lambda: secrets_in_dms(fake, uma))

    assert reveal["id"] != str(interaction.original_id), "the reveal was posted anew in the channel"
    assert any(
        r.method == "POST" and r.path == f"/channels/{fake.channel_id}/messages" and r.status == 200
        for r in fake.requests[mark:]
    )
    assert not [m for m in fake.dms_to(uma.id) if "went wrong" in m["content"]]


async def test_an_error_after_the_token_expired_reaches_the_person_by_dm(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.answers import ServiceError

    fake, bot = harness.fake, harness.bot
    gate = asyncio.Event()

    async def failing_pull(*args: object, on_reveal: object = None, **kwargs: object) -> object:
        await gate.wait()
        raise ServiceError("grind_failed", "the pull failed (worker lost): your pull was given back; try again")

    monkeypatch.setattr(harness.app.service, "pull", failing_pull)
    tom = fake.add_user("tom")
    interaction = await fake.slash(tom, "pull", {"pattern": "^ab"})
    await fake.wait_for(lambda: (m := fake.messages.get(interaction.original_id or 0)) and m["embeds"])
    fake.advance(SIXTEEN_MINUTES)
    monkeypatch.setattr(bot, "clock", lambda: time.monotonic() + SIXTEEN_MINUTES)
    gate.set()
    dm = (await fake.wait_for(lambda: fake.dms_to(tom.id)))[0]
    assert "given back" in dm["content"]
    assert fake.messages[interaction.original_id].get("deleted"), "the roll was removed through the channel"
    assert not fake.public_messages()


class _Refusals:
    """A send that Discord answers 429 `times` times before taking it."""

    def __init__(self, times: int) -> None:
        self.left = times
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.left:
            self.left -= 1
            raise discord.RateLimited(0.01)
        return "sent"


async def test_the_outbox_keeps_a_reveal_through_more_429s_than_discord_py_retries() -> None:
    outbox = Outbox()
    send = _Refusals(times=8)
    assert await outbox.must(1, send) == "sent" and send.calls == 9 and outbox.retries == 8


async def test_the_outbox_skips_decoration_while_the_channel_is_busy() -> None:
    outbox = Outbox()
    slow = asyncio.Event()

    async def reveal() -> str:
        await slow.wait()
        return "revealed"

    pending = asyncio.create_task(outbox.must(7, reveal))
    await asyncio.sleep(0)
    rolled = _Refusals(times=0)
    assert not await outbox.maybe(7, rolled) and rolled.calls == 0, "a roll never gets ahead of a reveal"
    assert await outbox.maybe(8, rolled), "another channel is not held up"
    slow.set()
    assert await pending == "revealed"
    assert await outbox.maybe(7, rolled)
    assert not await outbox.maybe(9, _Refusals(times=1)) and outbox.busy(9), "a 429 cools the channel down"


async def test_the_outbox_gives_up_only_past_its_limit() -> None:
    outbox = Outbox(give_up_after_s=0.05)

    async def always_limited() -> None:
        raise discord.RateLimited(1.0)

    with pytest.raises(TimeoutError):
        await outbox.must(1, always_limited)
