"""Three bot processes on one store, driven at once: grants, gifts, pulls, an order, and Stripe webhooks at all three.
One is killed (SIGKILL) mid-order; a live peer takes its order over within the lease time plus a sweep, with
no restart. Afterwards every balance equals its ledger, every job was charged once and settled once, and
every checkout was credited once however many processes received it.

Leases are kept on the database's clock: a process whose own clock runs minutes behind keeps its order (no
peer grinds it too), and one paused (SIGSTOP) for longer than a lease loses it to a peer and, once it runs
again (SIGCONT), stops grinding it at once instead of grinding beside the new owner."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from bot.answers import UserRef
from bot.app import create_app
from bot.storage import Database, open_database
from tests.payments.stripe_events import completed_session, event_json, sign
from tests.payments.stripe_thread import stripe_in_thread
from tests.postgres import free_port
from tests.warm import WarmProcess, shared as shared_warm_interpreter

from .conftest import small_settings, store_overrides

REPO = Path(__file__).resolve().parents[2]
KEY = "5a" * 32
LEASE_S = 2.0
SECRET = "whsec_takeover_test"
YOU = UserRef("console", "you")


STRIPE = {"url": "http://127.0.0.1:9"}  # replaced by the fake's address while this module's tests run


@pytest.fixture(autouse=True, scope="module")
def reachable_stripe() -> Iterator[None]:
    """The bot reaches Stripe at start (bot/startup.py): a fake answers on loopback."""
    with stripe_in_thread("sk_test_takeover") as fake:
        STRIPE["url"] = fake.url
        yield


def bot_env(target: str | Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_"))}
    env.update(
        VANIKEYS_DB=str(target),
        VANIKEYS_VAULT_KEY=KEY,
        VANIKEYS_BACKEND="python",
        # One core per bot: these orders grind until the test ends them (leases, not keys, are what it
        # watches), and three bots each grinding on every core only took the CPU from the suite's other workers.
        VANIKEYS_CPU_CORES="1",
        VANIKEYS_PULL_BUDGET_CPU="60",
        VANIKEYS_PULL_PRICE="1",
        VANIKEYS_FREE_PULLS_PER_DAY="0",
        VANIKEYS_KEYS_PER_TOKEN="10000",
        VANIKEYS_ORDER_PREMIUM="1",
        VANIKEYS_CPU_KEYS_PER_S="20000",
        VANIKEYS_ORDER_ATTEMPT_FACTOR="1",
        VANIKEYS_JOB_LEASE_S=str(LEASE_S),
        STRIPE_API_KEY="sk_test_takeover",
        STRIPE_WEBHOOK_SECRET=SECRET,
        STRIPE_API_BASE=STRIPE["url"],
        VANIKEYS_WEBHOOK_HOST="127.0.0.1",
        VANIKEYS_WEBHOOK_PORT=str(port),
    )
    return env


def start_bot(target: str | Path, port: int, *, clock_behind_s: float = 0.0, **env: str) -> WarmProcess:
    """`vanikeys bot` as a process of its own, forked from this worker's warm interpreter (tests/warm.py); with
    `clock_behind_s`, its clock (time.time) runs that many seconds behind everyone else's."""
    module, argv = (
        ("tests.bot.skewed_clock", [str(clock_behind_s), "bot.cli", "bot"]) if clock_behind_s else ("bot.cli", ["bot"])
    )
    return shared_warm_interpreter().popen(module, argv, env={**bot_env(target, port), **env}, cwd=REPO)


