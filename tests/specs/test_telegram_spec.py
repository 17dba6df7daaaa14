"""The Telegram checker reads the Bot API's tables as the documentation states them."""

from __future__ import annotations

import json

from tests.specs.telegram_spec import spec

ALICE = {"id": 7, "is_bot": False, "first_name": "Alice"}
GROUP = {"id": -100123, "type": "supergroup", "title": "Lounge"}


def form(**params: object) -> dict[str, object]:
    """Parameters as python-telegram-bot posts them: strings, JSON for anything that is not a String."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}


def test_required_unknown_and_mistyped_fields() -> None:
    assert spec().check_request("sendMessage", form(chat_id=-100123, text="hi")) == []
    assert spec().check_request("sendMessage", form(chat_id="@lounge", text="hi")) == []
    assert spec().check_request("sendMessage", form(text="hi")) == ["sendMessage: required field 'chat_id' missing"]
    assert spec().check_request("sendMessage", form(chat_id=1, text="hi", colour="red")) == [
        "sendMessage: 'colour' is not a field of sendMessage"
    ]
    assert spec().check_request("answerCallbackQuery", form(callback_query_id="1", cache_time="soon")) == [
        "answerCallbackQuery.cache_time: 'soon' is not JSON for Integer"
    ]
    assert spec().check_request(
        "sendMessage", form(chat_id=1, text="hi", reply_markup={"inline_keyboard": [[{}]]})
    ) == ["sendMessage.reply_markup.inline_keyboard[0][0]: InlineKeyboardButton lacks required field 'text'"]
    assert spec().check_request("sendPhoto", {"chat_id": "1", "photo": b"\x89PNG"}) == []
    assert spec().check_request("sendMessage", {"chat_id": "1", "text": b"hi"}) == [
        "sendMessage.text: a file was uploaded where the spec takes no file"
    ]


def test_limits_count_bytes_utf16_units_and_the_text_after_entities_parsing() -> None:
    button = {"text": "b", "callback_data": "é" * 32}  # 64 bytes: the most callback data may hold
    assert (
        spec().check_request("sendMessage", form(chat_id=1, text="x", reply_markup={"inline_keyboard": [[button]]}))
        == []
    )
    button["callback_data"] += "x"
    assert spec().check_request(
        "sendMessage", form(chat_id=1, text="x", reply_markup={"inline_keyboard": [[button]]})
    ) == ["sendMessage.reply_markup.inline_keyboard[0][0].callback_data: 65 bytes, the spec allows 1-64"]
    assert spec().check_request("sendMessage", form(chat_id=1, text="😀" * 2048)) == []  # 4,096 UTF-16 units
    assert spec().check_request("sendMessage", form(chat_id=1, text="😀" * 2048 + "x")) == [
        "sendMessage.text: 4097 characters, the spec allows 1-4096"
    ]
    tagged = "<b>" + "x" * 4096 + "</b>"
    assert spec().check_request("sendMessage", form(chat_id=1, text=tagged, parse_mode="HTML")) == []
    assert spec().check_request("sendMessage", form(chat_id=1, text=tagged)) != []
    assert spec().check_request("getUpdates", form(limit=101)) == ["getUpdates.limit: 101 is outside 1-100"]
    assert spec().check_request("setMyCommands", form(commands=[{"command": "c" * 33, "description": "d"}])) == [
        "setMyCommands.commands[0].command: 33 characters, the spec allows 1-32"
    ]


def test_answers_are_checked_against_the_return_type_recursively() -> None:
    message = {"message_id": 1, "date": 0, "chat": GROUP, "from": ALICE, "text": "hi"}
    assert spec().check_result("sendMessage", message) == []
    assert spec().check_result("sendMessage", {**message, "chat": {"id": 1, "type": "room"}}) == [
        "sendMessage result.chat.type: 'room' is not one of ['channel', 'group', 'private', 'supergroup']"
    ]
    assert spec().check_result("sendMessage", {k: v for k, v in message.items() if k != "date"}) == [
        "sendMessage result: Message lacks required field 'date'"
    ]
    assert spec().check_result("sendMessage", {**message, "_payload": "x"}) == [
        "sendMessage result: '_payload' is not a field of Message"
    ]
    assert spec().check_result("setMyCommands", True) == []
    assert spec().check_result("setMyCommands", "yes") != []


def test_a_union_type_is_any_one_of_its_subtypes() -> None:
    owner = {"status": "creator", "user": ALICE, "is_anonymous": False}
    assert spec().check_result("getChatMember", owner) == []
    assert spec().check_result("getChatMember", {**owner, "status": "boss"}) != []
    assert spec().check_result("getChatMember", {"status": "member", "user": ALICE}) == []


def test_an_update_is_checked_as_an_update() -> None:
    update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": GROUP, "from": ALICE, "text": "/pull"}}
    assert spec().check_object("Update", update) == []
    assert spec().check_object("Update", {"update_id": "1"}) == ["Update.update_id: Integer expected, got str '1'"]
