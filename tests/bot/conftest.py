"""Shared pieces for the service tests: small settings, a real app on a temp SQLite file, a front end that records.

`db_target` runs a test on both stores: a SQLite file, and a fresh database on
the session's own PostgreSQL server (tests/postgres.py). A module opts in by
defining `settings` from `store_settings`.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.answers import CommunityRef, KeyDelivery, OrderView, UserRef
from bot.app import App, create_app
from bot.config import Settings
from tests.postgres import PostgresServer, require_postgres, shared_server


def small_settings(tmp_path: Path, **overrides: object) -> Settings:
    base = Settings(
        db_path=tmp_path / "vanikeys.db",
        vault_key=secrets.token_hex(32),
        backend="python",
        pull_budget_cpu=240,
        pull_price=1,
        free_pulls_per_day=0,
        daily_spend_limit=10_000,
        keys_per_token=50.0,
        order_premium=2,
        cpu_keys_per_s=20_000.0,
        max_order_s=3600.0,
        order_progress_interval_s=0.0,
        job_lease_s=30.0,
    )
    return base.replace(**overrides)


class RecordingFrontEnd:
    """A FrontEnd that keeps what the service sends it; `dms_open=False` refuses private messages."""

    def __init__(self, platform: str = "test", *, dms_open: bool = True) -> None:
        self.platform = platform
        self.dms_open = dms_open
        self.deliveries: list[tuple[UserRef, KeyDelivery]] = []
        self.progress: list[OrderView] = []
        self.finished: list[OrderView] = []
        self.notices: list[tuple[UserRef, str]] = []
        self.calls: list[str] = []  # the protocol's methods in the order they were called

    async def deliver_private(self, user: UserRef, delivery: KeyDelivery) -> bool:
        self.calls.append("deliver_private")
        if not self.dms_open:
            return False
        self.deliveries.append((user, delivery))
        return True

    async def order_progress(self, order: OrderView) -> None:
        self.progress.append(order)

    async def order_finished(self, order: OrderView) -> None:
        self.calls.append("order_finished")
        self.finished.append(order)

    async def notify(self, user: UserRef, text: str) -> None:
        self.notices.append((user, text))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return small_settings(tmp_path)


@pytest.fixture
def postgres_server(request: pytest.FixtureRequest) -> PostgresServer:
    require_postgres()
    return shared_server(request.config)


@pytest.fixture(params=["sqlite", "postgres"])
async def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where the test's store lives: a SQLite file path, or a postgresql:// URL of an empty database."""
    if request.param == "sqlite":
        return tmp_path / "vanikeys.db"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return await server.fresh_database()


def store_overrides(target: str | Path) -> dict[str, object]:
    return {"db_url": target} if isinstance(target, str) else {"db_path": target}


@pytest.fixture
def store_settings(tmp_path: Path, db_target: str | Path) -> Settings:
    return small_settings(tmp_path, **store_overrides(db_target))


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[App]:
    async with create_app(settings) as app:
        yield app


@pytest.fixture
def frontend(app: App) -> RecordingFrontEnd:
    fe = RecordingFrontEnd()
    app.service.register_frontend(fe)
    return fe


ALICE = UserRef("test", "alice", "Alice")
BOB = UserRef("test", "bob", "Bob")
GUILD = CommunityRef("test", "guild-1", "Guild One")
