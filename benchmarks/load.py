"""The bot under a busy community's load: both front ends at once, through the loopback platform fakes.

    .venv/bin/python benchmarks/load.py [--backend native|local] [--duration 60] [--rate 30]
                                        [--groups 5 --per-group 20 --discord-users 100] [--presses 100]
                                        [--limits platform|off] [--budget KEYS] [--soak SECONDS] [--json FILE]

The bot runs as `vanikeys bot` runs (benchmarks/load_bot.py: create_app, python-telegram-bot and discord.py
together, configured from the environment) in a child process of its own, against the Telegram and Discord
fakes from tests/ on 127.0.0.1 with the platforms' limits enforced (20 messages a minute per group and 30 a
second overall on Telegram, 15 s to answer a button press; 3 s to acknowledge a Discord interaction, per-route
buckets). Simulated people (Telegram groups, each person with a private chat, and one Discord guild) send a mix
of pulls, 10-pulls, button presses, /odds, /balance, /leaderboard, /help and orders at --rate commands a second
for --duration seconds; then --presses people press "10-pull" at the same moment on each platform; then the
bot is given time to finish (bounded) and stopped. Everything is measured from the platforms' side (the fakes'
request logs) and the bot's database:

- commands/s answered, p50/p95/p99 of the first answer by command kind and platform;
- reveals: every paid pull in a group or guild against the public reveals seen and those the bot kept in its
  database at the stop to post after its next start (lost = paid, neither revealed nor kept);
- acknowledgements: Telegram button presses answered after 15 s or never, Discord interactions after 3 s;
- the burst: ack latency of the simultaneous presses;
- the bot's RSS (and its worker processes') sampled every --sample seconds; --soak SECONDS is a long mix
  phase whose RSS series shows whether memory stops growing after warm-up.

Every loop is bounded; every server and process started here is stopped; nothing but 127.0.0.1 is reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.load_platforms import Community, Limits, LoadDiscord, LoadTelegram
from gpu_worker.grinders import native
from tests.discord.fake_discord import FakeInteraction, FakeUser

ROOT = Path(__file__).resolve().parents[1]
PULL_PATTERNS = ("^abc", "^kek", "^moon", "^Love", "^zap", "^xyz", "^hodl", "^pump")
ORDER_PATTERNS = ("^ab", "^cd", "^ef", "^gh")
ODDS_ALPHABET = "abcdefghijkmnopqrstuvwxyz"
# Command kinds and their weights in the mix (a community's day: mostly pulls and looking at things).
MIX = {"pull": 32, "pull10": 8, "button": 15, "odds": 10, "balance": 12, "leaderboard": 12, "help": 7, "order": 4}
DEFAULT_BUDGET = {"native": 1 << 14, "local": 2048, "python": 512}


@dataclass
class Options:
    backend: str = "native"
    duration_s: float = 60.0
    rate: float = 30.0
    groups: int = 5
    per_group: int = 20
    discord_users: int = 100
    presses: int = 100
    limits: str = "platform"
    budget: int | None = None
    soak_s: float = 0.0
    sample_s: float = 5.0
    drain_s: float = 150.0
    warmup_s: float = 10.0  # a short mix before the measured one (caches, the kernel, connections)
    # the drain ends once neither fake has seen a request for this long (default: 15 s, and with platform limits
    # a group's whole 60 s window more, since a message waiting for its group's next minute sends nothing)
    quiet_s: float | None = None
    ready_s: float = 90.0
    group_share: float = 0.15
    seed: int = 17
    json_out: str | None = None
    workdir: str | None = None  # the bot's database and log (default: a new directory under /tmp, kept)
    trace_memory: str | None = None  # a directory for the bot's tracemalloc snapshots (benchmarks/memtrace.py)
    trace_every_s: float = 0.0
    bot_env: tuple[str, ...] = ()  # KEY=VALUE settings for the bot only (say VANIKEYS_MALLOC_ARENAS=0)
    malloc_stats: str | None = None  # a file for the bot's memory breakdown every sample_s (benchmarks/mallocstats.py)


@dataclass
class Sent:
    """One command a simulated person sent, and how to find its answer in the fakes' logs."""

    platform: str
    kind: str
    label: str
    t0: float
    phase: str
    chat_id: int | None = None
    message_id: int | None = None
    query_id: str | None = None
    interaction: FakeInteraction | None = None
    is_pull: bool = False
    user_id: int | None = None  # Telegram: who sent it (a cooldown notice goes to them privately)


@dataclass
class RssSample:
    t: float
    bot_mb: float
    workers_mb: float
    bot_cpu: float = 0.0  # share of one core the bot process used since the previous sample


@dataclass
class Run:
    options: Options
    telegram: LoadTelegram
    discord: LoadDiscord
    community: Community
    db_path: Path
    sent: list[Sent] = field(default_factory=list)
    rss: list[RssSample] = field(default_factory=list)
    phases: dict[str, tuple[float, float]] = field(default_factory=dict)
    bot_exit: int | None = None
    rss_started: float | None = None  # monotonic time of the first RSS sample (samples' t counts from it)
    rng: random.Random = field(default_factory=random.Random)


# ---- the bot process ----------------------------------------------------------------------------------------


