"""A Telegram bot killed outright (SIGKILL) while a group's reveals wait behind its message limit: the restarted
bot posts them. Each bot is a real `vanikeys bot` process; the loopback fake Bot API runs in the test."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

from tests.postgres import free_port
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.harness import reveals_in
from tests.warm import WarmProcess, shared as shared_warm_interpreter

REPO = Path(__file__).resolve().parents[2]


def start_bot(fake: FakeBotApi, db: Path, group_per_minute: int) -> WarmProcess:
    """`vanikeys bot`, a process of its own forked from this worker's warm interpreter (tests/warm.py)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_"))
    }
    env.update(
        PYTHONPATH=str(REPO),
        VANIKEYS_DB=str(db),
        VANIKEYS_BACKEND="python",
        VANIKEYS_VAULT_KEY="47" * 32,
        VANIKEYS_PULL_BUDGET_CPU="8",
        VANIKEYS_CPU_KEYS_PER_S="2000",
        VANIKEYS_FREE_PULLS_PER_DAY="100",
        VANIKEYS_WEBHOOK_PORT=str(free_port()),
        VANIKEYS_JOB_LEASE_S="1",  # a killed process's claims lapse after this (60 s in production)
        TELEGRAM_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        TELEGRAM_API_FILE_URL=fake.base_file_url,
        TELEGRAM_COOLDOWN_S="0",
        TELEGRAM_GROUP_MESSAGES_PER_MINUTE=str(group_per_minute),
    )
    return shared_warm_interpreter().popen(
        "bot.cli", ["bot"], env=env, cwd=db.parent, stdin=None, stdout=subprocess.DEVNULL
    )


def kept_rows(db: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT line, claim FROM late_reveals").fetchall()


async def test_reveals_waiting_behind_the_group_limit_survive_a_sigkill(fake: FakeBotApi, tmp_path: Path) -> None:
    fake.group_limit, fake.group_window_s = 1, 120.0  # one group message per two minutes: the reveals must wait
    group = fake.group_chat()
    people = [fake.user(4700 + i, f"K{i}") for i in range(3)]
    db = tmp_path / "kill.db"
    first = start_bot(fake, db, group_per_minute=1)
    try:
        for person in people:
            await fake.push_text(fake.private_chat(person), person, "/start")
        await fake.push_text(group, people[0], "/help")  # takes the group's one message
        await fake.wait_for_message(group["id"], "/pull", timeout=60)
        for person in people:
            await fake.push_text(group, person, "/pull ^a")
        await fake.wait_for(
            lambda: all(any("WIF" in m.text for m in fake.messages_in(p["id"])) for p in people), timeout=60
        )  # every key went privately; the reveals wait for the group's next minute
        await fake.wait_for(lambda: len(kept_rows(db)) == len(people), timeout=30)
    finally:
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.communicate, None, 60)
    assert first.returncode == -signal.SIGKILL
    assert reveals_in(fake, group["id"]) == 0
    assert all(claim and claim.endswith(":waiting") for _, claim in kept_rows(db))  # held by the dead process
    assert not any("WIF" in line for line, _ in kept_rows(db))

    fake.group_limit = 20  # the group has room again
    second = start_bot(fake, db, group_per_minute=20)
    try:
        digest = await fake.wait_for_message(group["id"], "before the bot restarted", timeout=60)
        await fake.wait_for(lambda: kept_rows(db) == [], timeout=30)
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(second.communicate, None, 60)
    assert second.returncode == 0, err[-2000:]
    assert reveals_in(fake, group["id"]) == len(people)  # each once
    assert all(p["first_name"] in digest.text for p in people)
