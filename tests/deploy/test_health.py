"""The bot's container health: the heartbeat it writes, and what `python -m bot.health` makes of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.app import create_app
from bot.health import STALE_AFTER_S, check, heartbeat_file
from bot.storage import StorageUnavailable
from tests.bot.conftest import small_settings

ROOT = Path(__file__).resolve().parents[2]


async def test_a_running_bot_writes_a_fresh_heartbeat_and_removes_it_when_it_stops(tmp_path: Path) -> None:
    settings = small_settings(tmp_path, telegram_token="123:x")
    path = heartbeat_file(settings.database)
    async with create_app(settings) as app:
        for _ in range(100):
            if path.exists():
                break
            await app.health.write()
        beat = json.loads(path.read_text())
        assert beat["storage"]["ok"] and beat["frontends"] == {
            "telegram": {"ok": False, "detail": "configured but not started"}
        }
        assert check(path) == ["telegram not connected: configured but not started"]
        app.health.watch("telegram", lambda: (True, "long polling"))
        await app.health.write()
        assert check(path) == []
    assert not path.exists()
    assert check(path)[0].startswith("no heartbeat")


async def test_storage_that_stops_answering_is_unhealthy(tmp_path: Path) -> None:
    settings = small_settings(tmp_path)
    async with create_app(settings, resume_jobs=False) as app:
        real = app.db

        async def gone(*_: object) -> None:
            raise StorageUnavailable("database is locked")

        app.db.fetchone = gone  # type: ignore[method-assign]  # the storage stops answering under the running bot
        snapshot = await app.health.snapshot()
        assert not snapshot["storage"]["ok"]  # type: ignore[index]
        await app.health.write()
        [problem] = check(app.health.path)
        assert problem.startswith("storage unreachable") and "database is locked" in problem
        app.health.path.unlink()
        del real.fetchone


def test_a_stale_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    path = tmp_path / "beat.json"
    path.write_text(
        json.dumps({"at": time.time() - STALE_AFTER_S - 5, "storage": {"ok": True, "detail": ""}, "frontends": {}})
    )
    [problem] = check(path)
    assert "old" in problem and "stuck" in problem


def test_the_healthcheck_command_reads_the_heartbeat_of_its_own_database(tmp_path: Path) -> None:
    settings = small_settings(tmp_path)
    path = heartbeat_file(settings.database)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VANIKEYS_", "STRIPE_", "DISCORD_", "TELEGRAM_"))}
    env.update(PYTHONPATH=str(ROOT), VANIKEYS_DB=str(settings.database))
    path.write_text(
        json.dumps(
            {
                "at": time.time(),
                "storage": {"ok": True, "detail": "x"},
                "frontends": {"discord": {"ok": True, "detail": "1 shard(s)"}},
            }
        )
    )
    try:
        healthy = subprocess.run(
            [sys.executable, "-m", "bot.health"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        path.write_text(
            json.dumps(
                {
                    "at": time.time(),
                    "storage": {"ok": True, "detail": "x"},
                    "frontends": {"discord": {"ok": False, "detail": "stopped"}},
                }
            )
        )
        unhealthy = subprocess.run(
            [sys.executable, "-m", "bot.health"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert unhealthy.returncode == 1 and unhealthy.stdout.strip() == "unhealthy: discord not connected: stopped"
    finally:
        path.unlink(missing_ok=True)


@pytest.mark.parametrize("database", ["a.db", "b.db"])
def test_two_bots_on_one_host_have_their_own_heartbeat(database: str, tmp_path: Path) -> None:
    assert heartbeat_file(tmp_path / "a.db") != heartbeat_file(tmp_path / "b.db")


async def test_a_stop_that_lands_as_the_heartbeat_query_answers_is_not_lost(tmp_path: Path) -> None:
    """The bot is stopped in the same moment its heartbeat's storage query answers (a front end refused at start,
    right after the first beat began). The stop must win: on Python 3.11 asyncio.wait_for returned the answer and
    dropped the cancel, the heartbeat slept on, and the bot's shutdown waited on it for good."""
    import asyncio

    from bot.health import Health

    class Storage:
        description = "stand-in"

        def __init__(self) -> None:
            self.answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.asked = asyncio.Event()

        async def fetchone(self, sql: str) -> None:
            self.asked.set()
            return await self.answer

    storage = Storage()
    health = Health(storage, tmp_path / "beat.json")  # type: ignore[arg-type]
    beating = asyncio.create_task(health.beat_forever())
    await storage.asked.wait()
    await asyncio.sleep(0)  # the query's own task is now waiting on the answer
    storage.answer.set_result(None)
    beating.cancel()
    done, _ = await asyncio.wait({beating}, timeout=3)
    assert done, "the heartbeat ignored the stop"
