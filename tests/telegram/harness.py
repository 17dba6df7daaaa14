"""A whole bot for the end-to-end tests: real Service on a tmp SQLite file, the local python
grinder with tiny budgets, the real python-telegram-bot Application polling the loopback fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import base58
from telegram.ext import Application

from bot.app import App, create_app
from bot.config import Settings
from bot.frontends.telegram import TelegramConfig, running
from bot.frontends.telegram.handlers import TelegramHandlers
from gpu_worker.formats import get_format, identifier_from_secret
from tests.telegram.fake_bot_api import FakeBotApi


def make_settings(fake: FakeBotApi, tmp_path: Path, **changes: object) -> Settings:
    settings = Settings(
        telegram_token=fake.token,
        db_path=tmp_path / "vanikeys.db",
        backend="python",
        pull_budget_cpu=8,  # small enough that "^a" is not an easy pattern
        cpu_keys_per_s=2_000.0,
        free_pulls_per_day=1000,
        daily_spend_limit=100_000,
        order_progress_interval_s=0.0,
    )
    return settings.replace(**changes) if changes else settings


def make_config(fake: FakeBotApi, **changes: object) -> TelegramConfig:
    config = TelegramConfig(
        token=fake.token,
        api_base_url=fake.base_url,
        api_file_url=fake.base_file_url,
        poll_timeout_s=1,
        cooldown_s=0,
        admin_ids=frozenset({9000}),
    )
    return replace(config, **changes)  # type: ignore[arg-type]


@dataclass
class RunningBot:
    app: App
    application: Application
    handlers: TelegramHandlers


@asynccontextmanager
async def running_bot(
    fake: FakeBotApi, tmp_path: Path, *, settings: dict | None = None, config: dict | None = None
) -> AsyncIterator[RunningBot]:
    async with create_app(make_settings(fake, tmp_path, **(settings or {}))) as app:
        async with running(app.service, make_config(fake, **(config or {}))) as (application, handlers):
            yield RunningBot(app, application, handlers)
            # Let jobs finish their last writes: cancelling a job mid-COMMIT is a storage bug
            # (reported to the service owner), not what these tests are about.
            await asyncio.wait_for(app.jobs.wait_idle(), 10)


def btc_address_from_wif(wif: str) -> str:
    """Re-derive the address from the WIF we handed over, with coincurve (via the formats module)."""
    raw = base58.b58decode_check(wif)
    assert raw[0] == 0x80 and len(raw) == 34 and raw[-1] == 0x01, "compressed mainnet WIF"
    return identifier_from_secret(get_format("btc"), int.from_bytes(raw[1:33], "big"))


def reveals_in(fake: FakeBotApi, chat_id: int) -> int:
    """Reveals the group saw: one per "pulled" message, one per line of each digest."""
    count = 0
    for message in fake.messages_in(chat_id):
        if " pulled " in message.text:
            count += 1
        elif "more pull" in message.text:
            count += message.text.count("\n• ")
    return count