def bot_environment(run: Run, workdir: Path) -> dict[str, str]:
    opts = run.options
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "TELEGRAM_", "DISCORD_", "STRIPE_", "RUNPOD_"))
    }
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "VANIKEYS_DB": str(run.db_path),
            "VANIKEYS_BACKEND": opts.backend,
            "VANIKEYS_PULL_BUDGET_CPU": str(opts.budget or DEFAULT_BUDGET[opts.backend]),
            "VANIKEYS_DAILY_SPEND_LIMIT": str(10**9),
            "TELEGRAM_TOKEN": run.telegram.token,
            "TELEGRAM_API_BASE_URL": run.telegram.base_url,
            "TELEGRAM_API_FILE_URL": run.telegram.base_file_url,
            "DISCORD_TOKEN": "fake-token",
            "VANIKEYS_LOAD_DISCORD_API": run.discord.api_base,
            "HOME": str(workdir),
        }
    )
    # The native kernel's build cache, as this process sees it (HOME is the run's directory): compiled before
    # the bot starts (run_load), never inside the measured run.
    env["VANIKEYS_CACHE"] = str(native.cache_dir())
    if opts.trace_memory:
        env["VANIKEYS_LOAD_TRACEMALLOC"] = str(Path(opts.trace_memory).resolve())
        env["VANIKEYS_LOAD_TRACEMALLOC_EVERY"] = str(opts.trace_every_s)
    env.update(item.split("=", 1) for item in opts.bot_env)
    if opts.malloc_stats:
        env["VANIKEYS_LOAD_MALLOC_STATS"] = str(Path(opts.malloc_stats).resolve())
        env["VANIKEYS_LOAD_MALLOC_STATS_EVERY"] = str(opts.sample_s)
    if run.options.limits == "off":
        env["TELEGRAM_GROUP_MESSAGES_PER_MINUTE"] = str(Limits.off().group_messages_per_min)
    return env


async def seed_balances(run: Run) -> None:
    """Everyone has tokens (the benchmark is about load, not about running out); granted before the bot starts."""
    from bot.answers import UserRef
    from bot.app import create_app
    from bot.config import Settings

    settings = Settings(db_path=run.db_path, backend="python", daily_spend_limit=10**9)
    async with create_app(settings, resume_jobs=False) as app:
        for user, _ in run.community.tg_people:
            await app.service.grant(UserRef("telegram", str(user["id"]), user["first_name"]), 1_000_000)
        for person in run.community.discord_people:
            await app.service.grant(UserRef("discord", str(person.id), person.global_name or ""), 1_000_000)