async def wait_until(check, deadline_s: float, what: str):
    """Poll `check` (async, returning a truthy value when done) until it answers, or fail saying what never came."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {deadline_s} s")


async def serving(bots: list[WarmProcess], ports: list[int], deadline_s: float = 120) -> None:
    """Wait until every bot's webhook accepts connections. Three bots starting at once took 5 s on a
    quiet 2-core machine and 13 s at load 14 (a fixed 10 s wait failed there): wait for the listener itself, for as
    long as its process is alive, and fail at once with its stderr when it died."""

    async def accepts(port: int) -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    deadline = time.monotonic() + deadline_s
    for bot, port in zip(bots, ports, strict=True):
        while not await accepts(port):
            if bot.poll() is not None:
                err = bot.stderr.read() if bot.stderr else ""
                raise AssertionError(f"bot exited {bot.returncode} before serving its webhook: {err[-3000:]}")
            assert time.monotonic() < deadline, f"no webhook on port {port} within {deadline_s} s"
            await asyncio.sleep(0.1)


async def post_checkouts(ports: list[int], sessions: int) -> list[int]:
    """Each checkout delivered to every process at once, as a retrying Stripe could (every webhook is up)."""
    async with aiohttp.ClientSession() as http:

        async def post(port: int, n: int) -> int:
            obj = completed_session(
                f"cs_test_takeover_{n}",
                {"platform": "console", "user_id": "you", "pack_id": "100", "tokens": "100"},
                99,
            )
            payload = event_json("checkout.session.completed", obj)
            async with http.post(
                f"http://127.0.0.1:{port}/stripe/webhook",
                data=payload.encode(),
                headers={"Stripe-Signature": sign(payload, SECRET)},
            ) as response:
                return response.status

        return await asyncio.gather(*(post(port, n) for n in range(sessions) for port in ports))


async def test_three_processes_one_killed_mid_order(tmp_path: Path, db_target: str | Path) -> None:
    settings = small_settings(tmp_path, vault_key=KEY, **store_overrides(db_target))
    async with create_app(settings) as app:  # the store exists, with tokens to spend
        await app.service.grant(YOU, 300)
    ports = [free_port() for _ in range(3)]
    bots = [start_bot(db_target, port) for port in ports]
    try:
        doomed, *peers = bots
        assert doomed.stdin is not None
        doomed.stdin.write("/order ^abcd eth\n")
        doomed.stdin.flush()
        for peer in peers:
            assert peer.stdin is not None
            peer.stdin.write(
                "/pull ab --anyway\n" * 6 + "/grant you 5\n" + "/gift bob 3\n" * 3 + "/pull cd 10 --anyway\n"
            )
            peer.stdin.close()  # the console ends; the webhook keeps the process serving
        await serving(bots, ports)
        statuses = await post_checkouts(ports, sessions=8)
        assert statuses == [200] * 24

        async with create_app(settings, resume_jobs=False) as app:

            async def running_order():
                return await app.db.fetchone(
                    "SELECT job_id, owner FROM jobs WHERE kind = 'order' AND status = 'running'"
                )

            order = await wait_until(running_order, 60, "the order reaching 'running'")
            assert order["owner"].split(":")[1] == str(doomed.pid)
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=10)
            killed_at = time.time()
            at_death = await app.db.fetchone("SELECT status FROM jobs WHERE job_id = ?", (order["job_id"],))
            assert at_death["status"] == "running", (
                "the order finished before its process was killed: nothing to take over"
            )

            async def taken_over():
                row = await app.db.fetchone("SELECT owner, status FROM jobs WHERE job_id = ?", (order["job_id"],))
                if row["status"] in ("found", "delivered", "refunded"):
                    return row
                if row["owner"] and row["owner"].split(":")[1] != str(doomed.pid):
                    return row
                return None

            # The lease, plus a third of it for the sweep to come round, plus slack for a busy 2-core machine.
            await wait_until(taken_over, LEASE_S * 4 / 3 + 20, "a live peer taking over the dead process's order")

            async def settled():
                rows = await app.db.fetchall("SELECT status FROM jobs")
                return rows and all(r["status"] in ("delivered", "refunded", "found") for r in rows)

            await wait_until(settled, 120, "every job settling")
            later = await app.db.fetchall(
                "SELECT status FROM job_steps WHERE job_id = ? AND at > ?", (order["job_id"], killed_at)
            )
            assert {s["status"] for s in later} & {"found", "failed"}, "no live process finished the dead one's order"
            for peer in peers:
                peer.send_signal(signal.SIGTERM)
            for peer in peers:
                peer.wait(timeout=30)
                assert peer.returncode == 0, peer.stderr.read() if peer.stderr else ""

            assert await app.ledger.audit() == []
            jobs = await app.db.fetchall("SELECT job_id, status, kind, price FROM jobs")
            assert len(jobs) >= 3 and any(j["kind"] == "order" for j in jobs)
            for job in jobs:
                rows = await app.db.fetchall("SELECT kind, tokens FROM ledger WHERE job_id = ?", (job["job_id"],))
                charges = [r for r in rows if r["kind"] in ("pull", "order")]
                refunds = [r for r in rows if r["kind"] == "refund"]
                assert len(charges) == 1, (job["job_id"], rows)
                assert len(refunds) == (1 if job["status"] == "refunded" else 0), (job["job_id"], rows)
                steps = await app.db.fetchall("SELECT status FROM job_steps WHERE job_id = ?", (job["job_id"],))
                for once in ("accepted", "found", "delivered", "failed", "refunded"):
                    assert [s["status"] for s in steps].count(once) <= 1, (job["job_id"], steps)
            purchases = await app.db.fetchall(
                "SELECT idempotency_key, tokens FROM ledger WHERE kind = 'payment_purchase'"
            )
            assert sorted(p["idempotency_key"] for p in purchases) == [
                f"stripe:checkout:cs_test_takeover_{n}" for n in range(8)
            ]
            assert all(p["tokens"] == 100 for p in purchases)
            gifts = await app.db.fetchall("SELECT kind, tokens FROM ledger WHERE user_id = 'bob'")
            assert [g["kind"] for g in gifts] == ["gift_received"] * 6 and sum(g["tokens"] for g in gifts) == 18
            assert (await app.ledger.account(UserRef("console", "bob"))).balance == 18
    finally:
        for proc in bots:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


# An order no grinder here finishes during a test (16^7 keys expected), cheap enough at this price.
LONG_ORDER = "/order ^abcdef0 eth\n"
CHEAP_KEYS = {"VANIKEYS_KEYS_PER_TOKEN": "1e7"}


def pid_of(owner: str | None) -> int | None:
    return int(owner.split(":")[1]) if owner else None


async def started_order(db: Database, bot: WarmProcess) -> str:
    """The job id of the long order `bot` was asked for, once it is running and owned by `bot`."""
    assert bot.stdin is not None
    bot.stdin.write(LONG_ORDER)
    bot.stdin.flush()

    async def running():
        row = await db.fetchone("SELECT job_id, owner FROM jobs WHERE kind = 'order' AND status = 'running'")
        return row if row and pid_of(row["owner"]) == bot.pid else None

    return (await wait_until(running, 90, "the order reaching 'running'"))["job_id"]


def tree(proc: WarmProcess) -> list[psutil.Process]:
    top = psutil.Process(proc.pid)
    return [top, *top.children(recursive=True)]


def cpu_seconds(proc: WarmProcess) -> dict[int, float]:
    """CPU time so far of a bot and its grinding workers, by pid."""
    used: dict[int, float] = {}
    for p in tree(proc):
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        used[p.pid] = times.user + times.system
    return used


async def goes_quiet(proc: WarmProcess, within_s: float, window_s: float = 2.0) -> bool:
    """Whether the bot and its workers use next to no CPU for one window before `within_s` is up.
    A grind step already running when the process resumed is let finish: its engine does not stop mid-step."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        before = cpu_seconds(proc)
        await asyncio.sleep(window_s)
        after = cpu_seconds(proc)
        if sum(t - before.get(pid, 0.0) for pid, t in after.items()) < 0.05:
            return True
    return False


