"""The loopback Bot API answers python-telegram-bot the way Telegram does, errors included."""

from __future__ import annotations

import asyncio
import time
import warnings

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, RetryAfter

from tests.specs.conformance import expecting_faults
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
    with expecting_faults() as faults:  # requests the spec refuses, sent on purpose: the checker sees them too
        with pytest.raises(BadRequest, match="too long"):
            await tg_bot.send_message(group["id"], "x" * 4097)
        too_long = InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="x" * 65)]])
        with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
            await tg_bot.send_message(group["id"], "x", reply_markup=too_long)
    assert faults == [
        "sendMessage.text: 4097 characters, the spec allows 1-4096",
        "sendMessage.reply_markup.inline_keyboard[0][0].callback_data: 65 bytes, the spec allows 1-64",
    ]
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


async def test_group_and_overall_limits_answer_429_with_retry_after(fake: FakeBotApi, tg_bot: Bot) -> None:
    fake.group_limit, fake.group_window_s, fake.overall_per_s = 3, 30.0, 5
    group, other = fake.group_chat(), fake.group_chat(-1009, "Other")
    for i in range(3):
        await tg_bot.send_message(group["id"], f"m{i}")
    with pytest.raises(RetryAfter) as caught:
        await tg_bot.send_message(group["id"], "one too many")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wait = caught.value.retry_after
    assert 1 <= (wait if isinstance(wait, (int, float)) else wait.total_seconds()) <= 30
    sent = await tg_bot.send_message(other["id"], "another group is not limited by the first")
    with pytest.raises(RetryAfter):  # edits count too
        await tg_bot.edit_message_text("x", chat_id=group["id"], message_id=1)
    await tg_bot.edit_message_text("y", chat_id=other["id"], message_id=sent.message_id)
    with pytest.raises(RetryAfter):  # 5 accepted this second (3 + 1 + 1): the overall limit
        await tg_bot.send_message(other["id"], "overall")
    assert len(fake.rate_limited()) == 3


async def test_callback_answers_have_a_deadline_and_are_answered_once(fake: FakeBotApi, tg_bot: Bot) -> None:
    group = fake.group_chat()
    alice = fake.user(5)
    sent = fake.user_message(group, alice, "hello")
    fresh = await fake.push_callback(alice, sent, "x")
    assert await tg_bot.answer_callback_query(fresh, text="ok")
    with pytest.raises(BadRequest, match="too old"):
        await tg_bot.answer_callback_query(fresh)  # once only
    fake.callback_deadline_s = 0.05
    late = await fake.push_callback(alice, sent, "x")
    await asyncio.sleep(0.1)
    with pytest.raises(BadRequest, match="too old"):
        await tg_bot.answer_callback_query(late)
    assert fake.callback_answered(fresh) and not fake.callback_answered(late)


async def test_mentions_links_photos_deletes_members_and_scoped_commands(fake: FakeBotApi, tg_bot: Bot) -> None:
    from telegram import BotCommand, BotCommandScopeAllGroupChats

    group = fake.group_chat()
    plain = await tg_bot.send_message(group["id"], "hi @durov see https://example.com")
    coded = await tg_bot.send_message(group["id"], "<code>^@durov$</code> and @\u2060durov", parse_mode="HTML")
    assert [(e.type, plain.parse_entity(e)) for e in plain.entities] == [
        ("mention", "@durov"),
        ("url", "https://example.com"),
    ]
    assert coded.entities == ()
    photo = await tg_bot.send_photo(
        group["id"], b"\x89PNG\r\n\x1a\n" + b"0" * 100, caption="<b>card</b>", parse_mode="HTML"
    )
    assert fake.message(group["id"], photo.message_id).photo.startswith(b"\x89PNG")
    assert fake.message(group["id"], photo.message_id).text == "card"
    assert await tg_bot.delete_message(group["id"], photo.message_id)
    with pytest.raises(BadRequest, match="not found"):
        await tg_bot.delete_message(group["id"], photo.message_id)
    fake.admins[(group["id"], 9)] = "administrator"
    assert (await tg_bot.get_chat_member(group["id"], 9)).status == "administrator"
    assert (await tg_bot.get_chat_member(group["id"], 10)).status == "member"
    await tg_bot.set_my_commands([BotCommand("pull", "Pull")], scope=BotCommandScopeAllGroupChats())
    assert fake.scoped_commands["all_group_chats"] == [{"command": "pull", "description": "Pull"}]
    assert await tg_bot.send_chat_action(group["id"], "typing") and fake.chat_actions[0][1] == "typing"


async def test_refunded_payment_and_old_messages_reach_the_bot_as_telegram_sends_them(
    fake: FakeBotApi, tg_bot: Bot
) -> None:
    buyer = fake.user(77, "Buyer")
    fake.successful_payment_update(buyer, 50, "stars1:small:100:50:77", "stxFAKE")
    await fake.replay_update(fake.refunded_payment_update(buyer, "stxFAKE"))
    await fake.push_text(fake.group_chat(), buyer, "/pull ^a", age_s=3600)
    updates = await tg_bot.get_updates(timeout=0)
    refund = updates[0].message.refunded_payment
    assert (refund.currency, refund.total_amount, refund.telegram_payment_charge_id) == ("XTR", 50, "stxFAKE")
    assert fake.charges["stxFAKE"].refunded
    age = updates[1].message.date.timestamp()
    assert 3590 < time.time() - age < 3610