async def wait_ready(run: Run, bot: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + run.options.ready_s
    while time.monotonic() < deadline:
        if bot.poll() is not None:
            raise SystemExit(f"the bot exited with {bot.returncode} before it was ready (see its log)")
        polling = any(r.method == "getUpdates" for r in run.telegram.requests)
        if polling and run.discord.ready_sent.is_set():
            await asyncio.sleep(1.0)  # discord.py's on_ready (guild chunking wait) after GUILD_CREATE
            return
        await asyncio.sleep(0.2)
    raise SystemExit("the bot did not connect to both fakes in time")


def stop_bot(bot: subprocess.Popen[bytes]) -> int:
    if bot.poll() is None:
        bot.send_signal(signal.SIGTERM)
        try:
            return bot.wait(timeout=30)
        except subprocess.TimeoutExpired:
            bot.kill()
            return bot.wait(timeout=10)
    return bot.returncode


def rss_mb(pid: int) -> float | None:
    """Resident memory of one process from /proc (None when it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    return next((int(line.split()[1]) / 1024 for line in lines if line.startswith("VmRSS:")), 0.0)


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            stack += children
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sample_rss(run: Run, pid: int, stop: asyncio.Event) -> None:
    start = run.rss_started = time.monotonic()
    last_cpu, last_t = cpu_seconds(pid), start
    while not stop.is_set():
        bot_mb = rss_mb(pid)
        if bot_mb is None:
            return
        workers_mb = sum(rss_mb(child) or 0.0 for child in descendants(pid))
        cpu, t = cpu_seconds(pid), time.monotonic()
        busy = (cpu - last_cpu) / max(t - last_t, 1e-9)
        last_cpu, last_t = cpu, t
        if bot_mb >= 1.0:  # not before the interpreter is running
            run.rss.append(RssSample(round(t - start, 1), round(bot_mb, 1), round(workers_mb, 1), round(busy, 2)))
        try:
            await asyncio.wait_for(stop.wait(), run.options.sample_s)
        except TimeoutError:
            pass


# ---- the simulated people ----------------------------------------------------------------------------------


def odds_pattern(rng: random.Random) -> str:
    """Half known patterns (cached after the first), half new ones of 4 to 7 characters (the costly kind)."""
    if rng.random() < 0.5:
        return rng.choice(PULL_PATTERNS)
    return "^" + "".join(rng.choice(ODDS_ALPHABET) for _ in range(rng.randint(4, 7)))


async def telegram_act(run: Run, kind: str, user: dict[str, Any], group: dict[str, Any], phase: str) -> None:
    fake, rng = run.telegram, run.rng
    label = user["first_name"]
    if kind == "button":
        message = fake.button_message(user["id"])
        if message is not None:
            datas = [b["callback_data"] for b in message.buttons() if b.get("callback_data", "")[:2] in ("p|", "t|")]
            if datas:
                data = rng.choice(datas)
                t0 = time.monotonic()
                query = await fake.push_callback(user, message, data)
                run.sent.append(
                    Sent(
                        "telegram",
                        "button",
                        label,
                        t0,
                        phase,
                        chat_id=message.data["chat"]["id"],
                        query_id=query,
                        is_pull=True,
                    )
                )
                return
        kind = "pull"  # nothing to press yet: pull instead
    chat, text = group, ""
    if kind != "balance" and rng.random() >= run.options.group_share:
        chat = fake.private_chat(user)  # most people use the bot in their private chat; the group sees the rest
    if kind == "pull":
        text = f"/pull {rng.choice(PULL_PATTERNS)}"
    elif kind == "pull10":
        text = f"/pull {rng.choice(PULL_PATTERNS)} 10"
    elif kind == "odds":
        text = f"/odds {odds_pattern(rng)}"
    elif kind == "balance":
        chat, text = fake.private_chat(user), "/balance"
    elif kind == "leaderboard":
        text = "/leaderboard"
    elif kind == "help":
        text = "/help"
    elif kind == "order":
        text = f"/order {rng.choice(ORDER_PATTERNS)}"
    t0 = time.monotonic()
    message = await fake.command(chat, user, text)
    run.sent.append(
        Sent(
            "telegram",
            kind,
            label,
            t0,
            phase,
            chat_id=chat["id"],
            message_id=message["message_id"],
            is_pull=kind in ("pull", "pull10"),
            user_id=user["id"],
        )
    )


async def discord_act(run: Run, kind: str, person: FakeUser, phase: str) -> None:
    fake, rng = run.discord, run.rng
    label = person.global_name or person.username
    if kind == "button":
        found = fake.reveal_buttons(label)
        if found is not None:
            message_id, ids = found
            t0 = time.monotonic()
            interaction = await fake.press(person, message_id, rng.choice(ids))
            run.sent.append(Sent("discord", "button", label, t0, phase, interaction=interaction, is_pull=True))
            return
        kind = "pull"
    name, options = kind, {}
    if kind == "pull":
        options = {"pattern": rng.choice(PULL_PATTERNS)}
    elif kind == "pull10":
        name, options = "pull", {"pattern": rng.choice(PULL_PATTERNS), "count": 10}
    elif kind == "odds":
        options = {"pattern": odds_pattern(rng)}
    elif kind == "order":
        options = {"pattern": rng.choice(ORDER_PATTERNS)}
    t0 = time.monotonic()
    interaction = await fake.slash(person, name, options)
    run.sent.append(
        Sent("discord", kind, label, t0, phase, interaction=interaction, is_pull=kind in ("pull", "pull10"))
    )


async def act(run: Run, index: int, phase: str) -> None:
    people = len(run.community.tg_people) + len(run.community.discord_people)
    kind = run.rng.choices(list(MIX), weights=list(MIX.values()))[0]
    who = index % people
    try:
        if who < len(run.community.tg_people):
            user, group = run.community.tg_people[who]
            await telegram_act(run, kind, user, group, phase)
        else:
            await discord_act(run, kind, run.community.discord_people[who - len(run.community.tg_people)], phase)
    except RuntimeError as err:  # the gateway closed under us: the bot died; reported below
        print(f"  could not send: {err}", file=sys.stderr)


async def mix_phase(run: Run, seconds: float, phase: str) -> None:
    """Open loop: a command every 1/rate s, people in a shuffled round-robin (each gets one per round)."""
    people = len(run.community.tg_people) + len(run.community.discord_people)
    order: list[int] = []
    tasks: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    start = loop.time()
    total = int(seconds * run.options.rate)
    for n in range(total):
        if not order:
            order = list(range(people))
            run.rng.shuffle(order)
        delay = start + n / run.options.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(act(run, order.pop(), phase))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    run.phases[phase] = (start, loop.time())


async def burst_phase(run: Run) -> None:
    """`presses` people press "10-pull" at the same moment, on each platform."""
    count = run.options.presses
    if count <= 0:
        return
    start = time.monotonic()
    tg = run.community.tg_people
    anchor = next(iter(run.telegram.messages_in(run.community.groups[0]["id"])), None)
    jobs = []
    for i in range(min(count, len(tg))):
        user, _group = tg[i]
        own = run.telegram.button_message(user["id"])  # the 10-pull button on the person's own latest result
        tens = [b["callback_data"] for b in own.buttons() if b.get("callback_data", "").startswith("t|")] if own else []
        message = own if tens else anchor
        if message is None:
            continue
        # no result of their own yet: the same button as it would be on one (the fake does not check the message)
        data = tens[0] if tens else f"t|{user['id']}|btc|i|{PULL_PATTERNS[i % len(PULL_PATTERNS)]}"
        jobs.append(("telegram", user["first_name"], message, user, data))
    # Discord: everyone presses the 10-pull button of one public reveal (anyone may; it pulls for the presser).
    # discord.py ignores a custom_id that is not on the message, so it must be the message's own button.
    reveals = sorted(run.discord.latest_reveal.values())
    target = run.discord.messages.get(reveals[-1]) if reveals else None
    ten = next(
        (
            item["custom_id"]
            for row in (target or {}).get("components", [])
            for item in row["components"]
            if item.get("custom_id", "").startswith("vk:pull:10:")
        ),
        None,
    )
    people = run.community.discord_people
    if ten is None:
        print("  no Discord reveal with a 10-pull button to press: Discord burst skipped", file=sys.stderr)
    for i in range(min(count, len(people)) if ten else 0):
        person = people[i]
        jobs.append(("discord", person.global_name or "", reveals[-1], person, ten))

    async def press(job: tuple[Any, ...]) -> None:
        platform_name, label, message, who, data = job
        t0 = time.monotonic()
        if platform_name == "telegram":
            query = await run.telegram.push_callback(who, message, data)
            run.sent.append(
                Sent(
                    "telegram",
                    "burst",
                    label,
                    t0,
                    "burst",
                    chat_id=message.data["chat"]["id"],
                    query_id=query,
                    is_pull=True,
                )
            )
        else:
            interaction = await run.discord.press(who, message, data)
            run.sent.append(Sent("discord", "burst", label, t0, "burst", interaction=interaction, is_pull=True))

    # Telegram: all at once over HTTP. Discord: one gateway connection delivers events one after another, as
    # Discord's does; the fake's sends are serialised here (concurrent writes to one websocket are not allowed).
    gateway = asyncio.Lock()

    async def in_turn(job: tuple[Any, ...]) -> None:
        if job[0] == "discord":
            async with gateway:
                await press(job)
        else:
            await press(job)

    await asyncio.gather(*(in_turn(job) for job in jobs))
    run.phases["burst"] = (start, time.monotonic())


async def drain(run: Run) -> None:
    """Let queued messages and running jobs finish: until every job is settled and neither fake has seen a
    request for quiet_s (bounded by drain_s)."""
    deadline = time.monotonic() + run.options.drain_s
    while time.monotonic() < deadline:
        last = max(
            [r.at for r in run.telegram.requests if r.method != "getUpdates"]
            + [r.at for r in run.discord.requests]
            + [0.0]
        )
        if time.monotonic() - last > quiet_s(run.options) and not unsettled_jobs(run):
            return
        await asyncio.sleep(1.0)


def quiet_s(options: Options) -> float:
    if options.quiet_s is not None:
        return options.quiet_s
    return 15.0 + (60.0 if options.limits == "platform" else 0.0)


async def mark_memory(run: Run, bot: subprocess.Popen[bytes]) -> None:
    """--trace-memory: let the bot go quiet, then have it write a tracemalloc snapshot (benchmarks/memtrace.py)."""
    await drain(run)
    directory = Path(run.options.trace_memory or ".")
    number = 1 + len(list(directory.glob("mark-*.tracemalloc")))
    bot.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while not (directory / f"mark-{number}.tracemalloc").exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    print(f"memory mark {number}: bot RSS {rss_mb(bot.pid) or 0:.1f} MB (quiet, tracemalloc on)", file=sys.stderr)


def unsettled_jobs(run: Run) -> int:
    try:
        with sqlite3.connect(f"file:{run.db_path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status IN ('accepted', 'submitted', 'running', 'found')"
            ).fetchone()[0]
    except sqlite3.Error:
        return 0


# ---- what the platforms saw ------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def telegram_answers(run: Run) -> dict[int, float]:
    """For every command message: when the first message replying to it was sent (keyed by message id)."""
    first: dict[tuple[int, int], float] = {}
    for r in run.telegram.requests:
        if r.error is None and r.method in ("sendMessage", "sendPhoto"):
            reply = r.params.get("reply_parameters") or {}
            key = (r.params.get("chat_id"), reply.get("message_id"))
            if key[1] is not None and key not in first:
                first[key] = r.at  # type: ignore[index]
    return {mid: at for (_, mid), at in first.items()}


def telegram_cooldown_notices(run: Run) -> dict[int, list[tuple[float, float]]]:
    """Each person's private cooldown notices: (sent at, the wait it names). A group command refused by a
    cooldown is answered by one of these (sent to the person, not the group), or folded into an earlier one whose
    wait it falls in (the bot says it once per wait)."""
    notices: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for r in run.telegram.requests:
        chat_id = r.params.get("chat_id") or 0
        if r.error is None and r.method == "sendMessage" and isinstance(chat_id, int) and chat_id > 0:
            found = re.match(r"Slow down:.*? (\d+) s\.", str(r.params.get("text") or ""))
            if found:
                notices[chat_id].append((r.at, float(found.group(1))))
    return notices


def cooldown_answer(notices: list[tuple[float, float]], t0: float) -> float | bool | None:
    """The latency of the private notice answering a command sent at t0; True when an earlier notice's wait
    covers it (folded); None when neither."""
    after = [at for at, _ in notices if at >= t0]
    if after:
        return min(after) - t0
    return any(at <= t0 <= at + wait + 1.0 for at, wait in notices) or None


def discord_answers(run: Run) -> dict[str, float]:
    """For every interaction token: when its first answer with content went out (callback 4/7, follow-up, edit)."""
    first: dict[str, float] = {}
    for r in run.discord.requests:
        if r.status >= 300:
            continue
        parts = r.path.strip("/").split("/")
        if parts[0] == "interactions" and len(parts) >= 3:
            if (r.body or {}).get("type") in (5, 6):
                continue
            token = parts[2]
        elif parts[0] == "webhooks" and len(parts) >= 3 and r.method in ("POST", "PATCH"):
            token = parts[2]
        else:
            continue
        first.setdefault(token, r.at)
    return first


def reveals_seen(run: Run) -> tuple[Counter[str], dict[str, list[float]]]:
    """Public reveals per person label (final state of every group/channel message), and when each went out."""
    seen: Counter[str] = Counter()
    for group in run.community.groups:
        for message in run.telegram.messages_in(group["id"]):
            text = message.text
            head = re.match(r"🎰 (\S+) pulled ", text)
            if head:
                seen["telegram:" + head.group(1)] += 1
            elif re.match(r"🎰 \d+ more pulls?\b", text):  # a digest, live or from before a restart
                for line in re.findall(r"^• (\S+) ", text, flags=re.M):
                    seen["telegram:" + line] += 1
    for message in run.discord.messages.values():
        if message.get("channel_id") != str(run.discord.channel_id) or message.get("deleted"):
            continue
        for embed in message.get("embeds") or []:
            head = re.match(r"^(\S+) pulled ", (embed.get("author") or {}).get("name") or "")
            if head:
                seen["discord:" + head.group(1)] += 1
    times: dict[str, list[float]] = defaultdict(list)
    for r in run.telegram.requests:
        if r.error is None and r.method in ("sendMessage", "editMessageText") and (r.params.get("chat_id") or 0) < 0:
            source = r.params.get("text", "")
            for label in re.findall(r"<b>(\S+)</b> pulled ", source):
                times["telegram:" + label].append(r.at)
            if "more pull" in source:
                for label in re.findall(r"^• <b>(\S+)</b> ", source, flags=re.M):
                    times["telegram:" + label].append(r.at)
    for r in run.discord.requests:
        if r.status < 300 and r.method in ("POST", "PATCH") and r.path.startswith("/webhooks/"):
            for embed in (r.body or {}).get("embeds") or []:
                head = re.match(r"^(\S+) pulled ", (embed.get("author") or {}).get("name") or "")
                if head:
                    times["discord:" + head.group(1)].append(r.at)
    return seen, times


def paid_pulls(run: Run) -> tuple[Counter[str], Counter[str]]:
    """From the bot's database: delivered pulls in a group or guild per person (their reveal is due: it goes out
    before the key), and every pull job's status ('found' at the end: stopped between the find and delivery)."""
    labels = {("telegram", str(u["id"])): "telegram:" + u["first_name"] for u, _ in run.community.tg_people}
    labels.update({("discord", str(p.id)): "discord:" + (p.global_name or "") for p in run.community.discord_people})
    public: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    with sqlite3.connect(f"file:{run.db_path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT platform, user_id, community_id, status FROM jobs WHERE kind = 'pull'").fetchall()
    for platform_name, user_id, community_id, status in rows:
        statuses[status] += 1
        if community_id is not None and status == "delivered":
            public[labels.get((platform_name, user_id), f"{platform_name}:?{user_id}")] += 1
    return public, statuses


