"""Broken storage gives one line and an exit code at start, never a hang or a traceback; a fault under a
command answers that command with what committed (bot/committed.py), keeps the front end running, refunds
nothing twice, and the bot recovers once the storage is back. Operator commands answer a fault in one line."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.app import create_app
from bot.storage import StorageUnavailable
from tests.postgres import PostgresServer, free_port, require_postgres
from tests.warm import WarmInterpreter

from .conftest import ALICE, RecordingFrontEnd, small_settings
from .faults import GatedGrinder, fill, small_disk, small_disk_unavailable, without_file_privileges

REPO = Path(__file__).resolve().parents[2]
KEY = "5a" * 32


def bot_env(database: str | Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_"))}
    env.update(
        VANIKEYS_DB=str(database),
        VANIKEYS_BACKEND="python",
        VANIKEYS_PULL_BUDGET_CPU="60",
        VANIKEYS_PULL_PRICE="1",
        VANIKEYS_FREE_PULLS_PER_DAY="0",
        VANIKEYS_VAULT_KEY=KEY,
        **extra,
    )
    return env


def console_once(
    env: dict[str, str], lines: str = "/balance\n", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "console", "--user", "ann", "--json"],
        cwd=REPO,
        env=env,
        input=lines,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=without_file_privileges,
    )


def make_healthy_db(path: Path) -> None:
    done = console_once(bot_env(path))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("directory", "is a directory"),
        ("corrupt", "is corrupt"),
        ("unreadable", "cannot read the database"),
        ("read_only", "is read-only"),
    ],
)
def test_a_database_that_cannot_be_opened_exits_with_one_line(tmp_path: Path, fault: str, expected: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "vanikeys.db"
    if fault == "directory":
        db.mkdir()
    elif fault == "corrupt":
        db.write_bytes(os.urandom(8192))
    else:
        make_healthy_db(db)
        for leftover in folder.glob("vanikeys.db-*"):
            leftover.unlink()
        if fault == "unreadable":
            db.chmod(0)
        else:
            db.chmod(0o444)
            folder.chmod(0o555)
    try:
        started = time.monotonic()
        done = console_once(bot_env(db), timeout=30)  # a hang fails here
    finally:
        folder.chmod(0o755)
        if db.is_file():
            db.chmod(0o644)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("vanikeys: error:") and expected in line and str(db) in line
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 30


def test_postgres_unreachable_at_start_retries_for_a_bounded_time_then_exits(tmp_path: Path) -> None:
    url = f"postgresql://postgres:s3cret@127.0.0.1:{free_port()}/vanikeys"
    started = time.monotonic()
    done = console_once(bot_env(url, VANIKEYS_DB_CONNECT_TIMEOUT_S="1.5"), timeout=30)
    took = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "cannot reach PostgreSQL at" in line and "after 1.5 s" in line and "VANIKEYS_DB" in line
    assert took >= 1.5
    assert "s3cret" not in done.stderr


def test_postgres_that_comes_up_within_the_retry_window_is_used(tmp_path: Path) -> None:
    require_postgres()
    server = PostgresServer()
    try:
        starter = threading.Timer(1.0, server.start)  # the bot starts first and waits for it
        starter.start()
        done = console_once(
            bot_env(server.url("postgres"), VANIKEYS_DB_CONNECT_TIMEOUT_S="30"), "/grant ann 3\n/balance\n"
        )
        starter.join()
        assert done.returncode == 0, done.stderr
        balance = [json.loads(line) for line in done.stdout.splitlines()][-1]
        assert balance["type"] == "balance" and balance["data"]["tokens"] == 3
    finally:
        server.destroy()


async def test_a_full_disk_during_a_refund_answers_and_refunds_once_when_space_returns(tmp_path: Path) -> None:
    reason = small_disk_unavailable()
    if reason:
        pytest.skip(reason)
    with small_disk(8) as disk:
        grinder = GatedGrinder()
        settings = small_settings(tmp_path, db_path=disk / "vanikeys.db")
        async with create_app(settings, grinder=grinder) as app:
            app.service.register_frontend(RecordingFrontEnd())
            await app.service.grant(ALICE, 5)
            filler: list[Path] = []
            refund = app.jobs._refund

            async def refund_on_a_full_disk(record):
                if not filler:
                    filler.append(fill(disk))
                return await refund(record)

            app.jobs._refund = refund_on_a_full_disk  # type: ignore[method-assign]
            grinder.release.set()
            with pytest.raises(StorageUnavailable) as answered:
                await app.service.pull(ALICE, None, "ab", allow_easy=True)
            # charged, and the refund could not be written: said so, never "nothing was charged; try again"
            assert answered.value.committed == "charged"
            assert answered.value.message == (
                "your pull failed after it was charged (1 token): the refund is made "
                "by itself as soon as the bot's database is back"
            )
            with pytest.raises(StorageUnavailable) as granted:  # still full: the grant is answered too
                await app.service.grant(ALICE, 1)
            assert granted.value.committed == "nothing" and granted.value.message.startswith("nothing was granted")
            app.jobs._refund = refund  # type: ignore[method-assign]
            filler[0].unlink()
            await app.jobs.sweep()
            await app.jobs.wait_idle()
            await app.jobs.sweep()  # a second sweep finds nothing to do
            await app.jobs.wait_idle()
            assert (await app.service.balance(ALICE)).tokens == 5
            refunds = await app.db.fetchall("SELECT job_id FROM ledger WHERE kind = 'refund'")
            charges = await app.db.fetchall("SELECT job_id FROM ledger WHERE kind = 'pull'")
            assert len(refunds) == 1 and len(charges) == 1 and refunds[0]["job_id"] == charges[0]["job_id"]
            assert await app.ledger.audit() == []


def test_the_console_keeps_running_through_a_full_disk(tmp_path: Path) -> None:
    reason = small_disk_unavailable()
    if reason:
        pytest.skip(reason)
    with small_disk(8) as disk:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "console", "--user", "ann", "--json"],
            cwd=REPO,
            env=bot_env(disk / "vanikeys.db"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None

        def ask(line: str, until: tuple[str, ...]) -> dict:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            while True:
                reply = json.loads(proc.stdout.readline())
                if reply["type"] in until:
                    return reply

        try:
            assert ask("/grant ann 5", ("granted", "grant", "balance", "error"))["type"] != "error"
            assert ask("/pull ab --anyway", ("pull", "error"))["type"] == "pull"
            filler = fill(disk)
            refused = [ask("/pull ab --anyway", ("pull", "error")) for _ in range(3)]
            assert all(r["type"] == "error" and r["code"] == "storage_unavailable" for r in refused), refused
            filler.unlink()
            assert ask("/pull ab --anyway", ("pull", "error"))["type"] == "pull"
            balance = ask("/balance", ("balance", "error"))
            assert balance["type"] == "balance" and balance["data"]["tokens"] == 3
        finally:
            proc.stdin.close()
            proc.wait(timeout=30)
        assert proc.returncode == 0
        assert "Traceback" not in proc.stderr.read()


async def test_postgres_lost_mid_run_answers_then_recovers_refunding_once(tmp_path: Path) -> None:
    require_postgres()
    server = PostgresServer().start()
    try:
        grinder = GatedGrinder()
        settings = small_settings(tmp_path, db_url=server.url("postgres"))
        async with create_app(settings, grinder=grinder) as app:
            app.service.register_frontend(RecordingFrontEnd())
            await app.service.grant(ALICE, 5)
            pulling = asyncio.create_task(app.service.pull(ALICE, None, "ab", allow_easy=True))
            await grinder.waiting.wait()  # charged, grinding
            await asyncio.to_thread(server.stop)  # the server goes away mid-job
            grinder.release.set()  # the grind fails: its refund cannot be written
            with pytest.raises(StorageUnavailable) as answered:
                await pulling
            assert answered.value.committed == "charged" and "charged (1 token)" in answered.value.message
            with pytest.raises(StorageUnavailable):
                await app.service.balance(ALICE)
            await asyncio.to_thread(server.start)
            await app.jobs.sweep()  # what the maintenance loop does every third of a lease
            await app.jobs.wait_idle()
            await app.jobs.sweep()
            await app.jobs.wait_idle()
            assert (await app.service.balance(ALICE)).tokens == 5
            rows = await app.db.fetchall("SELECT kind FROM ledger WHERE job_id IS NOT NULL ORDER BY id")
            assert [r["kind"] for r in rows] == ["pull", "refund"]
            assert await app.ledger.audit() == []
            app.jobs.grinder = grinder
            grinder.release.clear()
    finally:
        server.destroy()


def _fake_backup(where: Path, source: str) -> Path:
    """A backup directory that authenticates under KEY: restore gets as far as looking at its target."""
    from dataclasses import asdict, replace

    from bot.backup import FINGERPRINT_FILE, MANIFEST_FILE, PG_FILE, SQLITE_FILE, Manifest, backup_mac
    from bot.vault import fingerprint

    where.mkdir()
    data = where / (PG_FILE if source == "postgresql" else SQLITE_FILE)
    data.write_bytes(b"not read: the target is checked first")
    key = bytes.fromhex(KEY)
    manifest = Manifest(
        created_at=time.time(),
        source=source,
        file=data.name,
        sha256=hashlib.sha256(data.read_bytes()).hexdigest(),
        vault_key_fingerprint=fingerprint(key),
        schema_version=None,
        rows={},
        sealed_secrets=0,
    )
    manifest = replace(manifest, hmac=backup_mac(manifest, data, key))
    (where / MANIFEST_FILE).write_text(json.dumps(asdict(manifest)))
    (where / FINGERPRINT_FILE).write_text(manifest.vault_key_fingerprint + "\n")
    return where


OPERATOR_COMMANDS = {
    "admin": lambda tmp: ["admin", "user", "test:alice"],
    "backup": lambda tmp: ["backup", str(tmp / "backup")],
    "restore": lambda tmp: ["restore", str(_fake_backup(tmp / "pg-backup", "postgresql"))],
    "costs": lambda tmp: ["costs"],
    "vault": lambda tmp: ["vault", "rotate", "--old", KEY, "--new", str(tmp / "new.key")],
}


@pytest.mark.parametrize("fault", ["unreachable", "missing_database", "bad_role", "corrupt_sqlite"])
def test_operator_commands_answer_a_storage_fault_in_one_line_exit_2_within_the_timeout(
    tmp_path: Path, fault: str, request: pytest.FixtureRequest, warm_python: WarmInterpreter
) -> None:
    if fault == "unreachable":
        database = f"postgresql://postgres:s3cret@127.0.0.1:{free_port()}/vanikeys"
    elif fault == "corrupt_sqlite":
        database = str(tmp_path / "vanikeys.db")
        Path(database).write_bytes(os.urandom(8192))
    else:
        require_postgres()
        server: PostgresServer = request.getfixturevalue("postgres_server")
        database = (
            server.url("no_such_database")
            if fault == "missing_database"
            else f"postgresql://no_such_role:s3cret@127.0.0.1:{server.port}/postgres"
        )
    env = bot_env(database, VANIKEYS_DB_CONNECT_TIMEOUT_S="0.5")
    for name, argv in OPERATOR_COMMANDS.items():
        if fault == "corrupt_sqlite" and name == "restore":
            argv = lambda tmp: ["restore", str(_fake_backup(tmp / "sqlite-backup", "sqlite")), "--db", database]  # noqa: E731
        started = time.monotonic()
        done = warm_python.run("bot.cli", argv(tmp_path), cwd=REPO, env=env, timeout=60)
        took = time.monotonic() - started
        assert done.returncode == 2, (name, done.stderr)
        assert done.stdout == "" and "Traceback" not in done.stderr, (name, done.stderr)
        [line] = done.stderr.strip().splitlines()
        assert line.startswith("vanikeys: error:") and "s3cret" not in line, (name, line)
        assert took < 15, (name, took)  # 0.5 s of retrying plus a start, never the old fixed 30 s
        if fault == "unreachable":
            assert "cannot reach PostgreSQL" in line or "cannot use PostgreSQL" in line, (name, line)
        elif fault == "corrupt_sqlite" and name != "restore":
            assert "is corrupt" in line or "not a database" in line, (name, line)