def stop_all(bots: list[WarmProcess]) -> list[str]:
    """SIGTERM (SIGKILL after 30 s) every bot; their stderr."""
    for bot in bots:
        if bot.poll() is None:
            bot.send_signal(signal.SIGTERM)
    errors = []
    for bot in bots:
        if bot.stdin is not None:
            bot.stdin.close()
            bot.stdin = None  # communicate() would flush it
        try:
            _, err = bot.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            bot.kill()
            _, err = bot.communicate()
        errors.append(err or "")
    return errors


async def test_a_process_whose_clock_runs_behind_keeps_its_jobs(tmp_path: Path, db_target: str | Path) -> None:
    settings = small_settings(tmp_path, vault_key=KEY, **store_overrides(db_target))
    async with create_app(settings) as app:
        await app.service.grant(YOU, 300)
    behind = LEASE_S * 60  # two minutes: every lease it wrote on its own clock had run out for its peer
    slow = start_bot(db_target, free_port(), clock_behind_s=behind, **CHEAP_KEYS)
    peer = start_bot(db_target, free_port(), **CHEAP_KEYS)
    try:
        assert peer.stdin is not None
        peer.stdin.close()  # the peer only sweeps, ready to take over what looks abandoned
        db = await open_database(db_target)
        try:
            job_id = await started_order(db, slow)
            owners = set()
            # Two leases, six of the peer's sweeps: a lease written on the slow clock has run out for the peer
            # already (two minutes ago), so its first sweep would take the order.
            watch_until = time.monotonic() + LEASE_S * 2
            while time.monotonic() < watch_until:
                row = await db.fetchone("SELECT owner, status FROM jobs WHERE job_id = ?", (job_id,))
                owners.add(pid_of(row["owner"]))
                await asyncio.sleep(0.1)
            assert owners == {slow.pid}, f"the order was taken from the live process whose clock runs behind: {owners}"
        finally:
            await db.close()
    finally:
        errors = stop_all([slow, peer])
    assert "taken over" not in errors[1], errors[1]


