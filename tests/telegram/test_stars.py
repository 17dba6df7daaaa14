"""Telegram Stars top-ups: invoice, pre-checkout within 10 s, exactly-once credit, refunds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.answers import UserRef
from bot.frontends.telegram.config import DEFAULT_STARS_PACKS, StarsPack
from bot.frontends.telegram.stars import StarsPayload, invoice_texts
from gpu_worker.i18n import DEFAULT, PSEUDO, TRANSLATED, ngettext, use_locale
from tests.specs.telegram_spec import spec
from tests.telegram.fake_bot_api import FakeBotApi, forbidden_blocked
from tests.telegram.harness import running_bot


async def balance(running, user: dict) -> int:
    return (await running.app.service.balance(UserRef("telegram", str(user["id"])))).tokens


async def buy_small_pack(fake: FakeBotApi, user: dict) -> str:
    """/topup, press the Stars button, and return the invoice payload the bot issued."""
    chat = fake.private_chat(user)
    await fake.push_text(chat, user, "/topup")
    menu = await fake.wait_for_message(user["id"], "Top up")
    await fake.push_callback(user, menu, menu.button("⭐ 50 Stars")["callback_data"])
    invoice = (await fake.wait_for(lambda: [r for r in fake.calls("sendInvoice") if r.error is None]))[-1]
    assert invoice.params["currency"] == "XTR" and invoice.params.get("provider_token", "") == ""
    assert invoice.params["prices"] == [{"label": "100 tokens", "amount": 50}]
    return invoice.params["payload"]


async def test_stars_payment_credited_once_however_often_it_arrives(fake: FakeBotApi, tmp_path: Path) -> None:
    ivy = fake.user(1001, "Ivy")
    async with running_bot(fake, tmp_path) as running:
        before = await balance(running, ivy)
        payload = await buy_small_pack(fake, ivy)
        query = await fake.push_pre_checkout(ivy, 50, payload)
        await fake.wait_for(lambda: query in fake.pre_checkout_answers)
        assert fake.pre_checkout_answers[query]["ok"] is True
        assert fake.pre_checkout_answers[query]["after_s"] < 10

        update = fake.successful_payment_update(ivy, 50, payload, "stxCHARGE1")
        for _ in range(3):  # replayed one after another ...
            await fake.replay_update(update)
        await fake.wait_for(lambda: any("100 tokens have arrived" in m.text for m in fake.messages_in(ivy["id"])))
        await asyncio.gather(*(fake.replay_update(update) for _ in range(6)))  # ... and all at once
        await asyncio.sleep(0.5)
        assert await balance(running, ivy) == before + 100
        notices = [m for m in fake.messages_in(ivy["id"]) if "have arrived" in m.text]
        assert len(notices) == 1

        second = fake.successful_payment_update(ivy, 50, payload, "stxCHARGE2")  # a second purchase is a second credit
        await fake.replay_update(second)
        await fake.wait_for(lambda: len([m for m in fake.messages_in(ivy["id"]) if "have arrived" in m.text]) == 2)
        assert await balance(running, ivy) == before + 200


async def test_pre_checkout_refuses_forged_or_foreign_invoices(fake: FakeBotApi, tmp_path: Path) -> None:
    jack, kim = fake.user(1002, "Jack"), fake.user(1003, "Kim")
    async with running_bot(fake, tmp_path) as running:
        payload = await buy_small_pack(fake, jack)
        cases = {
            "someone else": await fake.push_pre_checkout(kim, 50, payload),
            "amount": await fake.push_pre_checkout(jack, 1, payload),
            "not one of ours": await fake.push_pre_checkout(jack, 50, "give me 10^9 tokens"),
            "price has changed": await fake.push_pre_checkout(
                jack, 1, StarsPayload("small", 100_000, 1, jack["id"]).encode()
            ),
        }
        await fake.wait_for(lambda: all(q in fake.pre_checkout_answers for q in cases.values()))
        # a payment whose payload is not ours is never credited, even if Telegram delivers it
        forged = fake.successful_payment_update(jack, 1, StarsPayload("small", 100_000, 1, kim["id"]).encode(), "stxF")
        before = await balance(running, jack)
        await fake.replay_update(forged)
        await fake.wait_for_message(jack["id"], "could not match")
        assert await balance(running, jack) == before
    for reason, query in cases.items():
        answer = fake.pre_checkout_answers[query]
        assert answer["ok"] is False and reason in answer["error_message"], (reason, answer)


async def test_refund_takes_tokens_back_once_and_returns_stars(fake: FakeBotApi, tmp_path: Path) -> None:
    lea, admin = fake.user(1004, "Lea"), fake.user(9000, "Operator")
    async with running_bot(fake, tmp_path) as running:
        payload = await buy_small_pack(fake, lea)
        await fake.replay_update(fake.successful_payment_update(lea, 50, payload, "stxREFUND"))
        await fake.wait_for_message(lea["id"], "have arrived")
        paid = await balance(running, lea)
        admin_chat = fake.private_chat(admin)
        await fake.push_text(fake.private_chat(lea), lea, "/refundstars stxREFUND")
        await fake.wait_for_message(lea["id"], "Only the bot's operators")
        # the first refund reaches Telegram only after the debit, and Telegram fails once
        fake.fail_next("refundStarPayment", forbidden_blocked())
        await fake.push_text(admin_chat, admin, "/refundstars stxREFUND")
        await fake.wait_for(lambda: fake.calls("refundStarPayment"))
        await fake.wait_for(lambda: len(fake.messages_in(admin["id"])) >= 1)
        assert not fake.charges["stxREFUND"].refunded
        await fake.push_text(admin_chat, admin, "/refundstars stxREFUND")  # retried: completes
        await fake.wait_for_message(admin["id"], "Refunded 50 Stars")
        await fake.push_text(admin_chat, admin, "/refundstars stxREFUND")  # again: nothing more happens
        await fake.wait_for(lambda: len([m for m in fake.messages_in(admin["id"]) if "Refunded" in m.text]) == 2)
        assert fake.charges["stxREFUND"].refunded
        assert await balance(running, lea) == paid - 100
        assert len([m for m in fake.messages_in(lea["id"]) if "refunded" in m.text]) == 1
        await fake.push_text(admin_chat, admin, "/refundstars nope")
        await fake.wait_for_message(admin["id"], "No Stars payment nope")


async def test_payment_redelivered_after_a_restart_is_not_credited_again(fake: FakeBotApi, tmp_path: Path) -> None:
    """The bot stops after crediting but before Telegram hears it confirmed the update: it comes again."""
    max_ = fake.user(1005, "Max")
    async with running_bot(fake, tmp_path) as running:
        payload = await buy_small_pack(fake, max_)
        update = fake.successful_payment_update(max_, 50, payload, "stxRESTART")
        await fake.replay_update(update)
        await fake.wait_for_message(max_["id"], "have arrived")
        credited = await balance(running, max_)
    async with running_bot(fake, tmp_path) as running:  # same database, a fresh Application
        polls = len(fake.calls("getUpdates"))
        await fake.replay_update(update)
        await fake.wait_for(lambda: len(fake.calls("getUpdates")) >= polls + 2)
        await fake.push_text(fake.private_chat(max_), max_, "/balance")
        await fake.wait_for_message(max_["id"], "Free pulls left")
        await asyncio.sleep(0.3)
        assert await balance(running, max_) == credited
    assert len([m for m in fake.messages_in(max_["id"]) if "have arrived" in m.text]) == 1


async def test_a_refund_after_a_gift_leaves_the_gift_and_puts_the_buyer_in_debt(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    """The documented rule (docs/operations.md): gifts are final for the recipient; the buyer owes the rest."""
    ned, ola, admin = fake.user(1006, "Ned"), fake.user(1007, "Ola"), fake.user(9000, "Operator")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path) as running:
        payload = await buy_small_pack(fake, ned)
        await fake.replay_update(fake.successful_payment_update(ned, 50, payload, "stxGIFT"))
        await fake.wait_for_message(ned["id"], "have arrived")
        await fake.push_text(fake.private_chat(ola), ola, "/start")
        hello = fake.user_message(group, ola, "hi")
        await fake.push_text(group, ned, "/gift 80", reply_to=hello)
        await fake.wait_for_message(ned["id"], "🎁")
        await fake.push_text(fake.private_chat(admin), admin, "/refundstars stxGIFT")
        told = await fake.wait_for_message(admin["id"], "Refunded 50 Stars")
        ned_account = await running.app.ledger.account(UserRef("telegram", str(ned["id"])))
        assert await balance(running, ola) == 80, "the recipient keeps the gift"
        assert ned_account.balance == 0 and ned_account.debt == 80, "the buyer owes what was gifted"
    assert "20 of 100 tokens taken back" in told.text and "owes 80" in told.text


@pytest.mark.parametrize("locale", [*TRANSLATED, PSEUDO, DEFAULT])
def test_every_invoice_fits_telegrams_limits_in_every_locale(locale: str) -> None:
    """Title 1-32 characters, description 1-255, a price label: checked against the Bot API's own tables."""
    packs = [*DEFAULT_STARS_PACKS, StarsPack("huge", 999_999_999, 100_000)]
    for pack in packs:
        with use_locale(locale):
            texts = invoice_texts(pack)
        params = {
            "chat_id": 42,
            "title": texts.title,
            "description": texts.description,
            "payload": StarsPayload(pack.pack_id, pack.tokens, pack.stars, 42).encode(),
            "provider_token": "",
            "currency": "XTR",
            "prices": [{"label": texts.label, "amount": pack.stars}],
        }
        assert spec().check_request("sendInvoice", params) == [], (locale, pack)