def kept_reveals(run: Run) -> Counter[str]:
    """Reveals the bot kept in its database at the stop, per person, to post after its next start (a group at
    its message limit when it was stopped): late, not lost."""
    with sqlite3.connect(f"file:{run.db_path}?mode=ro", uri=True) as db:
        try:
            rows = db.execute("SELECT platform, line FROM late_reveals").fetchall()
        except sqlite3.OperationalError:  # a database from before late reveals were kept
            return Counter()
    kept: Counter[str] = Counter()
    for platform_name, line in rows:
        label = re.match(r"<b>(\S+)</b> ", line)
        kept[f"{platform_name}:{label.group(1) if label else '?'}"] += 1
    return kept


def reveal_latencies(run: Run, times: dict[str, list[float]]) -> list[float]:
    """Each reveal matched to the earliest unmatched pull command of that person sent before it (approximate:
    a pull refused by a cooldown has no reveal and is skipped when a later reveal matches a later pull)."""
    pulls: dict[str, list[float]] = defaultdict(list)
    for s in run.sent:
        if s.is_pull:
            pulls[f"{s.platform}:{s.label}"].append(s.t0)
    latencies = []
    for who, reveal_times in times.items():
        pending = sorted(pulls.get(who, []))
        for at in sorted(reveal_times):
            while len(pending) > 1 and pending[1] <= at and at - pending[0] > 120:
                pending.pop(0)  # too old to be this reveal's pull: it was refused
            if pending and pending[0] <= at:
                latencies.append(at - pending.pop(0))
    return latencies


