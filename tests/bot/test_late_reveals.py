"""Reveals kept across a restart: stored per platform and chat, read back oldest first, forgotten once posted,
on both stores."""

from __future__ import annotations

import pytest

from bot.app import App, create_app
from bot.config import Settings


@pytest.fixture
def settings(store_settings: Settings) -> Settings:
    return store_settings


async def test_kept_reveals_come_back_per_chat_in_order_and_go_once_forgotten(app: App) -> None:
    service = app.service
    assert await service.late_reveals("telegram") == {}
    assert await service.keep_late_reveals("telegram", {"-100": ["a", "b"], "-200": ["c"]}) == 3
    assert await service.keep_late_reveals("discord", {"55": ["d"]}) == 1
    assert await service.keep_late_reveals("telegram", {}) == 0
    waiting = await service.late_reveals("telegram")
    assert {chat: [r.line for r in reveals] for chat, reveals in waiting.items()} == {"-100": ["a", "b"], "-200": ["c"]}
    await service.forget_late_reveals([r.id for r in waiting["-100"]])
    again = await service.late_reveals("telegram")
    assert list(again) == ["-200"] and [r.line for r in again["-200"]] == ["c"]
    assert [r.line for r in (await service.late_reveals("discord"))["55"]] == ["d"]


async def test_kept_reveals_survive_closing_the_database(settings: Settings) -> None:
    async with create_app(settings) as app:
        await app.service.keep_late_reveals("telegram", {"-100": ["🎰 someone ^abc: 1abc Rare"]})
    async with create_app(settings) as app:
        (reveal,) = (await app.service.late_reveals("telegram"))["-100"]
    assert reveal.line == "🎰 someone ^abc: 1abc Rare"
