"""A bot killed right after each job step, then restarted: no double charge, no double delivery,
no lost key, exactly one refund per failure. The crash is a real process exit (os._exit) at the
fault point (bot/faults.py) named by VANIKEYS_CRASH_AT, after that step's transaction commits.

Each `vanikeys console` is a process of its own, forked from a warm interpreter that has the code
imported already (tests/warm.py): what dies at the crash and what starts after it are separate
processes, as in production, without a second of imports per start. The two processes restarting
at once are fresh interpreters, started exactly as the `vanikeys` command starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import coincurve
import pytest

from bot.answers import UserRef
from bot.app import create_app
from bot.faults import CRASH_EXIT_CODE
from gpu_worker.formats import get_format, parse_secret_hex
from tests.postgres import PostgresServer
from tests.warm import WarmInterpreter

from .conftest import small_settings
from .faults import crash_at as fault_at
from .test_service import btc_address_from_wif

REPO = Path(__file__).resolve().parents[2]
VAULT_KEY = "22" * 32
DAVE = UserRef("console", "dave")
STEPS = ["accepted", "submitted", "running", "grinding", "found", "delivering", "delivered"]


def run_console(
    warm: WarmInterpreter,
    tmp_path: Path,
    lines: list[str],
    crash_at: str | None = None,
    extra: dict[str, str] | None = None,
    target: str | None = None,
) -> tuple[int, list[dict]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_"))}
    env.update(
        VANIKEYS_DB=target or str(tmp_path / "crash.db"),
        VANIKEYS_BACKEND="python",
        VANIKEYS_PULL_BUDGET_CPU="60",
        VANIKEYS_PULL_PRICE="1",
        VANIKEYS_FREE_PULLS_PER_DAY="0",
        VANIKEYS_VAULT_KEY=VAULT_KEY,
        VANIKEYS_KEYS_PER_TOKEN="10",
        VANIKEYS_ORDER_PREMIUM="1",
        VANIKEYS_CPU_KEYS_PER_S="20000",
        VANIKEYS_MAX_ORDER_S="3600",
    )
    env.update(extra or {})
    if crash_at:
        env.update(fault_at(f"job.{crash_at}"))
    proc = warm.run(
        "bot.cli",
        ["console", "--user", "dave", "--json"],
        cwd=REPO,
        env=env,
        input="".join(line + "\n" for line in lines),
        timeout=120,
    )
    replies = [json.loads(line) for line in proc.stdout.splitlines()]
    # A console that ends otherwise than expected says why (its log and answers): one did exit 0 instead of
    # crashing, once, under load, and nothing showed what it had done.
    expected = CRASH_EXIT_CODE if crash_at else 0
    assert proc.returncode == expected, f"exit {proc.returncode}, not {expected}: {replies}\n{proc.stderr[-3000:]}"
    return proc.returncode, replies


def store_of(tmp_path: Path, target: str | None) -> dict[str, object]:
    return {"db_url": target} if target else {"db_path": tmp_path / "crash.db"}


async def check_invariants(
    tmp_path: Path, replies: list[dict], *, paid: int, refunded: bool, target: str | None = None
) -> None:
    async with create_app(
        small_settings(tmp_path, vault_key=VAULT_KEY, **store_of(tmp_path, target)), resume_jobs=False
    ) as app:
        [job] = await app.db.fetchall("SELECT job_id, status, kind, format FROM jobs")
        rows = await app.db.fetchall("SELECT kind, tokens FROM ledger WHERE job_id = ?", (job["job_id"],))
        kinds = sorted(r["kind"] for r in rows)
        balance = (await app.service.balance(DAVE)).tokens
        assert await app.ledger.audit() == []
        deliveries = [r for r in replies if r["type"] == "private_delivery"]
        if refunded:
            assert job["status"] == "refunded"
            assert kinds == sorted([job["kind"], "refund"]) and balance == 100
            assert deliveries == []
            return
        assert job["status"] == "delivered", job["status"]
        assert kinds == [job["kind"]] and balance == 100 - paid
        [delivery] = deliveries  # exactly once, across the crash and the restart
        data = delivery["data"]
        assert delivery["private"] is True and data["job_id"] == job["job_id"]
        fmt = get_format(job["format"])
        for item in data["secrets"]:  # the key was not lost: its secret still derives its identifier
            if fmt.id == "btc":
                assert btc_address_from_wif(item["value"]) == item["identifier"]
            else:
                secret = parse_secret_hex(item["value"])
                assert fmt.identifier(coincurve.PrivateKey(secret.to_bytes(32, "big")).public_key) == item["identifier"]


@pytest.mark.parametrize("step", STEPS)
async def test_pull_survives_a_crash_after(step: str, tmp_path: Path, warm_python: WarmInterpreter) -> None:
    # progress (the "grinding" checkpoint) is reported between steps: give that case a few steps of keys
    budget = {"VANIKEYS_PULL_BUDGET_CPU": "20000"} if step == "grinding" else None
    code, first = run_console(
        warm_python, tmp_path, ["/grant dave 100", "/pull ab --anyway"], crash_at=step, extra=budget
    )
    assert code == CRASH_EXIT_CODE
    assert not any(r["type"] == "pull" for r in first)  # the crash came before the reply
    code, second = run_console(warm_python, tmp_path, ["/keys", "/balance"])
    assert code == 0
    await check_invariants(tmp_path, first + second, paid=1, refunded=False)


@pytest.mark.parametrize("step", ["accepted", "running", "grinding", "found", "delivering", "delivered"])
async def test_order_survives_a_crash_after(step: str, tmp_path: Path, warm_python: WarmInterpreter) -> None:
    code, first = run_console(warm_python, tmp_path, ["/grant dave 100", "/order ^a eth"], crash_at=step)
    assert code == CRASH_EXIT_CODE
    code, second = run_console(warm_python, tmp_path, ["/keys"])
    assert code == 0
    order = [r for r in first if r["type"] == "order"]
    price = order[0]["data"]["order"]["price"] if order else None
    async with create_app(
        small_settings(tmp_path, db_path=tmp_path / "crash.db", vault_key=VAULT_KEY), resume_jobs=False
    ) as app:
        row = await app.db.fetchone("SELECT price FROM jobs")
    assert price in (None, row["price"])
    await check_invariants(tmp_path, first + second, paid=row["price"], refunded=False)


@pytest.mark.parametrize("step", ["failed", "refunded"])
async def test_a_failed_order_is_refunded_exactly_once_across_a_crash_after(
    step: str, tmp_path: Path, warm_python: WarmInterpreter
) -> None:
    give_up = {"VANIKEYS_ORDER_ATTEMPT_FACTOR": "0.000000001", "VANIKEYS_KEYS_PER_TOKEN": "1000"}
    code, first = run_console(
        warm_python, tmp_path, ["/grant dave 100", "/order ^abc eth"], crash_at=step, extra=give_up
    )
    assert code == CRASH_EXIT_CODE
    code, second = run_console(warm_python, tmp_path, ["/balance"], extra=give_up)
    assert code == 0
    code, third = run_console(warm_python, tmp_path, ["/balance"], extra=give_up)  # and a third start changes nothing
    await check_invariants(tmp_path, first + second + third, paid=0, refunded=True)
    finished = [r for r in second + third if r["type"] == "order_finished"]
    assert [f["data"]["status"] for f in finished] in ([], ["refunded"])


async def test_two_processes_restarting_at_once_deliver_once(tmp_path: Path, warm_python: WarmInterpreter) -> None:
    code, first = run_console(warm_python, tmp_path, ["/grant dave 100", "/pull ab --anyway"], crash_at="found")
    assert code == CRASH_EXIT_CODE
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_"))}
    env.update(
        VANIKEYS_DB=str(tmp_path / "crash.db"),
        VANIKEYS_BACKEND="python",
        VANIKEYS_VAULT_KEY=VAULT_KEY,
        VANIKEYS_FREE_PULLS_PER_DAY="0",
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "console", "--user", "dave", "--json"],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate("/keys\n/keys\n", timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    replies = [json.loads(line) for out, _ in outputs for line in out.splitlines()]
    await check_invariants(tmp_path, first + replies, paid=1, refunded=False)


@pytest.mark.parametrize("step", ["grinding", "delivering"])
async def test_pull_survives_a_crash_on_postgres(
    step: str, tmp_path: Path, postgres_server: PostgresServer, warm_python: WarmInterpreter
) -> None:
    target = await postgres_server.fresh_database()
    budget = {"VANIKEYS_PULL_BUDGET_CPU": "20000"} if step == "grinding" else None
    code, first = run_console(
        warm_python, tmp_path, ["/grant dave 100", "/pull ab --anyway"], crash_at=step, extra=budget, target=target
    )
    assert code == CRASH_EXIT_CODE
    code, second = run_console(warm_python, tmp_path, ["/keys", "/balance"], target=target)
    assert code == 0
    await check_invariants(tmp_path, first + second, paid=1, refunded=False, target=target)


async def test_a_failed_order_is_refunded_once_across_a_crash_on_postgres(
    tmp_path: Path, postgres_server: PostgresServer, warm_python: WarmInterpreter
) -> None:
    target = await postgres_server.fresh_database()
    give_up = {"VANIKEYS_ORDER_ATTEMPT_FACTOR": "0.000000001", "VANIKEYS_KEYS_PER_TOKEN": "1000"}
    code, first = run_console(
        warm_python, tmp_path, ["/grant dave 100", "/order ^abc eth"], crash_at="failed", extra=give_up, target=target
    )
    assert code == CRASH_EXIT_CODE
    code, second = run_console(warm_python, tmp_path, ["/balance"], extra=give_up, target=target)
    code, third = run_console(warm_python, tmp_path, ["/balance"], extra=give_up, target=target)
    await check_invariants(tmp_path, first + second + third, paid=0, refunded=True, target=target)
