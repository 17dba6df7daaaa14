"""Three bot processes on one store, driven at once: grants, gifts, pulls, an order, and Stripe webhooks at all three.
One is killed (SIGKILL) mid-order; a live peer takes its order over within the lease time plus a sweep, with
no restart. Afterwards every balance equals its ledger, every job was charged once and settled once, and
every checkout was credited once however many processes received it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.answers import UserRef
from bot.app import create_app
from tests.payments.stripe_events import completed_session, event_json, sign
from tests.payments.stripe_thread import stripe_in_thread
from tests.postgres import free_port

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
    env.update(VANIKEYS_DB=str(target), VANIKEYS_VAULT_KEY=KEY, VANIKEYS_BACKEND="python",
               VANIKEYS_PULL_BUDGET_CPU="60", VANIKEYS_PULL_PRICE="1", VANIKEYS_FREE_PULLS_PER_DAY="0",
               VANIKEYS_KEYS_PER_TOKEN="10000", VANIKEYS_ORDER_PREMIUM="1", VANIKEYS_CPU_KEYS_PER_S="20000",
               VANIKEYS_ORDER_ATTEMPT_FACTOR="1", VANIKEYS_JOB_LEASE_S=str(LEASE_S),
               STRIPE_API_KEY="sk_test_takeover", STRIPE_WEBHOOK_SECRET=SECRET,
               STRIPE_API_BASE=STRIPE["url"], VANIKEYS_WEBHOOK_HOST="127.0.0.1",
               VANIKEYS_WEBHOOK_PORT=str(port))
    return env


def start_bot(target: str | Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "bot"], cwd=REPO, env=bot_env(target, port),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def wait_until(check, deadline_s: float, what: str):  # noqa: ANN001, ANN201
    """Poll `check` (async, returning a truthy value when done) until it answers, or fail saying what never came."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {deadline_s} s")


async def post_checkouts(ports: list[int], sessions: int) -> list[int]:
    """Each checkout delivered to every process at once, as a retrying Stripe could."""
    async with aiohttp.ClientSession() as http:
        async def post(port: int, n: int) -> int:
            obj = completed_session(f"cs_test_takeover_{n}", {"platform": "console", "user_id": "you",
                                                               "pack_id": "100", "tokens": "100"}, 99)
            payload = event_json("checkout.session.completed", obj)
            for _ in range(100):  # the server may still be starting
                try:
                    async with http.post(f"http://127.0.0.1:{port}/stripe/webhook", data=payload.encode(),
                                         headers={"Stripe-Signature": sign(payload, SECRET)}) as response:
                        return response.status
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            return 0

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
            peer.stdin.write("/pull ab --anyway\n" * 6 + "/grant you 5\n" + "/gift bob 3\n" * 3
                             + "/pull cd 10 --anyway\n")
            peer.stdin.close()  # the console ends; the webhook keeps the process serving
        statuses = await post_checkouts(ports, sessions=8)
        assert statuses == [200] * 24

        async with create_app(settings, resume_jobs=False) as app:
            async def running_order():  # noqa: ANN202
                return await app.db.fetchone("SELECT job_id, owner FROM jobs WHERE kind = 'order' AND status = 'running'")

            order = await wait_until(running_order, 60, "the order reaching 'running'")
            assert order["owner"].split(":")[1] == str(doomed.pid)
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=10)
            killed_at = time.time()
            at_death = await app.db.fetchone("SELECT status FROM jobs WHERE job_id = ?", (order["job_id"],))
            assert at_death["status"] == "running", "the order finished before its process was killed: nothing to take over"

            async def taken_over():  # noqa: ANN202
                row = await app.db.fetchone("SELECT owner, status FROM jobs WHERE job_id = ?", (order["job_id"],))
                if row["status"] in ("found", "delivered", "refunded"):
                    return row
                if row["owner"] and row["owner"].split(":")[1] != str(doomed.pid):
                    return row
                return None

            # The lease, plus a third of it for the sweep to come round, plus slack for a busy 2-core machine.
            await wait_until(taken_over, LEASE_S * 4 / 3 + 20, "a live peer taking over the dead process's order")

            async def settled():  # noqa: ANN202
                rows = await app.db.fetchall("SELECT status FROM jobs")
                return rows and all(r["status"] in ("delivered", "refunded", "found") for r in rows)

            await wait_until(settled, 120, "every job settling")
            later = await app.db.fetchall("SELECT status FROM job_steps WHERE job_id = ? AND at > ?",
                                          (order["job_id"], killed_at))
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
            purchases = await app.db.fetchall("SELECT idempotency_key, tokens FROM ledger WHERE kind = 'payment_purchase'")
            assert sorted(p["idempotency_key"] for p in purchases) == [f"stripe:checkout:cs_test_takeover_{n}"
                                                                       for n in range(8)]
            assert all(p["tokens"] == 100 for p in purchases)
            gifts = await app.db.fetchall("SELECT kind, tokens FROM ledger WHERE user_id = 'bob'")
            assert [g["kind"] for g in gifts] == ["gift_received"] * 6 and sum(g["tokens"] for g in gifts) == 18
            assert (await app.ledger.account(UserRef("console", "bob"))).balance == 18
    finally:
        for proc in bots:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