# What a sent Telegram message was, from how its text starts (the first that matches names it).
SEND_KINDS = (
    ("key", "(?s).*WIF:"),
    ("digest", "🎰 \\d+ more pull"),
    ("rolling", "🎰 \\S+ \\S+ is pulling"),
    ("reveal", "🎰 .* pulled "),
    ("odds", "🎲 Odds"),
    ("help", "🔑 <b>VaniKeys</b>"),
    ("balance", "💰"),
    ("leaderboard", "🏆"),
    ("order receipt", "🧾 Your order"),
    ("order", "(🧾|⏳|⚙️|✅|❌)"),
    ("slow down", "Slow down"),
    ("easy pattern", "(🎯|🎰 On hold)"),
)


def telegram_sends_by_kind(run: Run) -> dict[str, int]:
    """Telegram's counted sends (messages and edits) by where they went and what they were: what the 30 a
    second and 20 a minute per group are spent on."""
    counts: Counter[str] = Counter()
    for r in run.telegram.requests:
        if r.error is not None or r.method not in ("sendMessage", "sendPhoto", "editMessageText"):
            continue
        text = str(r.params.get("text") or r.params.get("caption") or "")
        kind = next((name for name, start in SEND_KINDS if re.match(start, text)), "other")
        where = "group" if (r.params.get("chat_id") or 0) < 0 else "private"
        label = f"{where} {kind}{' (edit)' if r.method == 'editMessageText' else ''}"
        if kind == "other" and "tg-spoiler" not in text:  # what "other" is, by its opening words (never a secret)
            label += f" ({text.split(chr(10))[0][:24]}…)"
        counts[label] += 1
    return dict(counts.most_common())


