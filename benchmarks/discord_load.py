"""The Discord front end under a busy guild: the real discord.py bot, a real Service, the loopback fake.

    /work/venv/bin/python benchmarks/discord_load.py [--users 200] [--rate 20] [--seconds 30]

The fake enforces Discord's rules: an interaction must be acknowledged within
3 s, and messages have rate-limit buckets: 5 posts per 5 s per channel,
--edit-limit edits per second per channel and per interaction token; with
--shared-edits one bucket for the edits of all interaction tokens (a stress
model: discord.py cannot know such a bucket in advance, so it meets real 429s). Users send a
mix of /pull, 10-pulls, "Pull again" presses, /odds, /balance and
/leaderboard at --rate commands per second. Printed: commands/s answered,
acknowledgement latency p50/p95/p99 by kind, late acknowledgements (past
3 s), lost reveals (a paid pull without its public reveal), 429s met, and the
process's RSS over time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import discord

from bot.app import create_app
from tests.discord.conftest import discord_settings, quiet_config, start_bot, stop_bot
from tests.discord.fake_discord import FakeDiscord, FakeInteraction

MIX = (("pull", 45), ("ten_pull", 10), ("press", 15), ("odds", 10), ("balance", 12), ("leaderboard", 8))
PATTERNS = ("^abc", "^Love", "^Moon", "cafe$", "^xyz", "^Vani")
PULL_KINDS = ("pull", "ten_pull", "press")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def quantiles(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return (
        f"p50 {statistics.median(ordered) * 1000:.0f} ms · p95 {pick(0.95) * 1000:.0f} ms · "
        f"p99 {pick(0.99) * 1000:.0f} ms"
    )


async def run(users: int, rate: float, seconds: float, edit_limit: int, shared_edits: bool) -> None:
    fake = FakeDiscord()
    await fake.start()
    discord.http.Route.BASE = fake.api_base
    fake.limit_route("POST", r"/channels/(\d+)/messages", limit=5, window_s=5.0)
    fake.limit_route("PATCH", r"/channels/(\d+)/messages/\d+", limit=edit_limit, window_s=1.0)
    webhook_edits = r"/webhooks/\d+/[^/]+/messages/.+" if shared_edits else r"/webhooks/\d+/([^/]+)/messages/.+"
    fake.limit_route("PATCH", webhook_edits, limit=edit_limit, window_s=1.0)
    with tempfile.TemporaryDirectory() as tmp:
        settings = discord_settings(Path(tmp), free_pulls_per_day=1000, daily_spend_limit=10**9)
        async with create_app(settings) as app:
            bot, task = await start_bot(fake, app, quiet_config(pull_cooldown_s=2.0, odds_cooldown_s=2.0))
            try:
                await drive(fake, bot, users, rate, seconds, app.service.wait_idle)
            finally:
                await stop_bot(bot, task)
    await fake.stop()


async def drive(
    fake: FakeDiscord,
    bot: object,
    users_count: int,
    rate: float,
    seconds: float,
    wait_idle: Callable[[], Awaitable[None]],
) -> None:
    users = [fake.add_user(f"user{n:04d}") for n in range(users_count)]
    button = fake._store(
        fake.channel_id,
        {
            "content": "an earlier reveal",
            "components": [
                {
                    "type": 1,
                    "components": [{"type": 2, "style": 1, "label": "Pull again", "custom_id": "vk:pull:1:btc:-:^abc"}],
                }
            ],
        },
        ephemeral=False,
        loading=False,
        interaction=None,
    )
    kinds, weights = zip(*MIX, strict=False)
    sent: list[tuple[str, FakeInteraction]] = []
    rss = [(0.0, rss_mb())]
    rng = random.Random(7)
    started = time.monotonic()
    next_at = started
    while time.monotonic() - started < seconds:
        kind = rng.choices(kinds, weights)[0]
        user = rng.choice(users)
        if kind == "pull":
            sent.append((kind, await fake.slash(user, "pull", {"pattern": rng.choice(PATTERNS)})))
        elif kind == "ten_pull":
            sent.append((kind, await fake.slash(user, "pull", {"pattern": rng.choice(PATTERNS), "count": 10})))
        elif kind == "press":
            sent.append((kind, await fake.press(user, int(button["id"]), "vk:pull:1:btc:-:^abc")))
        elif kind == "odds":
            sent.append((kind, await fake.slash(user, "odds", {"pattern": rng.choice(PATTERNS) + "x"})))
        else:
            sent.append((kind, await fake.slash(user, kind)))
        if len(sent) % 100 == 0:
            rss.append((time.monotonic() - started, rss_mb()))
        next_at += 1 / rate
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    sending_s = time.monotonic() - started

    def answered_ids() -> set[int]:
        """One pass over the fake's messages (the measuring must not eat the bot's CPU)."""
        return {
            m["interaction_id"]
            for m in list(fake.messages.values())
            if "interaction_id" in m and not m.get("deleted") and (m["content"] or m["embeds"])
        }

    wanted = {i.id for _, i in sent}
    deadline = time.monotonic() + 600
    while not wanted <= answered_ids() and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    total_s = time.monotonic() - started
    answered = answered_ids()
    await asyncio.wait_for(wait_idle(), 600)  # every job settled: a reveal still missing now is lost
    rss.append((total_s, rss_mb()))

    acks: defaultdict[str, list[float]] = defaultdict(list)
    for kind, interaction in sent:
        if interaction.ack_delay_s is not None:
            acks[kind].append(interaction.ack_delay_s)
    late = sum(1 for _, i in sent if i.ack_delay_s is None or i.ack_delay_s >= 3.0)
    paid_pulls = [i for kind, i in sent if kind in PULL_KINDS and i.acked_with == 5]
    revealed = sum(
        1
        for i in paid_pulls
        if any(
            m["embeds"] and "pulled" in m["embeds"][0].get("author", {}).get("name", "") for m in fake.messages_of(i)
        )
    )
    refused = sum(1 for i in paid_pulls if fake.messages.get(i.original_id or 0, {}).get("deleted"))
    unanswered = len(wanted - answered)

    print(
        f"machine: {platform.machine()} {platform.processor() or ''} · {os.cpu_count()} CPUs · "
        f"Python {platform.python_version()} · discord.py {discord.__version__}"
    )
    print(
        f"{len(sent)} commands from {len(users)} users over {sending_s:.1f} s; all answered after {total_s:.1f} s "
        f"({len(sent) / total_s:.1f} commands/s); unanswered: {unanswered}"
    )
    for kind, values in sorted(acks.items()):
        print(f"  ack {kind:<12} n={len(values):<4} {quantiles(values)}")
    print(f"late acknowledgements (>= 3 s): {late}")
    print(
        f"pulls acknowledged publicly: {len(paid_pulls)}; revealed: {revealed}; "
        f"refused privately (e.g. easy pattern): {refused}; lost reveals: {len(paid_pulls) - revealed - refused}"
    )
    print(
        f"429s met: {len(fake.rate_limited)}; outbox retries past discord.py: {bot.outbox.retries}; "
        f"rolling steps skipped: {bot.outbox.skipped}"
    )
    print("RSS MB over time: " + ", ".join(f"{t:.0f}s {mb:.0f}" for t, mb in rss))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--edit-limit", type=int, default=5, help="edits per second per bucket")
    parser.add_argument("--shared-edits", action="store_true", help="one edit bucket for all interaction tokens")
    args = parser.parse_args()
    asyncio.run(run(args.users, args.rate, args.seconds, args.edit_limit, args.shared_edits))


if __name__ == "__main__":
    main()
