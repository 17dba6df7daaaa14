"""Many Discord orders in one channel: 429s on the channel's edit bucket, paced progress vs unpaced.

`python benchmarks/discord_order_progress.py [--orders 20] [--seconds 30]`

The real discord.py client (VaniKeysBot) against the loopback fake with Discord's channel bucket
(5 edits / 5 s per channel). Each order reports progress every 2 s (the service's default
`order_progress_interval_s`), all at once, as their grinders do; then every order ends. Two modes in
one run: `paced` is the front end as shipped (ProgressEdits), `unpaced` awaits `outbox.maybe` per
report, as the front end did before. Printed: 429s answered, progress edits sent, and whether every
order message ends showing its ending.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import discord

from bot.app import create_app
from bot.frontends.discord.frontend import DiscordFrontEnd
from bot.frontends.discord.rendering import order_embed
from tests.discord.conftest import discord_settings, quiet_config, start_bot, stop_bot
from tests.discord.fake_discord import FakeDiscord
from tests.discord.test_order_progress import order_view

REPORT_EVERY_S = 2.0


async def run(mode: str, orders: int, seconds: float) -> dict[str, object]:
    fake = FakeDiscord()
    await fake.start()
    base = discord.http.Route.BASE
    discord.http.Route.BASE = fake.api_base
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with create_app(discord_settings(Path(tmp))) as app:
                bot, task = await start_bot(fake, app, quiet_config())
                try:
                    return await _orders(fake, bot.frontend, mode, orders, seconds)
                finally:
                    await stop_bot(bot, task)
    finally:
        discord.http.Route.BASE = base
        await fake.stop()


async def _orders(
    fake: FakeDiscord, frontend: DiscordFrontEnd, mode: str, orders: int, seconds: float
) -> dict[str, object]:
    channel = frontend.bot.get_partial_messageable(fake.channel_id)
    messages = [await channel.send(f"order {n} placed") for n in range(orders)]
    fake.limit_route("PATCH", r"/channels/(\d+)/messages/\d+", limit=5, window_s=5.0)
    first_patch = len(fake.requests)

    async def report(n: int, checked: int) -> None:
        view = order_view(n, messages[n].id, fake.channel_id, checked=checked)
        if mode == "paced":
            await frontend.order_progress(view)
        else:  # the front end before ProgressEdits: each report awaited an outbox.maybe of its own
            message = channel.get_partial_message(messages[n].id)
            embed = order_embed(view)
            await frontend.bot.outbox.maybe(fake.channel_id, lambda: message.edit(content=None, embed=embed))

    async def grinder(n: int) -> None:
        for step in range(int(seconds / REPORT_EVERY_S)):
            await report(n, (step + 1) * 1000)
            await asyncio.sleep(REPORT_EVERY_S)

    await asyncio.gather(*(grinder(n) for n in range(orders)))
    progress_429 = len([r for r in fake.rate_limited if r.method == "PATCH"])
    await asyncio.gather(
        *(
            frontend.order_finished(order_view(n, m.id, fake.channel_id, checked=10**6, status="refunded"))
            for n, m in enumerate(messages)
        )
    )
    patches = [r for r in fake.requests[first_patch:] if r.method == "PATCH"]
    ended = sum(fake.messages[m.id]["embeds"][0]["title"].startswith("Order refunded") for m in messages)
    return {
        "mode": mode,
        "progress reports": orders * int(seconds / REPORT_EVERY_S),
        "PATCH requests": len(patches),
        "429 during progress": progress_429,
        "429 in all": len([r for r in fake.rate_limited if r.method == "PATCH"]),
        "messages ending right": f"{ended} of {orders}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--modes", nargs="+", default=["unpaced", "paced"], choices=("unpaced", "paced"))
    args = parser.parse_args()
    for mode in args.modes:
        print(asyncio.run(run(mode, args.orders, args.seconds)))


if __name__ == "__main__":
    main()
