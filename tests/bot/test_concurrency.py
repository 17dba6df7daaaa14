"""200 pulls at once against a balance for 50: exactly 50 go through, in one process and across three."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from bot.answers import PullAnswer, ServiceError, UserRef
from bot.app import App, create_app
from bot.config import Settings
from tests.warm import WarmProcess, shared

from .conftest import ALICE, RecordingFrontEnd, small_settings, store_overrides

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(store_settings: Settings) -> Settings:
    return store_settings


async def test_two_hundred_concurrent_pulls_against_fifty_tokens(app: App, frontend: RecordingFrontEnd) -> None:
    await app.service.grant(ALICE, 50)
    outcomes = await asyncio.gather(
        *(app.service.pull(ALICE, None, "a", allow_easy=True) for _ in range(200)), return_exceptions=True
    )
    pulled = [o for o in outcomes if isinstance(o, PullAnswer)]
    refused = [o for o in outcomes if isinstance(o, ServiceError)]
    assert len(pulled) == 50 and len(refused) == 150
    assert {r.code for r in refused} == {"insufficient_tokens"}
    assert all("your balance is" in r.message and "/topup" in r.message for r in refused)
    assert (await app.service.balance(ALICE)).tokens == 0
    assert len(frontend.deliveries) == 50 and len({d.job_id for _, d in frontend.deliveries}) == 50
    assert await app.ledger.audit() == []
    spent = await app.db.fetchone("SELECT -SUM(tokens) AS s FROM ledger WHERE kind = 'pull'")
    assert spent["s"] == 50


def console(db_env: dict[str, str], user: str, lines: list[str]) -> WarmProcess:
    """A `vanikeys console --json` process (a fork of the warm interpreter) reading `lines` from a file."""
    script = Path(db_env["TEST_INPUT_DIR"]) / f"input-{user}-{os.urandom(4).hex()}.txt"
    script.write_text("".join(line + "\n" for line in lines))
    with script.open() as stdin:
        return shared().popen("bot.cli", ["console", "--user", user, "--json"], env=db_env, cwd=REPO, stdin=stdin)


def env_for(tmp_path: Path, target: str | Path | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_"))
    }
    env.update(
        TEST_INPUT_DIR=str(tmp_path),
        VANIKEYS_DB=str(target or tmp_path / "shared.db"),
        VANIKEYS_BACKEND="python",
        VANIKEYS_PULL_BUDGET_CPU="60",
        VANIKEYS_PULL_PRICE="1",
        VANIKEYS_FREE_PULLS_PER_DAY="0",
        VANIKEYS_VAULT_KEY="11" * 32,
    )
    return env


async def test_three_console_processes_share_one_balance(tmp_path: Path, db_target: str | Path) -> None:
    env = env_for(tmp_path, db_target)
    granted = console(env, "admin", ["/grant carol 20"])
    assert granted.wait(timeout=60) == 0
    procs = [console(env, "carol", ["/pull a --anyway"] * 12) for _ in range(3)]
    replies = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        replies += [json.loads(line) for line in out.splitlines()]
    pulls = [r for r in replies if r["type"] == "pull"]
    errors = [r for r in replies if r["type"] == "error"]
    private = [r for r in replies if r["type"] == "private_delivery"]
    assert len(pulls) == 20 and len(errors) == 16 and len(private) == 20
    assert {e["code"] for e in errors} == {"insufficient_tokens"}
    assert all(p["private"] is True and p["to"] == "carol" for p in private)
    assert all(r["private"] is False for r in pulls + errors)
    async with create_app(small_settings(tmp_path, vault_key="11" * 32, **store_overrides(db_target))) as app:
        assert (await app.service.balance(UserRef("console", "carol"))).tokens == 0
        assert await app.ledger.audit() == []


async def test_gifts_both_ways_at_once_never_deadlock_or_overdraw(app: App) -> None:
    """A gives to B while B gives to A, many times at once: on PostgreSQL each gift locks two account rows,
    so they must be locked in one order, or the server aborts one side as a deadlock."""
    bob = UserRef("test", "bob", "Bob")
    await app.service.grant(ALICE, 100)
    await app.service.grant(bob, 100)
    gifts = [app.service.gift(ALICE, bob, 1, idempotency_key=f"a{n}") for n in range(40)]
    gifts += [app.service.gift(bob, ALICE, 1, idempotency_key=f"b{n}") for n in range(40)]
    outcomes = await asyncio.gather(*gifts, return_exceptions=True)
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert (await app.service.balance(ALICE)).tokens == 100 and (await app.service.balance(bob)).tokens == 100
    assert await app.ledger.audit() == []