async def test_a_russian_buyer_and_a_spanish_operator(fake: FakeBotApi, tmp_path: Path) -> None:
    """The invoice and the refund notice in the buyer's Russian, the operator's /refundstars answers in Spanish."""
    buyer = {**fake.user(1010, "Vera"), "language_code": "ru"}
    operator = {**fake.user(9000, "Operator"), "language_code": "es"}
    async with running_bot(fake, tmp_path):
        await fake.push_text(fake.private_chat(buyer), buyer, "/topup")
        menu = (
            await fake.wait_for(
                lambda: [m for m in fake.messages_in(buyer["id"]) if any("⭐ 50" in b["text"] for b in m.buttons())]
            )
        )[-1]
        await fake.push_callback(buyer, menu, menu.button("⭐ 50")["callback_data"])
        invoice = (await fake.wait_for(lambda: [r for r in fake.calls("sendInvoice") if r.error is None]))[-1]
        with use_locale("ru"):
            title = ngettext("{n} VaniKeys token", "{n} VaniKeys tokens", 100)
            label = ngettext("{n} token", "{n} tokens", 100)
        assert invoice.params["title"] == title == "100 токенов VaniKeys" and len(title) <= 32
        assert invoice.params["prices"] == [{"label": label, "amount": 50}] and label != "100 tokens"
        assert "круток" in invoice.params["description"] and len(invoice.params["description"]) <= 255
        payload = invoice.params["payload"]
        await fake.replay_update(fake.successful_payment_update(buyer, 50, payload, "stxRU"))
        await fake.wait_for_message(buyer["id"], "Зачислено 100 токенов")

        chat = fake.private_chat(operator)
        await fake.push_text(chat, operator, "/refundstars")  # its <placeholder> is text, not a tag Telegram refuses
        await fake.wait_for_message(operator["id"], "Uso: /refundstars <telegram_payment_charge_id>")
        await fake.push_text(chat, operator, "/refundstars stxNONE")
        await fake.wait_for_message(operator["id"], "No se encontró ningún pago en Stars stxNONE")
        await fake.push_text(chat, operator, "/refundstars stxRU")
        await fake.wait_for_message(operator["id"], "Reembolsadas 50 Stars al usuario 1010. 100 tokens retirados.")
        await fake.wait_for_message(buyer["id"], "Тебе вернули 50 звёзд; списано 100 токенов.")
