"""Every command answers in valid, escaped HTML, in the right place; the `vanikeys bot` entry point runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.answers import UserRef
from bot.app import create_app
from bot.frontends.telegram import run
from tests.telegram.fake_bot_api import FakeBotApi, too_many_requests
from tests.telegram.harness import make_settings, running_bot


async def test_every_command_answers(fake: FakeBotApi, tmp_path: Path) -> None:
    nia = fake.user(1301, "Nia & <Co>")
    group = fake.group_chat(title="<Vanity> & co")
    private = fake.private_chat(nia)
    async with running_bot(fake, tmp_path):
        await fake.push_text(private, nia, "/start")
        await fake.wait_for_message(nia["id"], "VaniKeys")
        await fake.push_text(group, nia, "/pull ^a")
        await fake.wait_for_message(group["id"], "pulled")
        for command, where, expect in [
            ("/help", group, "/pull"),
            ("/odds ^ab btc", group, "Odds for"),
            ("/balance", group, "Sent to you privately"),
            ("/leaderboard", group, "Rarest pulls"),
            ("/history", group, "Sent to you privately"),
            ("/topup", group, "Top-ups are private"),
            ("/topup", private, "Top up"),
            ("/keys", private, ""),
            ("/paysupport", private, "refund"),
        ]:
            before = len(fake.messages_in(where["id"]))
            await fake.push_text(where, nia, command)
            got = await fake.wait_for(lambda where=where, before=before: fake.messages_in(where["id"])[before:])
            assert expect in got[-1].text, (command, got[-1].text)
        await fake.wait_for_message(nia["id"], "Free pulls left")
        history = await fake.wait_for_message(nia["id"], "balance")
        assert "pull" in history.text
        board = await fake.wait_for_message(group["id"], "Rarest pulls")
        assert "<Vanity> & co" in board.text and "Nia & <Co>" in board.text
        topup_link = await fake.wait_for_message(group["id"], "Top-ups are private")
        assert topup_link.button("Top up")["url"].endswith("?start=topup")
    assert not [r for r in fake.requests if r.error is not None and r.error.code == 400]


async def test_order_this_asks_before_spending(fake: FakeBotApi, tmp_path: Path) -> None:
    omar = fake.user(1302, "Omar")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path, settings={"order_premium": 1, "keys_per_token": 10.0}) as running:
        await running.app.service.grant(UserRef("telegram", str(omar["id"])), 500)
        await fake.push_text(fake.private_chat(omar), omar, "/start")
        await fake.push_text(group, omar, "/pull ^b")
        post = await fake.wait_for_message(group["id"], "pulled")
        await fake.push_callback(omar, post, post.button("Order this")["callback_data"])
        quote = await fake.wait_for_message(group["id"], "Order the exact match")
        balance = (await running.app.service.balance(UserRef("telegram", str(omar["id"])))).tokens
        assert balance == 500  # a quote costs nothing
        query = await fake.push_callback(omar, quote, quote.button("Confirm order")["callback_data"])
        await fake.wait_for_message(group["id"], "is done", timeout=30)
        assert fake.callback_answered(query)
        assert (await running.app.service.balance(UserRef("telegram", str(omar["id"])))).tokens < 500


async def test_delivery_waits_out_rate_limits(fake: FakeBotApi, tmp_path: Path) -> None:
    pia = fake.user(1303, "Pia")
    async with running_bot(fake, tmp_path):
        await fake.push_text(fake.private_chat(pia), pia, "/start")
        await fake.wait_for_message(pia["id"], "VaniKeys")
        fake.fail_next("sendMessage", too_many_requests(1))
        await fake.push_text(fake.private_chat(pia), pia, "/pull ^a")
        await fake.wait_for_message(pia["id"], "WIF", timeout=15)
    limited = [r for r in fake.calls("sendMessage") if r.error is not None and r.error.code == 429]
    assert len(limited) == 1


async def test_run_entry_point_polls_until_cancelled(
    fake: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake.base_url)
    monkeypatch.setenv("TELEGRAM_API_FILE_URL", fake.base_file_url)
    monkeypatch.delenv("TELEGRAM_WEBHOOK_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    settings = make_settings(fake, tmp_path)
    quinn = fake.user(1304, "Quinn")
    async with create_app(settings) as app:
        task = asyncio.create_task(run(app, settings))
        try:
            await fake.wait_for(lambda: fake.commands)
            await fake.push_text(fake.private_chat(quinn), quinn, "/help")
            await fake.wait_for_message(quinn["id"], "/pull")
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert fake.calls("deleteWebhook")
