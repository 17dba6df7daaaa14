"""The real discord.py client, a real Service on a temp SQLite file, and the loopback fake of Discord."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import discord
import pytest

from bot.app import App, create_app
from bot.config import Settings
from bot.frontends.discord.bot import VaniKeysBot
from bot.frontends.discord.config import DiscordConfig
from tests.bot.conftest import small_settings
from tests.discord.fake_discord import FakeDiscord


def discord_settings(tmp_path: Path, **overrides: object) -> Settings:
    return small_settings(
        tmp_path, pull_budget_cpu=120, free_pulls_per_day=20, discord_token="fake-token", job_lease_s=60.0
    ).replace(**overrides)


def quiet_config(**overrides: object) -> DiscordConfig:
    """No cooldowns (tests act fast on purpose) and a short wait for guilds before on_ready."""
    values: dict[str, object] = {
        "pull_cooldown_s": 0.0,
        "order_cooldown_s": 0.0,
        "command_cooldown_s": 0.0,
        "odds_cooldown_s": 0.0,
        "autocomplete_cooldown_s": 0.0,
        "guild_ready_timeout_s": 0.05,
    }
    values.update(overrides)
    return DiscordConfig(**values)  # type: ignore[arg-type]


@dataclass
class Harness:
    fake: FakeDiscord
    app: App
    bot: VaniKeysBot


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.start()
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return discord_settings(tmp_path)


@pytest.fixture
def config() -> DiscordConfig:
    return quiet_config()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[App]:
    async with create_app(settings) as app:
        yield app
        # let pulls and orders settle: closing cancels jobs, which is its own test (test_orders' restart)
        await asyncio.wait_for(app.jobs.wait_idle(), 30)


async def start_bot(fake: FakeDiscord, app: App, config: DiscordConfig) -> tuple[VaniKeysBot, asyncio.Task[None]]:
    bot = VaniKeysBot(app.service, app.settings, config)
    task = asyncio.create_task(bot.start(app.settings.discord_token or ""))
    ready = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({ready, task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        ready.cancel()
        await stop_bot(bot, task)
        raise AssertionError("the bot did not become ready against the fake")
    return bot, task


async def stop_bot(bot: VaniKeysBot, task: asyncio.Task[None]) -> None:
    await bot.close()
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 10)


@pytest.fixture
async def harness(fake: FakeDiscord, app: App, config: DiscordConfig) -> AsyncIterator[Harness]:
    bot, task = await start_bot(fake, app, config)
    try:
        yield Harness(fake, app, bot)
    finally:
        await stop_bot(bot, task)
