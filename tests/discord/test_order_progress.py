"""Many orders in one channel: progress edits coalesce per message and keep under the channel's edit bucket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.answers import OrderView, Origin, UserRef
from bot.app import App
from bot.frontends.discord.config import DiscordConfig
from bot.frontends.discord.outbox import Outbox
from bot.frontends.discord.progress import ProgressEdits
from tests.discord.conftest import Harness, quiet_config, start_bot, stop_bot
from tests.discord.fake_discord import FakeDiscord

ORDERS = 12
ROUNDS = 8
EDITS_PER_S = 5
EDIT_ROUTE = r"/channels/(\d+)/messages/\d+"


def order_view(n: int, message_id: int, channel_id: int, *, checked: int, status: str = "running") -> OrderView:
    return OrderView(
        order_id=f"order-{n}",
        user=UserRef("discord", str(1000 + n), f"user{n}"),
        community=None,
        origin=Origin("discord", str(channel_id), str(message_id)),
        pattern=f"^ab{n}",
        format_id="btc",
        split=False,
        status=status,
        price=10,
        keys_checked=checked,
        expected_keys=1e6,  # type: ignore[arg-type]
        percent=checked / 1e4,
        rate_keys_per_s=1000.0,
        eta_s=60.0,
        found=None,
        delivered=False,
        message="refunded: test ending" if status == "refunded" else f"checked {checked}",
    )


def edits_429(fake: FakeDiscord) -> list:
    return [r for r in fake.rate_limited if r.method == "PATCH" and r.path.startswith(f"/channels/{fake.channel_id}/")]


async def drained(progress: ProgressEdits, timeout_s: float = 30.0) -> None:
    """Until no progress edit waits or is in flight (the fake's wait_for re-checks only on requests)."""

    async def check() -> None:
        while progress.waiting():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(check(), timeout_s)


@pytest.fixture
def config() -> DiscordConfig:
    return quiet_config(order_progress_gap_s=1.0 / (EDITS_PER_S - 1))  # pace a little under the bucket


@pytest.fixture
async def limited(fake: FakeDiscord, app: App, config: DiscordConfig) -> AsyncIterator[Harness]:
    fake.limit_route("PATCH", EDIT_ROUTE, limit=EDITS_PER_S, window_s=1.0)
    bot, task = await start_bot(fake, app, config)
    try:
        yield Harness(fake, app, bot)
    finally:
        await stop_bot(bot, task)


async def test_many_orders_progress_stays_under_the_edit_bucket_and_ends_correctly(limited: Harness) -> None:
    fake, frontend = limited.fake, limited.bot.frontend
    channel = limited.bot.get_partial_messageable(fake.channel_id)
    messages = [await channel.send(f"order {n} placed") for n in range(ORDERS)]

    for round_ in range(1, ROUNDS + 1):  # every order's grinder reports at once, faster than the bucket allows
        requests_before = len(fake.requests)
        await asyncio.gather(
            *(
                frontend.order_progress(order_view(n, m.id, fake.channel_id, checked=round_ * 1000))
                for n, m in enumerate(messages)
            )
        )
        assert len(fake.requests) - requests_before <= 1, "a progress report returns without waiting on Discord"
        await asyncio.sleep(0.05)
    await drained(frontend.progress)

    progress_edits = [
        r for r in fake.requests if r.method == "PATCH" and r.path.startswith(f"/channels/{fake.channel_id}/")
    ]
    assert not edits_429(fake), f"{len(edits_429(fake))} progress edits answered 429"
    assert 0 < len(progress_edits) < ORDERS * ROUNDS, "progress is coalesced: older steps of a message give way"
    assert frontend.progress.replaced > 0
    latest_shown = [fake.messages[m.id]["embeds"][0]["fields"] for m in messages if fake.messages[m.id]["embeds"]]
    assert latest_shown, "some progress was shown"

    # every order ends at once (as its job settles); the ending is each message's last edit
    await asyncio.gather(
        *(
            frontend.order_finished(order_view(n, m.id, fake.channel_id, checked=ROUNDS * 1000, status="refunded"))
            for n, m in enumerate(messages)
        )
    )
    for n, message in enumerate(messages):
        stored = fake.messages[message.id]
        assert stored["embeds"][0]["title"] == f"Order refunded: ^ab{n}", stored["embeds"][0]["title"]
        assert stored["history"][-1]["embeds"][0]["title"].startswith("Order refunded")
    # a late progress report after the ending is not shown
    await frontend.order_progress(order_view(0, messages[0].id, fake.channel_id, checked=ROUNDS * 1000 - 1))
    assert frontend.progress.waiting() == 0


async def test_progress_waits_while_a_reveal_is_in_flight_and_never_blocks_the_reporter() -> None:
    outbox = Outbox()
    progress = ProgressEdits(outbox, gap_s=0.0)
    release, log = asyncio.Event(), []

    async def reveal() -> None:
        await release.wait()
        log.append("reveal")

    async def step(n: int) -> None:
        log.append(f"progress {n}")

    sending = asyncio.create_task(outbox.must(7, reveal))
    await asyncio.sleep(0)
    for n in range(5):  # returns at once, whatever the channel is doing
        progress.offer(7, 70, lambda n=n: step(n))
    await asyncio.sleep(0.3)
    assert log == [] and progress.waiting() == 1, "only the newest step waits, behind the reveal"
    release.set()
    await sending
    await drained(progress)
    assert log == ["reveal", "progress 4"]
    assert progress.replaced == 4
    await progress.close()


async def test_settle_drops_waiting_progress_so_the_ending_is_the_last_edit() -> None:
    progress = ProgressEdits(Outbox(), gap_s=10.0)
    log: list[str] = []

    async def step(name: str) -> None:
        log.append(name)

    progress.offer(3, 30, lambda: step("first"))
    await asyncio.sleep(0.05)  # sent at once; the next must wait the gap
    progress.offer(3, 30, lambda: step("second"))
    await progress.settle(3, 30)
    assert progress.waiting() == 0 and log == ["first"]
    await progress.close()


def test_progress_gap_is_configurable() -> None:
    config = DiscordConfig.from_env({"VANIKEYS_DISCORD_ORDER_PROGRESS_GAP_S": "1.5"}, dotenv_path=None)
    assert config.order_progress_gap_s == 1.5
    assert DiscordConfig().order_progress_gap_s == 2.5


async def test_a_429_on_a_progress_edit_cools_the_channel_and_the_next_step_follows_the_wait() -> None:
    from types import SimpleNamespace

    import discord

    outbox = Outbox()
    progress = ProgressEdits(outbox, gap_s=0.0)
    log: list[str] = []

    async def refused() -> None:
        response = SimpleNamespace(status=429, reason="Too Many Requests", headers={"Retry-After": "0.3"})
        raise discord.HTTPException(response, "You are being rate limited.")  # type: ignore[arg-type]

    async def step() -> None:
        log.append("shown")

    progress.offer(5, 50, refused)
    await drained(progress)
    assert outbox.busy(5) and progress.dropped == 1, "the 429 cools the channel; the refused step is dropped"
    progress.offer(5, 50, step)
    await asyncio.sleep(0.1)
    assert log == [], "nothing more is sent while the channel cools"
    await drained(progress)
    assert log == ["shown"] and not outbox.busy(5)
    await progress.close()