def rss_trend(run: Run, name: str) -> dict[str, float] | None:
    """The bot's RSS over the last two thirds of the mix (or soak) phase `name`: after warm-up, before the burst
    and the drain (100 simultaneous presses at the end raise it in one step, which is not growth over time)."""
    if name not in run.phases or run.rss_started is None:
        return None
    start, end = run.phases[name]
    begin = start + (end - start) / 3
    window = [s for s in run.rss if begin <= run.rss_started + s.t <= end]
    if len(window) < 3:
        return None
    slope = statistics.linear_regression([s.t for s in window], [s.bot_mb for s in window]).slope
    return {
        "from_s": window[0].t,
        "to_s": window[-1].t,
        "first_mb": window[0].bot_mb,
        "last_mb": window[-1].bot_mb,
        "mb_per_min": round(slope * 60, 2),
    }


def per_10s(run: Run, times: list[float]) -> list[int]:
    """How many of `times` fell in each 10 s from the start of the warm-up (a stall shows as zeros)."""
    start = min((s.t0 for s in run.sent), default=0.0)
    counts: Counter[int] = Counter(int((t - start) // 10) for t in times if t >= start)
    return [counts.get(i, 0) for i in range(max(counts, default=-1) + 1)]


def measure(run: Run) -> dict[str, Any]:
    seen, times = reveals_seen(run)
    tg_answers = telegram_answers(run)
    tg_notices = telegram_cooldown_notices(run)
    folded: Counter[str] = Counter()
    dc_answers = discord_answers(run)
    by_kind: dict[str, list[float]] = defaultdict(list)
    unanswered: Counter[str] = Counter()
    late_acks: Counter[str] = Counter()
    acks: dict[str, list[float]] = defaultdict(list)
    answered_in_mix = 0
    deadline = run.telegram.callback_deadline_s
    for s in run.sent:
        key = f"{s.platform} {s.kind}"
        latency: float | None = None
        if s.platform == "telegram" and s.query_id is not None:
            delay = run.telegram.callback_answer_delay.get(s.query_id)
            if delay is None or delay > deadline:
                late_acks["telegram"] += 1
            else:
                acks[f"telegram {s.phase}"].append(delay)
                latency = delay
        elif s.platform == "telegram":
            at = tg_answers.get(s.message_id or -1)
            if at is None and s.is_pull:  # a group pull with no rolling message, revealed inside a digest
                at = min((t for t in times.get(f"telegram:{s.label}", []) if t >= s.t0), default=None)
            latency = None if at is None else at - s.t0
            if latency is None and s.user_id is not None:  # refused by a cooldown: told privately, or folded
                notice = cooldown_answer(tg_notices.get(s.user_id, []), s.t0)
                if notice is True:
                    folded[key] += 1
                    continue
                latency = notice if isinstance(notice, float) else None
        elif s.interaction is not None:
            i = s.interaction
            if i.acked_with is None or (i.ack_delay_s or 0) > 3.0:
                late_acks["discord"] += 1
            else:
                acks[f"discord {s.phase}"].append(i.ack_delay_s or 0.0)
            at = dc_answers.get(i.token)
            latency = None if at is None else at - s.t0
        if latency is None:
            unanswered[key] += 1
        else:
            by_kind[key].append(latency)
            if s.phase in ("mix", "soak"):
                answered_in_mix += 1
    mix_phase_name = "soak" if "soak" in run.phases else "mix"
    public, statuses = paid_pulls(run)
    kept = kept_reveals(run)
    shown = seen + kept
    lost = {who: n - shown.get(who, 0) for who, n in public.items() if n > shown.get(who, 0)}
    extra = {who: n - public.get(who, 0) for who, n in seen.items() if n > public.get(who, 0)}
    start, end = run.phases.get(mix_phase_name, (0.0, 1.0))
    sent_in_mix = sum(1 for s in run.sent if s.phase == mix_phase_name)
    rl_tg = len(run.telegram.rate_limited())
    return {
        "sent": len(run.sent),
        "mix_phase": mix_phase_name,
        "mix_seconds": round(end - start, 1),
        "offered_per_s": round(sent_in_mix / max(end - start, 1e-9), 1),
        "answered_per_s": round(answered_in_mix / max(end - start, 1e-9), 1),
        "latency": {
            k: {"n": len(v), "p50": percentile(v, 50), "p95": percentile(v, 95), "p99": percentile(v, 99)}
            for k, v in sorted(by_kind.items())
        },
        "unanswered": dict(unanswered),
        "folded_cooldowns": dict(folded),  # refused by a cooldown inside a wait the person was already told of
        "acks": {
            k: {
                "n": len(v),
                "p50": percentile(v, 50),
                "p95": percentile(v, 95),
                "p99": percentile(v, 99),
                "max": max(v) if v else float("nan"),
                "over_3s": sum(1 for x in v if x > 3.0),
            }
            for k, v in sorted(acks.items())
        },
        "late_acks": dict(late_acks),
        "public_pulls_settled": sum(public.values()),
        "found_not_delivered_at_stop": statuses.get("found", 0),
        "reveals_seen": sum(seen.values()),
        "reveals_kept_for_restart": sum(kept.values()),
        "lost_reveals": sum(lost.values()),
        "lost_by_person": dict(sorted(lost.items())[:10]),
        "reveals_without_pull": sum(extra.values()),
        "reveal_latency": {"n": 0}
        if not times
        else (lambda v: {"n": len(v), "p50": percentile(v, 50), "p95": percentile(v, 95), "p99": percentile(v, 99)})(
            reveal_latencies(run, times)
        ),
        "pull_jobs": dict(statuses),
        "telegram_429": rl_tg,
        "telegram_sends_by_kind": telegram_sends_by_kind(run),
        "discord_429": len(run.discord.rate_limited),
        "telegram_sends_per_10s": per_10s(
            run,
            [
                r.at
                for r in run.telegram.requests
                if r.error is None and r.method in ("sendMessage", "sendPhoto", "editMessageText")
            ],
        ),
        "discord_requests_per_10s": per_10s(run, [r.at for r in run.discord.requests if r.status < 300]),
        "rss": [asdict(s) for s in run.rss],
        "rss_trend": rss_trend(run, mix_phase_name),
        "bot_exit": run.bot_exit,
    }


# ---- report ---------------------------------------------------------------------------------------------------


def fmt_s(value: float) -> str:
    if value != value:  # nan
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def report(run: Run, result: dict[str, Any]) -> None:
    o = run.options
    print(
        f"\nVaniKeys load: backend {o.backend}, budget {o.budget or DEFAULT_BUDGET[o.backend]} keys/pull, "
        f"limits {o.limits}, {len(run.community.tg_people)} Telegram people in {o.groups} groups + "
        f"{len(run.community.discord_people)} Discord people"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
        f"at the end, Python {platform.python_version()}"
    )
    print(
        f"mix: {result['mix_seconds']} s offered {result['offered_per_s']}/s, answered {result['answered_per_s']} "
        f"commands/s; {result['sent']} commands and presses in all"
    )
    print(f"{'kind':<24}{'n':>6}{'p50':>10}{'p95':>10}{'p99':>10}")
    for kind, row in result["latency"].items():
        print(f"{kind:<24}{row['n']:>6}{fmt_s(row['p50']):>10}{fmt_s(row['p95']):>10}{fmt_s(row['p99']):>10}")
    print(f"unanswered: {result['unanswered'] or 'none'}")
    print("acknowledgements (button presses: Telegram answerCallbackQuery; Discord: every interaction):")
    for kind, row in result["acks"].items():
        print(
            f"  {kind:<22}{row['n']:>6}  p50 {fmt_s(row['p50'])}  p95 {fmt_s(row['p95'])}  p99 "
            f"{fmt_s(row['p99'])}  max {fmt_s(row['max'])}  over 3 s: {row['over_3s']}"
        )
    print(f"late acknowledgements (Telegram > 15 s or never, Discord > 3 s or never): {result['late_acks'] or 'none'}")
    rl = result["reveal_latency"]
    print(
        f"reveals: {result['public_pulls_settled']} delivered public pulls, {result['reveals_seen']} reveals seen, "
        f"{result['reveals_kept_for_restart']} kept at the stop to post after the restart, "
        f"lost {result['lost_reveals']}, unmatched {result['reveals_without_pull']}; reveal after the pull command "
        f"p50 {fmt_s(rl.get('p50', float('nan')))} p95 {fmt_s(rl.get('p95', float('nan')))} "
        f"p99 {fmt_s(rl.get('p99', float('nan')))}"
    )
    if result["lost_by_person"]:
        print(f"  lost, first people: {result['lost_by_person']}")
    print(
        f"pull jobs by status: {result['pull_jobs']} ('found': not yet delivered when the bot was stopped); "
        f"429s answered: Telegram {result['telegram_429']}, "
        f"Discord {result['discord_429']}"
    )
    print(f"Telegram messages sent per 10 s from the warm-up on: {result['telegram_sends_per_10s']}")
    print(f"Telegram messages sent, by kind: {result['telegram_sends_by_kind']}")
    print(f"Discord requests answered per 10 s: {result['discord_requests_per_10s']}")
    rss = result["rss"]
    if rss:
        step = max(1, len(rss) // 12)
        series = ", ".join(f"{s['t']:.0f}s {s['bot_mb']:.0f}+{s['workers_mb']:.0f}" for s in rss[::step])
        print(
            f"RSS MB (bot + worker processes) over time: {series}; last {rss[-1]['bot_mb']:.0f}+"
            f"{rss[-1]['workers_mb']:.0f}"
        )
        cpu = ", ".join(f"{s['t']:.0f}s {s['bot_cpu']:.2f}" for s in rss[::step])
        print(f"bot process CPU (cores) over time: {cpu}")
        trend = result["rss_trend"]
        if trend:
            print(
                f"  bot RSS over the last two thirds of the {result['mix_phase']} (burst and "
                f"drain excluded), {trend['from_s']:.0f} s to {trend['to_s']:.0f} s: {trend['first_mb']:.1f} -> "
                f"{trend['last_mb']:.1f} MB, trend {trend['mb_per_min']:+.2f} MB/min"
            )
    print(f"bot exit status: {result['bot_exit']}")


# ---- main -------------------------------------------------------------------------------------------------------


async def run_load(options: Options) -> tuple[Run, dict[str, Any]]:
    limits = Limits() if options.limits == "platform" else Limits.off()
    workdir = Path(options.workdir) if options.workdir else Path(tempfile.mkdtemp(prefix="vanikeys-load-"))
    telegram, discord_fake = LoadTelegram(limits), LoadDiscord(limits)
    community = Community.build(
        telegram, discord_fake, groups=options.groups, per_group=options.per_group, discord_people=options.discord_users
    )
    run = Run(options, telegram, discord_fake, community, workdir / "vanikeys.db", rng=random.Random(options.seed))
    await telegram.start()
    await discord_fake.start()
    bot: subprocess.Popen[bytes] | None = None
    log_file = (workdir / "bot.log").open("wb")
    stop_sampling = asyncio.Event()
    sampler: asyncio.Task[None] | None = None
    try:
        if options.backend == "native":
            await asyncio.get_running_loop().run_in_executor(None, native.build_library)
        await seed_balances(run)
        bot = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / "load_bot.py")],
            cwd=workdir,
            env=bot_environment(run, workdir),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        sampler = asyncio.create_task(sample_rss(run, bot.pid, stop_sampling))
        await wait_ready(run, bot)
        print(f"bot ready (pid {bot.pid}, log {workdir / 'bot.log'}); warming up", file=sys.stderr)
        if options.warmup_s > 0:
            await mix_phase(run, options.warmup_s, "warmup")
        phase, seconds = ("soak", options.soak_s) if options.soak_s > 0 else ("mix", options.duration_s)
        print(f"{phase}: {seconds:.0f} s at {options.rate}/s", file=sys.stderr)
        if options.trace_memory:  # snapshots only when the bot is quiet: work in flight is not growth
            await mark_memory(run, bot)
            await mix_phase(run, seconds / 2, phase)
            first_start = run.phases[phase][0]
            await mark_memory(run, bot)
            await mix_phase(run, seconds / 2, phase)
            run.phases[phase] = (first_start, run.phases[phase][1])  # includes the quiet gap between the halves
            await mark_memory(run, bot)
        else:
            await mix_phase(run, seconds, phase)
        print("burst of simultaneous presses", file=sys.stderr)
        await burst_phase(run)
        await drain(run)
    finally:
        stop_sampling.set()
        if sampler is not None:
            await sampler
        if bot is not None:
            await telegram.release_long_polls()
            run.bot_exit = await asyncio.get_running_loop().run_in_executor(None, stop_bot, bot)
        log_file.close()
        await telegram.stop()
        await discord_fake.stop()
    return run, measure(run)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend",
        choices=("native", "local", "python"),
        default="native",
        help="native: the C++ kernel in the bot's process; local: the default (worker processes); "
        "python: the pure-python reference in the bot's process (the smoke test's)",
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the mix (default 60)")
    parser.add_argument("--rate", type=float, default=30.0, help="commands a second offered (default 30)")
    parser.add_argument("--groups", type=int, default=5)
    parser.add_argument("--per-group", type=int, default=20, help="Telegram people per group (default 20)")
    parser.add_argument("--discord-users", type=int, default=100)
    parser.add_argument("--presses", type=int, default=100, help="simultaneous 10-pull presses per platform")
    parser.add_argument(
        "--limits",
        choices=("platform", "off"),
        default="platform",
        help="platform: the fakes enforce Telegram's and Discord's limits; off: lifted",
    )
    parser.add_argument("--budget", type=int, default=None, help="keys per pull (default: 16384 native, 2048 local)")
    parser.add_argument("--soak", type=float, default=0.0, metavar="SECONDS", help="a long mix, RSS sampled")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples (default 5)")
    parser.add_argument("--drain", type=float, default=150.0, help="at most this long for queued work at the end")
    parser.add_argument(
        "--group-share",
        type=float,
        default=0.15,
        help="the share of Telegram commands sent in the group rather than the private chat "
        "(default 0.15: a group takes only 20 messages a minute)",
    )
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--json", dest="json_out", help="also write the figures to this file")
    parser.add_argument(
        "--trace-memory",
        metavar="DIR",
        help="tracemalloc in the bot (slower): the soak runs in two "
        "halves and the bot writes a snapshot into DIR once quiet after the warm-up and after each "
        "half (mark-1..3.tracemalloc); compare two with benchmarks/memtrace.py",
    )
    parser.add_argument(
        "--bot-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable for the bot only (repeatable), e.g. VANIKEYS_MALLOC_ARENAS=0",
    )
    parser.add_argument(
        "--malloc-stats",
        metavar="FILE",
        help="the bot appends a JSON line every --sample s: "
        "RSS anonymous/file, Python's allocated blocks, glibc malloc in use / free but held "
        "(benchmarks/mallocstats.py); cheap enough for a normal soak",
    )
    parser.add_argument(
        "--trace-every",
        type=float,
        default=0.0,
        help="with --trace-memory, also a snapshot every this many seconds (default 0: none)",
    )
    args = parser.parse_args(argv)
    for name in ("duration", "rate", "sample"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be more than 0")
    if any("=" not in item for item in args.bot_env):
        parser.error("--bot-env takes KEY=VALUE")
    if not 0 <= args.group_share <= 1:
        parser.error("--group-share is a fraction from 0 to 1")
    if args.groups < 1 or args.per_group < 1 or args.discord_users < 1:
        parser.error("--groups, --per-group and --discord-users must be at least 1")
    return Options(
        backend=args.backend,
        duration_s=args.duration,
        rate=args.rate,
        groups=args.groups,
        per_group=args.per_group,
        discord_users=args.discord_users,
        presses=args.presses,
        limits=args.limits,
        budget=args.budget,
        soak_s=args.soak,
        sample_s=args.sample,
        drain_s=args.drain,
        group_share=args.group_share,
        seed=args.seed,
        json_out=args.json_out,
        trace_memory=args.trace_memory,
        trace_every_s=args.trace_every,
        malloc_stats=args.malloc_stats,
        bot_env=tuple(args.bot_env),
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    run, result = asyncio.run(run_load(options))
    report(run, result)
    if options.json_out:
        Path(options.json_out).write_text(json.dumps({"options": asdict(options), **result}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
