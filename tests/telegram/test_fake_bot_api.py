"""The loopback Bot API answers python-telegram-bot the way Telegram does, errors included."""

from __future__ import annotations

import asyncio
import warnings

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, RetryAfter

from tests.telegram.fake_bot_api import FakeBotApi, parse_telegram_html, too_many_requests


async def test_bot_talks_to_fake(fake: FakeBotApi, tg_bot: Bot) -> None:
    me = await tg_bot.get_me()
    assert me.username == fake.bot_username
    group = fake.group_chat()
    sent = await tg_bot.send_message(group["id"], "<b>hi</b> &amp; bye", parse_mode="HTML")
    assert sent.text == "hi & bye"
    assert fake.calls("sendMessage")[0].params["chat_id"] == group["id"]


async def test_private_chat_needs_start(fake: FakeBotApi, tg_bot: Bot) -> None:
    alice = fake.user(42)
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await tg_bot.send_message(42, "hello")
    await fake.push_text(fake.private_chat(alice), alice, "/start")
    assert (await tg_bot.send_message(42, "hello")).text == "hello"
    fake.blocked_users.add(42)
    with pytest.raises(Forbidden, match="blocked"):
        await tg_bot.send_message(42, "hello")


@pytest.mark.parametrize("bad", ["a < b", "Tom & Jerry", "<script>x</script>", "<b>open", "<b>x</i>"])
async def test_bad_html_is_rejected_like_telegram(fake: FakeBotApi, tg_bot: Bot, bad: str) -> None:
    group = fake.group_chat()
    with pytest.raises(BadRequest, match="parse entities"):
        await tg_bot.send_message(group["id"], bad, parse_mode="HTML")


def test_html_parser_reads_text_and_links() -> None:
    text, links = parse_telegram_html('<a href="https://t.me/x?start=keys">go</a> &lt;3 <b><u>Lo</u></b>ve')
    assert text == "go <3 Love"
    assert links == ["https://t.me/x?start=keys"]


async def test_limits_and_edits(fake: FakeBotApi, tg_bot: Bot) -> None:
    group = fake.group_chat()
    with pytest.raises(BadRequest, match="too long"):
        await tg_bot.send_message(group["id"], "x" * 4097)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
        await tg_bot.send_message(group["id"], "x", reply_markup=too_long)
    sent = await tg_bot.send_message(group["id"], "one")
    await tg_bot.edit_message_text("two", chat_id=group["id"], message_id=sent.message_id)
    with pytest.raises(BadRequest, match="not modified"):
        await tg_bot.edit_message_text("two", chat_id=group["id"], message_id=sent.message_id)
    assert fake.message(group["id"], sent.message_id).text == "two"


async def test_rate_limit_and_long_poll(fake: FakeBotApi, tg_bot: Bot) -> None:
    group = fake.group_chat()
    fake.fail_next("sendMessage", too_many_requests(3))
    with pytest.raises(RetryAfter) as caught:
        await tg_bot.send_message(group["id"], "x")
    with warnings.catch_warnings():  # PTB 22 warns that retry_after becomes a timedelta
        warnings.simplefilter("ignore")
        assert caught.value.retry_after in (3, 3.0) or caught.value.retry_after.total_seconds() == 3
    poll = asyncio.create_task(tg_bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    alice = fake.user(7)
    await fake.push_text(group, alice, "/pull@VaniKeysTestBot ^Ab")
    updates = await asyncio.wait_for(poll, 3)
    assert updates[0].message.text.startswith("/pull")
    assert updates[0].message.entities[0].type == "bot_command"
    again = await tg_bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    assert again == ()