async def test_a_process_paused_longer_than_a_lease_stops_its_work_when_it_runs_again(
    tmp_path: Path, db_target: str | Path
) -> None:
    settings = small_settings(tmp_path, vault_key=KEY, **store_overrides(db_target))
    async with create_app(settings) as app:
        await app.service.grant(YOU, 300)
    # A longer lease than the other tests': on a loaded machine a 2 s lease can lapse between two sweeps of a
    # live process, and the peers would hand the order back and forth.
    lease_s = 4.0
    env = {**CHEAP_KEYS, "VANIKEYS_JOB_LEASE_S": str(lease_s)}
    paused = start_bot(db_target, free_port(), **env)
    peer = start_bot(db_target, free_port(), **env)
    try:
        assert peer.stdin is not None
        peer.stdin.close()
        db = await open_database(db_target)
        try:
            job_id = await started_order(db, paused)
            stopped = tree(paused)

            async def taken_over():
                row = await db.fetchone("SELECT owner FROM jobs WHERE job_id = ?", (job_id,))
                return pid_of(row["owner"]) == peer.pid

            # The whole process, grinding workers included, as a frozen VM or container. Frozen inside a SQLite
            # write transaction it holds the file's lock and every process waits (nobody grinds twice): then
            # let it run a moment and freeze it again.
            for _ in range(8):
                for proc in stopped:
                    proc.suspend()
                try:
                    await wait_until(taken_over, lease_s * 4 / 3 + 6, "the peer taking over the paused order")
                    break
                except AssertionError:
                    pass
                finally:
                    for proc in stopped:
                        proc.resume()
                await asyncio.sleep(0.3)
            assert await taken_over(), "the peer never took over the paused process's order"
            quiet = await goes_quiet(paused, 30.0, window_s=1.0)  # before the fix it ground on beside the peer for good
            row = await db.fetchone("SELECT owner, status FROM jobs WHERE job_id = ?", (job_id,))
            assert pid_of(row["owner"]) == peer.pid and row["status"] == "running"
        finally:
            await db.close()
    finally:
        errors = stop_all([paused, peer])
    assert quiet, "the resumed process kept grinding the order its peer had taken over"
    assert f"job {job_id}: lease lost to" in errors[0], errors[0][-3000:]
    assert "taken over" not in errors[0], errors[0][-3000:]  # the order stayed with the peer


async def test_losing_a_lease_ends_the_drive_and_cancels_the_local_provider_jobs(
    tmp_path: Path, db_target: str | Path
) -> None:
    """What the resumed process does, seen from inside: its drive of the order ends and its grinder runs nothing."""
    settings = small_settings(
        tmp_path, vault_key=KEY, keys_per_token=1e7, max_order_s=1e9, **store_overrides(db_target)
    )
    async with create_app(settings) as first, create_app(settings, resume_jobs=False) as second:
        await first.service.grant(YOU, 100)
        order = await first.service.order(YOU, None, "^abcdef0", "eth")
        job_id = order.order.order_id
        driving = first.jobs._tasks[job_id]

        async def grinding():
            return getattr(first.grinder, "_jobs", None)

        await wait_until(grinding, 30, "the first process grinding the order")
        async with second.db.transaction() as tx:  # the second took it over while the first was away
            await tx.execute(
                "UPDATE jobs SET owner = ?, lease_until = lease_until + 600 WHERE job_id = ?",
                (second.jobs.owner, job_id),
            )
        await first.jobs.sweep()
        record = await asyncio.wait_for(asyncio.shield(driving), 10)
        assert record.status == "running" and driving.done() and not driving.cancelled()
        assert first.grinder._jobs == {}  # type: ignore[attr-defined]
        row = await first.db.fetchone("SELECT owner FROM jobs WHERE job_id = ?", (job_id,))
        assert row["owner"] == second.jobs.owner
