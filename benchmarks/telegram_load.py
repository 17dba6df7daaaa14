"""Drive the Telegram front end through the loopback Bot API at Telegram's limits and print what people see.

The fake enforces 20 messages a minute per group, 30 a second overall and the 15 s
callback deadline. Two scenarios, each through the real python-telegram-bot
Application and a real Service on a temporary SQLite file (python grinder, tiny
budgets, so the front end is what is measured):

  presses: N people press a pull button at the same moment: acknowledgement
           latency (p50/p95/max) and late acknowledgements.
  groups:  G groups, U people each, every person pulls P times in a burst:
           reveals shown (alone or folded into a digest), reveals lost, private
           deliveries, 429s, time to the last reveal, and RSS.
  spam:    one person sends 50 /pull in one second in a group at 20 messages a
           minute (the production cooldown, 3 s), while O others each send one
           /pull there during that second and the next two: how long the others
           wait for their first answer in the group (the first message there
           naming them: rolling, reveal or digest line), p50/p95/max, the
           spammer's public "slow down" notices, and 429s.

    /work/venv/bin/python benchmarks/telegram_load.py --presses 100 --groups 5 --users 20 --pulls 2
    /work/venv/bin/python benchmarks/telegram_load.py --only spam --others 10
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.harness import reveals_in, running_bot

WIF = re.compile(r"WIF: (\S+)")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def presses(count: int) -> None:
    fake = FakeBotApi()
    await fake.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            group = fake.group_chat()
            fake.group_limit = 10_000  # this scenario measures acknowledgements, not the group's budget
            people = [fake.user(10_000 + i, f"U{i}") for i in range(count)]
            from bot.frontends.telegram.outbox import OutboxLimits

            async with running_bot(fake, Path(tmp), config={"outbox": OutboxLimits(group_messages=10_000)}):
                for person in people:
                    fake.started_users.add(person["id"])
                    fake.private_chat(person)
                await fake.push_text(group, people[0], "/help")
                anchor = await fake.wait_for_message(group["id"], "/pull")
                started = time.monotonic()
                queries = await asyncio.gather(
                    *(fake.push_callback(p, anchor, f"p|{p['id']}|btc|i|^ab") for p in people)
                )
                await fake.wait_for(
                    lambda: all(fake.callback_answered(q) or q in fake.callback_answer_delay for q in queries),
                    timeout=60,
                )
                acked = time.monotonic() - started
                await fake.wait_for(lambda: reveals_in(fake, group["id"]) >= count, timeout=600)
                done = time.monotonic() - started
            delays = [fake.callback_answer_delay[q] for q in queries if q in fake.callback_answer_delay]
            late = count - len(delays)
            print(
                f"presses: {count} simultaneous pull presses; acknowledged p50 {pct(delays, 0.5):.3f} s, "
                f"p95 {pct(delays, 0.95):.3f} s, max {max(delays):.3f} s; late or lost {late}; "
                f"all acknowledged after {acked:.2f} s; all {count} pulls revealed after {done:.1f} s"
            )
    finally:
        await fake.stop()


async def groups(group_count: int, users: int, pulls_each: int) -> None:
    fake = FakeBotApi()
    await fake.start()
    rss_before = rss_mb()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            chats = [fake.group_chat(-1_000_000 - g, f"Group {g}") for g in range(group_count)]
            people = [[fake.user(20_000 + g * 1000 + u, f"G{g}U{u}") for u in range(users)] for g in range(group_count)]
            async with running_bot(fake, Path(tmp), settings={"cpu_keys_per_s": 2_000.0}) as running:
                for person in (p for group in people for p in group):
                    fake.started_users.add(person["id"])
                    fake.private_chat(person)
                started = time.monotonic()
                for round_ in range(pulls_each):
                    for chat, group in zip(chats, people, strict=False):
                        for person in group:
                            await fake.push_text(chat, person, f"/pull ^{'abcdefgh'[round_ % 8]}")
                total = group_count * users * pulls_each
                await fake.wait_for(lambda: sum(reveals_in(fake, c["id"]) for c in chats) >= total, timeout=900)
                last_reveal = time.monotonic() - started
                await fake.wait_for(
                    lambda: (
                        sum(len(WIF.findall(m.text)) for g in people for p in g for m in fake.messages_in(p["id"]))
                        >= total
                    ),
                    timeout=300,
                )
                await running.handlers.outbox.idle(timeout=120)
                shown = sum(reveals_in(fake, c["id"]) for c in chats)
                folded = running.handlers.outbox.folded
                state = running.handlers.outbox.tracked_chats()
            delivered = sum(len(WIF.findall(m.text)) for g in people for p in g for m in fake.messages_in(p["id"]))
            group_ids = {c["id"] for c in chats}
            limited = [r for r in fake.rate_limited() if r.params.get("chat_id") in group_ids]
            print(
                f"groups: {group_count} groups x {users} people x {pulls_each} pulls = {total} pulls in "
                f"{last_reveal:.1f} s to the last reveal; reveals shown {shown} (lost {total - shown}, "
                f"{folded} folded into digests); private deliveries {delivered}/{total}; 429s in groups "
                f"{len(limited)}; outbox chats tracked after {state}; max RSS {rss_before:.0f} -> {rss_mb():.0f} MB"
            )
    finally:
        await fake.stop()


async def spam(others_count: int, flood: int = 50) -> None:
    fake = FakeBotApi()  # Telegram's limits: 20 a minute per group, 30 a second overall
    await fake.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            group = fake.group_chat()
            spammer = fake.user(30_000, "Spammer")
            others = [fake.user(30_001 + i, f"Other{i}") for i in range(others_count)]
            for person in [spammer, *others]:
                fake.started_users.add(person["id"])
                fake.private_chat(person)
            async with running_bot(fake, Path(tmp), config={"cooldown_s": 3.0}) as running:
                started = time.monotonic()
                asked: dict[str, float] = {}

                async def flood_it() -> None:
                    for _ in range(flood):
                        await fake.push_text(group, spammer, "/pull ^a")
                        await asyncio.sleep(1.0 / flood)

                async def others_ask() -> None:
                    for i, person in enumerate(others):
                        await asyncio.sleep(
                            3.0 * i / max(1, len(others))
                        )  # spread over the flood's second and two more
                        asked[person["first_name"]] = time.monotonic()
                        await fake.push_text(group, person, f"/pull ^{'bcdefgh'[i % 7]}")

                await asyncio.gather(flood_it(), others_ask())

                def first_answer(name: str) -> float | None:
                    return next(
                        (
                            r.at
                            for r in fake.requests
                            if r.error is None
                            and r.params.get("chat_id") == group["id"]
                            and r.method in ("sendMessage", "sendPhoto", "editMessageText")
                            and name in str(r.params.get("text", r.params.get("caption", "")))
                        ),
                        None,
                    )

                await fake.wait_for(lambda: all(first_answer(p["first_name"]) is not None for p in others), timeout=600)
                await fake.wait_for(
                    lambda: all(any(WIF.search(m.text) for m in fake.messages_in(p["id"])) for p in [spammer, *others]),
                    timeout=300,
                )  # every key out
                await running.handlers.outbox.idle(timeout=300)
                waits = [first_answer(p["first_name"]) - asked[p["first_name"]] for p in others]  # type: ignore[operator]
                spam_first = first_answer("Spammer")
                slow_downs = [m for m in fake.messages_in(group["id"]) if "Slow down" in m.text]
                limited = [r for r in fake.rate_limited() if r.params.get("chat_id") == group["id"]]
            print(
                f"spam: 1 person x {flood} /pull in 1 s + {others_count} others' /pull in a group at 20/min: others' "
                f"first answer p50 {pct(waits, 0.5):.2f} s, p95 {pct(waits, 0.95):.2f} s, max {max(waits):.2f} s; "
                f"spammer's first answer after {(spam_first or float('nan')) - started:.2f} s; public slow-down "
                f"notices {len(slow_downs)}; 429s in the group {len(limited)}, overall {len(fake.rate_limited())}"
            )
    finally:
        await fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presses", type=int, default=100)
    parser.add_argument("--groups", type=int, default=5)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--pulls", type=int, default=2)
    parser.add_argument("--others", type=int, default=10, help="spam: people asking beside the spammer")
    parser.add_argument("--only", choices=("presses", "groups", "spam"), help="run one scenario")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}; fake limits: 20 msgs/min per group, 30/s overall, 15 s callbacks")
    if args.only in (None, "presses"):
        asyncio.run(presses(args.presses))
    if args.only in (None, "groups"):
        asyncio.run(groups(args.groups, args.users, args.pulls))
    if args.only in (None, "spam"):
        asyncio.run(spam(args.others))


if __name__ == "__main__":
    main()
