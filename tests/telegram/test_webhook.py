"""Webhook mode: Telegram POSTs updates to us (secret header checked) instead of long polling."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from aiohttp import ClientSession

from bot.config import ConfigError
from bot.frontends.telegram import TelegramConfig
from bot.frontends.telegram.config import parse_stars_packs
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.harness import running_bot


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_webhook_mode_receives_updates_and_rejects_forgeries(fake: FakeBotApi, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    mia = fake.user(1201, "Mia")
    config = {"webhook_url": url, "webhook_listen": "127.0.0.1", "webhook_port": port, "webhook_secret": "s3cret-Token"}
    async with running_bot(fake, tmp_path, config=config):
        assert fake.webhook_url == url and fake.webhook_secret == "s3cret-Token"
        assert not fake.calls("getUpdates")
        await fake.push_text(fake.private_chat(mia), mia, "/balance")  # POSTed to the webhook by the fake
        reply = await fake.wait_for_message(mia["id"], "tokens")
        assert "Mia" in reply.text
        forged = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 1201, "type": "private"},
                "from": mia,
                "text": "/balance",
            },
        }
        async with ClientSession() as session:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with session.post(url, json=forged, headers=headers) as response:
                    assert response.status == 403
    assert len([m for m in fake.messages_in(mia["id"]) if "tokens" in m.text]) == 1


def test_config_from_env() -> None:
    env = {
        "TELEGRAM_WEBHOOK_URL": "https://bot.example.com/tg",
        "TELEGRAM_WEBHOOK_PORT": "8443",
        "TELEGRAM_COOLDOWN_S": "5",
        "TELEGRAM_STARS_PACKS": "a=10:5,b=20:9",
        "TELEGRAM_ADMIN_IDS": "1,2",
    }
    config = TelegramConfig.from_env("T", env, dotenv_path=None)
    assert config.webhook_mode and config.webhook_path == "tg" and config.cooldown_s == 5
    assert [(p.pack_id, p.tokens, p.stars) for p in config.stars_packs] == [("a", 10, 5), ("b", 20, 9)]
    assert config.admin_ids == {1, 2}
    assert not TelegramConfig.from_env("T", {}, dotenv_path=None).webhook_mode
    assert TelegramConfig.from_env("T", {}, dotenv_path=None).webhook_secret  # random when not set
    with pytest.raises(ConfigError, match="https"):
        TelegramConfig.from_env("T", {"TELEGRAM_WEBHOOK_URL": "http://x"}, dotenv_path=None)
    with pytest.raises(ConfigError, match="pack=tokens:stars"):
        parse_stars_packs("small=100")
    assert parse_stars_packs("off") == ()


def test_platform_settings_from_env() -> None:
    default = TelegramConfig.from_env("T", {}, dotenv_path=None)
    assert default.stripe_topup is False and default.stale_after_s == 300 and default.outbox.group_messages == 20
    env = {
        "TELEGRAM_STRIPE_TOPUP": "on",
        "TELEGRAM_STALE_AFTER_S": "60",
        "TELEGRAM_ODDS_COOLDOWN_S": "4",
        "TELEGRAM_GROUP_MESSAGES_PER_MINUTE": "15",
    }
    config = TelegramConfig.from_env("T", env, dotenv_path=None)
    assert (config.stripe_topup, config.stale_after_s, config.odds_cooldown_s, config.outbox.group_messages) == (
        True,
        60,
        4,
        15,
    )
    for bad in (
        {"TELEGRAM_STRIPE_TOPUP": "maybe"},
        {"TELEGRAM_STALE_AFTER_S": "٣"},
        {"TELEGRAM_GROUP_MESSAGES_PER_MINUTE": "0"},
        {"TELEGRAM_COOLDOWN_S": "1e309"},
    ):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            TelegramConfig.from_env("T", bad, dotenv_path=None)
