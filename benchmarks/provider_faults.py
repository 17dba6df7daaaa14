"""Provider faults replayed through the whole bot, against the RunPod emulator and a self-hosted box as processes.

    python benchmarks/provider_faults.py [--short] [--only NAME ...]

Each scenario starts fresh provider processes (`python -m tests.worker.runpod_emulator`, the real handler on
the python engine with a 0.25 s queue delay; `python -m gpu_worker.selfhosted`), then the bot as a process of its
own (this file's `drive` mode: `create_app` from the environment, exactly what `vanikeys bot` builds, with
VANIKEYS_BACKEND=runpod, minus the chat front ends), asks it for pulls and orders, injects the fault, restarts the
bot where the fault is a SIGTERM or SIGKILL, waits until every job has settled, and prints:

- refunded finished: jobs the bot refunded although a provider job of theirs COMPLETED (goal 0);
- run twice: pulls with more than one provider job that started running (goal 0);
- usage s / billed s: `vanikeys costs`' GPU-seconds (grind_usage) beside the providers' own billed-seconds ledgers
  (goal: equal; a box that was killed takes its ledger with it, so its last rows are the bot's estimate);
- failover s: from the box's kill to the first job RunPod took in its place (goal <= 15 s);
- added latency: a pull's time from the provider finishing it to the bot holding the verified result, through the
  RunPod client and the emulator (p50 goal <= 150 ms).

`--short` runs a few scaled-down scenarios (the suite runs it: tests/worker/test_provider_faults.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

API_KEY = "bench-emulator-key-0123456789"
BOX_TOKEN = "bench-box-token-0123456789abcdef"
VAULT_KEY = "5a" * 32
SETTLED = ("found", "delivered", "refunded")
SETTLE_LIMIT_S = 240.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the bot as a process ---------------------------------------------------------------------------------------


async def drive(args: argparse.Namespace) -> None:
    """The bot: create_app from the environment, the pulls and orders asked for, until every job settles."""
    from bot.answers import UserRef
    from bot.app import create_app
    from bot.config import Settings

    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    user = UserRef("bench", "puller", "Puller")
    settings = Settings.from_env(dotenv_path=None)
    async with create_app(settings) as app:
        tasks: list[asyncio.Task[Any]] = []

        async def timed_pull(count: int) -> None:
            started = time.time()
            answer = await app.service.pull(user, None, "ab", "btc", count, allow_easy=True)
            print(
                json.dumps({"event": "pull", "job_id": answer.job_id, "started": started, "ended": time.time()}),
                flush=True,
            )

        if not args.resume:
            await app.service.grant(user, 10**7)
            tasks += [asyncio.create_task(timed_pull(1)) for _ in range(args.pulls)]
            tasks += [asyncio.create_task(timed_pull(10)) for _ in range(args.ten_pulls)]
            for _ in range(args.orders):
                await app.service.order(user, None, args.order_pattern, "eth")
        print(json.dumps({"event": "started"}), flush=True)
        while not stopping.is_set():
            rows = await app.db.fetchall("SELECT status FROM jobs")
            if rows and all(r["status"] in SETTLED for r in rows) and all(t.done() for t in tasks):
                break
            try:
                await asyncio.wait_for(stopping.wait(), 0.2)
            except TimeoutError:
                pass
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({"event": "stopped" if stopping.is_set() else "settled"}), flush=True)


# --- provider processes --------------------------------------------------------------------------------------------


@dataclass
class Providers:
    emulator_url: str
    emulator: subprocess.Popen[bytes]
    box_url: str | None = None
    box: subprocess.Popen[bytes] | None = None
    box_ledger: list[dict[str, Any]] = field(default_factory=list)  # the last copy read (a killed box loses it)

    async def fault(self, **fault: Any) -> None:
        await _request("POST", self.emulator_url.removesuffix("/v2") + "/emulator/fault", API_KEY, fault)

    async def ledgers(self) -> list[dict[str, Any]]:
        runpod = (await _request("GET", self.emulator_url.removesuffix("/v2") + "/emulator/billing", API_KEY))["jobs"]
        for line in runpod:
            line["provider"] = "runpod"
        if self.box is not None and self.box.poll() is None:
            await self.read_box()
        return runpod + [{**line, "provider": "selfhosted"} for line in self.box_ledger]

    async def read_box(self) -> None:
        assert self.box_url is not None
        self.box_ledger = (await _request("GET", f"{self.box_url}/selfhosted/billing", BOX_TOKEN))["jobs"]

    def stop(self) -> None:
        for process in (self.emulator, self.box):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(20)


async def _request(method: str, url: str, key: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.request(
            method, url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=aiohttp.ClientTimeout(total=10)
        ) as response:
            return dict(await response.json())


async def _wait_up(url: str, key: str) -> None:
    for _ in range(600):
        try:
            await _request("GET", url, key)
            return
        except (aiohttp.ClientError, TimeoutError):
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def start_providers(*, box_slots: int | None) -> Providers:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "EMULATOR_API_KEY": API_KEY,
        "VANIKEYS_WORKER_BACKEND": "python",
        "VANIKEYS_SELFHOSTED_TOKEN": BOX_TOKEN,
    }
    port = free_port()
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.worker.runpod_emulator",
            "--port",
            str(port),
            "--endpoint",
            "bench",
            "--queue-delay",
            "0.25",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    providers = Providers(emulator_url=f"http://127.0.0.1:{port}/v2", emulator=emulator)
    if box_slots is not None:
        box_port = free_port()
        providers.box = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gpu_worker.selfhosted",
                "--host",
                "127.0.0.1",
                "--port",
                str(box_port),
                "--slots",
                str(box_slots),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        providers.box_url = f"http://127.0.0.1:{box_port}/v2"
    try:
        await _wait_up(providers.emulator_url.removesuffix("/v2") + "/emulator/billing", API_KEY)
        if providers.box_url is not None:
            await _wait_up(f"{providers.box_url}/selfhosted/health", BOX_TOKEN)
    except BaseException:
        providers.stop()
        raise
    return providers


# --- one scenario ----------------------------------------------------------------------------------------------------


@dataclass
class Bot:
    env: dict[str, str]
    args: list[str]
    process: subprocess.Popen[str] | None = None
    pulls: list[dict[str, Any]] = field(default_factory=list)

    async def start(self, *extra: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "drive", *self.args, *extra],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        await self._until("started")

    async def _until(self, event: str) -> None:
        assert self.process is not None and self.process.stdout is not None
        while True:
            line = await asyncio.to_thread(self.process.stdout.readline)
            if not line:
                raise RuntimeError(f"the bot exited (rc {self.process.wait()}) before {event!r}")
            data = json.loads(line)
            if data["event"] == "pull":
                self.pulls.append(data)
            if data["event"] == event or data["event"] in ("settled", "stopped"):
                return

    async def settled(self) -> None:
        await asyncio.wait_for(self._until("settled"), SETTLE_LIMIT_S)
        assert self.process is not None
        await asyncio.to_thread(self.process.wait, 30)

    async def stop(self, how: signal.Signals) -> float:
        """Signal the bot; the seconds it took to exit."""
        assert self.process is not None
        sent = time.monotonic()
        self.process.send_signal(how)
        await asyncio.to_thread(self.process.wait, 60)
        return time.monotonic() - sent


@dataclass
class Outcome:
    name: str
    refunded_finished: int
    run_twice: int
    usage_s: float
    billed_s: float
    estimated_s: float
    failover_s: float | None = None
    stop_s: float | None = None
    note: str = ""

    def line(self) -> str:
        failover = "-" if self.failover_s is None else f"{self.failover_s:.1f}"
        stop = "" if self.stop_s is None else f"; bot stopped {self.stop_s:.1f} s after the signal"
        estimated = f" ({self.estimated_s:.1f} estimated)" if self.estimated_s else ""
        return (
            f"{self.name:34s} {self.refunded_finished:>8d} {self.run_twice:>6d} {self.usage_s:>9.2f}"
            f"{estimated:<18s} {self.billed_s:>9.2f} {failover:>8s}  {self.note}{stop}"
        )


Fault = Callable[[Providers, Bot], Awaitable[dict[str, Any]]]


@dataclass
class Scenario:
    name: str
    fault: Fault
    pulls: int = 0
    ten_pulls: int = 0
    orders: int = 0
    order_pattern: str = "^abcd"
    box_slots: int | None = None  # a self-hosted box beside RunPod
    pull_budget: int = 100_000
    before: dict[str, Any] | None = None  # an emulator fault in place before the bot submits anything


async def run_scenario(scenario: Scenario, workdir: Path) -> Outcome:
    providers = await start_providers(box_slots=scenario.box_slots)
    if scenario.before:
        await providers.fault(**scenario.before)
    db = workdir / f"{scenario.name.replace(' ', '_')}.db"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_", "MODAL_"))
    }
    env.update(
        PYTHONPATH=str(REPO),
        VANIKEYS_DB=str(db),
        VANIKEYS_VAULT_KEY=VAULT_KEY,
        VANIKEYS_BACKEND="runpod",
        RUNPOD_API_KEY=API_KEY,
        RUNPOD_ENDPOINT_ID="bench",
        RUNPOD_BASE_URL=providers.emulator_url,
        VANIKEYS_PULL_BUDGET_GPU=str(scenario.pull_budget),
        VANIKEYS_GPU_KEYS_PER_S="20000",
        VANIKEYS_FREE_PULLS_PER_DAY="0",
        VANIKEYS_DAILY_SPEND_LIMIT="100000000",
        VANIKEYS_JOB_LEASE_S="5",
    )
    if providers.box_url is not None:
        env.update(
            VANIKEYS_SELFHOSTED_URL=providers.box_url.removesuffix("/v2"),
            VANIKEYS_SELFHOSTED_TOKEN=BOX_TOKEN,
            VANIKEYS_SELFHOSTED_SLOTS=str(scenario.box_slots),
        )
    bot = Bot(
        env,
        [
            "--pulls",
            str(scenario.pulls),
            "--ten-pulls",
            str(scenario.ten_pulls),
            "--orders",
            str(scenario.orders),
            "--order-pattern",
            scenario.order_pattern,
        ],
    )
    try:
        await bot.start()
        extra = await scenario.fault(providers, bot)
        await bot.settled()
        ledgers = await providers.ledgers()
    finally:
        if bot.process is not None and bot.process.poll() is None:
            bot.process.kill()
            bot.process.wait()
        providers.stop()
    return await measure(scenario.name, db, ledgers, **extra)


async def measure(name: str, db_path: Path, ledgers: list[dict[str, Any]], **extra: Any) -> Outcome:
    from bot.storage import open_database

    db = await open_database(db_path)
    try:
        jobs = {r["job_id"]: dict(r) for r in await db.fetchall("SELECT job_id, kind, status FROM jobs")}
        usage = await db.fetchall("SELECT provider, gpu_s, estimated, outcome, at FROM grind_usage")
    finally:
        await db.close()
    by_job: dict[str, list[dict[str, Any]]] = {}
    for line in ledgers:
        by_job.setdefault(str(line["tag"]).split("-", 1)[0], []).append(line)
    refunded_finished = sum(
        1
        for job_id, job in jobs.items()
        if job["status"] == "refunded" and any(line["status"] == "COMPLETED" for line in by_job.get(job_id, []))
    )
    run_twice = sum(1 for job_id, job in jobs.items() if job["kind"] == "pull" and len(by_job.get(job_id, [])) > 1)
    unsettled = [j for j in jobs.values() if j["status"] not in SETTLED]
    note = extra.pop("note", "")
    killed_at = extra.pop("killed_at", None)
    if killed_at is not None:  # from the box's kill to the first job RunPod took after the router gave up on the box
        given_up = [r["at"] for r in usage if r["provider"] == "selfhosted" and r["outcome"] == "unavailable"]
        replaced = [
            float(line["submitted_at"])
            for line in ledgers
            if line["provider"] == "runpod" and given_up and float(line["submitted_at"]) >= min(given_up)
        ]
        if replaced:
            extra["failover_s"] = min(replaced) - killed_at
        else:
            note = "no chunk failed over from the box; " + note
    if unsettled:
        note = f"{len(unsettled)} jobs NOT settled; " + note
    return Outcome(
        name=name,
        refunded_finished=refunded_finished,
        run_twice=run_twice,
        usage_s=sum(r["gpu_s"] for r in usage),
        billed_s=sum(float(line["billed_s"]) for line in ledgers),
        estimated_s=sum(r["gpu_s"] for r in usage if r["estimated"]),
        note=note,
        **extra,
    )


# --- the faults ------------------------------------------------------------------------------------------------------


async def until_running(
    providers: Providers, count: int = 1, provider: str | None = None, limit_s: float = 60.0
) -> list[dict[str, Any]]:
    ends = time.monotonic() + limit_s
    while time.monotonic() < ends:
        lines = [
            line
            for line in await providers.ledgers()
            if line["finished_at"] is None and (provider is None or line["provider"] == provider)
        ]
        if len(lines) >= count:
            return lines
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{count} running jobs never showed at the providers")


def outage(seconds: float) -> Fault:
    async def fault(providers: Providers, bot: Bot) -> dict[str, Any]:
        await until_running(providers)
        await providers.fault(outage=seconds, mode="drop")  # held connections drop; nothing answers
        return {"note": f"API down {seconds:g} s mid-pull"}

    return fault


async def lost_answer(providers: Providers, bot: Bot) -> dict[str, Any]:
    await until_running(providers)
    await providers.fault(drop_answers=3)  # the answers that carry finished results never arrive
    return {"note": "3 finished answers dropped"}


async def hung_submit(providers: Providers, bot: Bot) -> dict[str, Any]:
    return {"note": "/run answered 5 s after the job existed"}  # the emulator holds it (Scenario.before)


def restart(how: signal.Signals, running: int = 1, lose_answers: int = 0) -> Fault:
    async def fault(providers: Providers, bot: Bot) -> dict[str, Any]:
        await until_running(providers, running)
        took = await bot.stop(how)
        if lose_answers:
            await providers.fault(drop_answers=lose_answers)
        await bot.start("--resume")
        lost = f", {lose_answers} finished answers dropped after it" if lose_answers else ""
        return {"stop_s": took if how == signal.SIGTERM else None, "note": f"{how.name} mid-job, then a restart{lost}"}

    return fault


async def kill_box(providers: Providers, bot: Bot) -> dict[str, Any]:
    await until_running(providers, 2, provider="selfhosted")
    await providers.read_box()
    assert providers.box is not None
    providers.box.kill()
    killed = time.time()
    providers.box.wait()
    return {"killed_at": killed, "note": "the box's ledger as last read before the kill"}


async def twelve_at_a_box(providers: Providers, bot: Bot) -> dict[str, Any]:
    most = 0
    assert bot.process is not None
    while bot.process.poll() is None:
        await providers.read_box()
        most = max(most, sum(1 for line in providers.box_ledger if line["finished_at"] is None))
        await asyncio.sleep(0.05)
        if len(bot.pulls) >= 12:
            break
    on_box = len(providers.box_ledger)
    return {"note": f"box took {on_box} of 12 pulls, at most {most} at once (2 slots)"}


async def added_latency(pulls: int, **polling: float) -> list[float]:
    """Milliseconds from the emulator finishing a pull to the RunPod client holding its verified result."""
    from bot.grinding.runpod_api import RunpodApi
    from bot.grinding.runpod_backend import RunpodGrindingClient
    from gpu_worker.job import GrindJob

    job = GrindJob.parse({"v": 1, "format": "btc", "pattern": "ab", "budget": 2000, "tag": "latency-bench"})
    providers = await start_providers(box_slots=None)
    added: list[float] = []
    try:
        client = RunpodGrindingClient(RunpodApi(API_KEY, "bench", base_url=providers.emulator_url), **polling)
        for _ in range(pulls):
            job_id = await client.submit(job)
            await client.wait(job_id, job)
            held = time.time()
            [line] = [line for line in await providers.ledgers() if line["id"] == job_id]
            added.append((held - line["finished_at"]) * 1000)
        await client.close()
    finally:
        providers.stop()
    return added


def scenarios(short: bool) -> list[Scenario]:
    if short:
        return [
            Scenario(
                "SIGKILL mid-pull, answers lost", restart(signal.SIGKILL, lose_answers=3), pulls=2, pull_budget=20_000
            ),
            Scenario("12 pulls at a 2-slot box", twelve_at_a_box, pulls=12, box_slots=2, pull_budget=2_000),
        ]
    return [
        Scenario("outage 20 s", outage(20.0), pulls=1, ten_pulls=1, pull_budget=40_000),
        Scenario("lost answer", lost_answer, pulls=2, ten_pulls=1, pull_budget=20_000),
        Scenario("hung submit", hung_submit, pulls=1, pull_budget=20_000, before={"hold_run_answer": 5.0}),
        Scenario("SIGTERM mid-pull", restart(signal.SIGTERM), pulls=1, pull_budget=100_000),
        Scenario("SIGKILL mid-pull", restart(signal.SIGKILL), pulls=1, pull_budget=100_000),
        Scenario("SIGTERM mid-order", restart(signal.SIGTERM, 2), orders=1, order_pattern="^abcde"),
        Scenario("SIGKILL mid-order", restart(signal.SIGKILL, 2), orders=1, order_pattern="^abcde"),
        Scenario("box killed mid-order", kill_box, orders=1, order_pattern="^abcde", box_slots=2),
        Scenario("12 pulls at a 2-slot box", twelve_at_a_box, pulls=12, box_slots=2, pull_budget=40_000),
    ]


async def main(args: argparse.Namespace) -> tuple[list[Outcome], list[float]]:
    import tempfile

    chosen = [s for s in scenarios(args.short) if not args.only or s.name in args.only]
    outcomes: list[Outcome] = []
    print(
        f"# {os.cpu_count()} cpus, python engine, emulator queue delay 0.25 s; {'short' if args.short else 'full'} run",
        flush=True,
    )
    print(
        f"{'scenario':34s} {'refunded':>8s} {'twice':>6s} {'usage s':>9s}{'':<18s} {'billed s':>9s} "
        f"{'failover':>8s}  note",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as workdir:
        if args.short:  # independent processes: side by side, so the suite's copy stays short
            outcomes = list(await asyncio.gather(*(run_scenario(s, Path(workdir)) for s in chosen)))
            for outcome in outcomes:
                print(outcome.line(), flush=True)
        else:
            for scenario in chosen:
                outcomes.append(await run_scenario(scenario, Path(workdir)))
                print(outcomes[-1].line(), flush=True)
    added = await added_latency(6 if args.short else 30)  # alone: nothing else competes for the CPU
    print(f"added pull latency, /run + polling from 50 ms growing 15% a poll: {_summary(added)}", flush=True)
    if not args.short:  # the schemes it was chosen over, measured the same way
        for name, polling in (
            ("/run + polling every 0.25 s", {"first_poll_s": 0.25, "poll_growth": 1.0, "poll_interval_s": 0.25}),
            ("/run + polling every 1 s", {"first_poll_s": 1.0, "poll_growth": 1.0}),
        ):
            print(f"added pull latency, {name}: {_summary(await added_latency(30, **polling))}", flush=True)
    if args.json:
        print(json.dumps({"outcomes": [o.__dict__ for o in outcomes], "added_ms": added}))
    return outcomes, added


def _summary(added: list[float]) -> str:
    return f"p50 {statistics.median(added):.0f} ms, max {max(added):.0f} ms over {len(added)} pulls"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    run = sub.add_parser("run", help="replay the faults (the default)")
    for p in (parser, run):
        p.add_argument("--short", action="store_true", help="the scaled-down scenarios the suite runs")
        p.add_argument("--only", nargs="*", default=[], help="scenario names to run")
        p.add_argument("--json", action="store_true")
    d = sub.add_parser("drive", help="(internal) the bot process of one scenario")
    d.add_argument("--pulls", type=int, default=0)
    d.add_argument("--ten-pulls", type=int, default=0)
    d.add_argument("--orders", type=int, default=0)
    d.add_argument("--order-pattern", default="^abcd")
    d.add_argument("--resume", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    if arguments.mode == "drive":
        asyncio.run(drive(arguments))
    else:
        asyncio.run(main(arguments))
