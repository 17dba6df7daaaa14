"""Languages on Telegram, end to end on the fake: a group's language set by its admin, each person's own
language in private, command menus per language."""

from __future__ import annotations

from pathlib import Path

from bot.answers import CommunityRef, UserRef
from bot.frontends.telegram.outbox import OutboxLimits
from gpu_worker.i18n import LOCALES
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.harness import running_bot


def speaking(user: dict, code: str) -> dict:
    user["language_code"] = code
    return user


async def test_a_pull_in_a_spanish_group_is_answered_in_spanish(fake: FakeBotApi, tmp_path: Path) -> None:
    """An admin sets /config language es; a /pull there, by someone whose app is in English, is revealed in
    Spanish (the group's language), and the key's DM is in that person's own language."""
    ana, bob = speaking(fake.user(5101, "Ana"), "es"), speaking(fake.user(5102, "Bob"), "en")
    group = fake.group_chat(title="Los Vanidosos")
    fake.admins[(group["id"], ana["id"])] = "creator"
    async with running_bot(fake, tmp_path):
        await fake.push_text(fake.private_chat(bob), bob, "/start")
        await fake.push_text(group, bob, "/pull ^a")
        english = await fake.wait_for_message(group["id"], " pulled ")
        await fake.push_text(group, ana, "/config language es")
        changed = await fake.wait_for_message(group["id"], "Ajustes de este grupo")
        await fake.push_text(group, bob, "/pull ^b")
        spanish = await fake.wait_for_message(group["id"], " tiró ")
        await fake.wait_for(
            lambda: len([m for m in fake.messages_in(bob["id"]) if "for your eyes only" in m.text]) == 2
        )
    assert "idioma fijado en Español (es)" in changed.text and "language: Español (es)" in changed.text
    assert "🔑 La clave privada" in spanish.text and "Probabilidad: una coincidencia total es 1 de cada" in spanish.text
    assert "pulled" not in spanish.text and "Odds" not in spanish.text
    assert "🔑 Recibir mi clave" in [button["text"] for button in spanish.buttons()]
    assert " pulled " in english.text  # before the setting: the person's own language (English)


async def test_private_answers_follow_each_persons_app_language(fake: FakeBotApi, tmp_path: Path) -> None:
    caio, ivan = speaking(fake.user(5201, "Caio"), "pt-br"), speaking(fake.user(5202, "Иван"), "ru")
    async with running_bot(fake, tmp_path) as bot:
        for person in (caio, ivan):
            await bot.app.service.grant(UserRef("telegram", str(person["id"])), 21)
            await fake.push_text(fake.private_chat(person), person, "/balance")
        portuguese = await fake.wait_for_message(caio["id"], "💰")
        russian = await fake.wait_for_message(ivan["id"], "💰")
        await fake.push_text(fake.private_chat(ivan), ivan, "/pull")
        usage = await fake.wait_for_message(ivan["id"], "Скажи, что искать")
    assert "<b>21</b> tokens" in portuguese.html and "Giros grátis restantes hoje" in portuguese.text
    assert "<b>21</b> токен" in russian.html and "токенов" not in russian.html.split("\n")[0]
    assert "/pull <шаблон>" in usage.text


async def test_group_language_refuses_what_is_not_shipped_and_clears(fake: FakeBotApi, tmp_path: Path) -> None:
    ana = speaking(fake.user(5301, "Ana"), "es")
    group = fake.group_chat()
    fake.admins[(group["id"], ana["id"])] = "creator"
    async with running_bot(fake, tmp_path) as bot:
        await fake.push_text(fake.private_chat(ana), ana, "/start")
        await fake.push_text(group, ana, "/config language klingon")
        refused = await fake.wait_for_message(ana["id"], "⚠️")
        await fake.push_text(group, ana, "/config language ru")
        await fake.wait_for_message(ana["id"], "Настройки группы")  # /config answers go privately
        await fake.push_text(group, ana, "/config language default")
        cleared = await fake.wait_for_message(ana["id"], "idioma por defecto otra vez")
        stored = await bot.app.service.community_language(CommunityRef("telegram", str(group["id"]), ""))
    assert "language acepta uno de en, es, pt_BR, ru, o default" in refused.text
    assert "klingon" not in refused.text.split(":", 1)[0]
    assert stored is None and "Ajustes de este grupo" in cleared.text  # back to Ana's own language


async def test_command_menus_are_published_in_every_language(fake: FakeBotApi, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        pass
    for locale in LOCALES:
        code = "" if locale == "en" else locale.split("_")[0]
        private = fake.localized_commands[("all_private_chats", code)]
        group = fake.localized_commands[("all_group_chats", code)]
        assert {c["command"] for c in group} < {c["command"] for c in private}
        assert all(1 <= len(c["description"]) <= 256 for c in private + group)
    described = {
        code: {c["command"]: c["description"] for c in fake.localized_commands[("all_private_chats", code)]}
        for code in ("", "es", "pt", "ru")
    }
    assert described[""]["streak"] == "Your daily pull streak"
    assert described["es"]["streak"] == "Tu racha diaria de tiradas"
    assert described["pt"]["streak"] == "Sua sequência diária de giros"
    assert described["ru"]["streak"] == "Твоя ежедневная серия круток"
    assert described["es"]["balance"] == "tus tokens, tiradas gratis de hoy y tu límite diario"


# The main flows every front end runs in the pseudo-locale (the console's run: tests/bot/test_console.py).
MAIN_FLOWS = ("/help", "/balance", "/odds ^a", "/pull ^a", "/pull ^b btc 10", "/history", "/topup")


async def test_the_main_flows_in_the_pseudo_locale_fit_and_parse(fake: FakeBotApi, tmp_path: Path) -> None:
    """Every answer of the main flows, 40% longer and accented, still parses as Telegram HTML and fits."""
    from tests.telegram.fake_bot_api import parse_telegram_html, utf16_len

    xavi = speaking(fake.user(5401, "Xavi"), "en-XA")
    group = fake.group_chat(title="Pseudo Lounge")
    chat = fake.private_chat(xavi)
    async with running_bot(fake, tmp_path):
        for command in MAIN_FLOWS:
            await fake.push_text(chat, xavi, command)
        await fake.push_text(group, xavi, "/pull ^c")
        await fake.push_text(group, xavi, "/leaderboard")
        await fake.wait_for(
            lambda: len([m for m in fake.messages_in(chat["id"]) if "ƒöŕ ýöûŕ éýéš öñļý" in m.text]) == 3, timeout=30
        )  # the keys of the three pulls, in the person's (pseudo) language
        await fake.wait_for(lambda: [m for m in fake.messages_in(group["id"]) if "Ŕåŕéšţ þûļļš" in m.text], timeout=30)
    sent = [m for m in fake.messages_in(chat["id"]) + fake.messages_in(group["id"]) if m.data["from"]["is_bot"]]
    assert len(sent) >= 10
    for message in sent:
        text, _links = parse_telegram_html(message.html or message.text)
        assert utf16_len(message.text) <= 4096 and utf16_len(text) <= 4096
        assert "·" in message.text or not any(c.isalpha() and c.isascii() for c in message.text.split()[0]), (
            message.text[:80]
        )


async def test_in_a_spanish_group_a_russian_members_private_answers_are_in_russian(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    """Personal answers to commands typed in a group (a refusal, /balance, the key's DM) are in the person's own
    language; what the group sees (the pointer, the reveal) in the group's (docs/i18n.md)."""
    ana, ivan = speaking(fake.user(5501, "Ana"), "es"), speaking(fake.user(5502, "Ivan"), "ru")
    group = fake.group_chat(title="Los Vanidosos")
    fake.admins[(group["id"], ana["id"])] = "creator"
    cyrillic = {chr(c) for c in range(0x430, 0x450)}
    async with running_bot(fake, tmp_path) as bot:
        await bot.app.service.grant(UserRef("telegram", str(ivan["id"])), 5)
        await fake.push_text(fake.private_chat(ana), ana, "/start")
        await fake.push_text(fake.private_chat(ivan), ivan, "/start")
        await fake.push_text(group, ana, "/config language es")
        await fake.wait_for_message(ana["id"], "Ajustes de este grupo")
        await fake.push_text(group, ivan, "/pull ^0OI")  # refused: not a btc address's alphabet
        refusal = await fake.wait_for_message(ivan["id"], "⚠️")
        pointer = await fake.wait_for_message(group["id"], "⚠️")
        await fake.push_text(group, ivan, "/balance")
        balance = await fake.wait_for_message(ivan["id"], "💰")
        await fake.push_text(group, ivan, "/pull ^a")
        reveal = await fake.wait_for_message(group["id"], " tiró ")
        await fake.wait_for(lambda: [m for m in fake.messages_in(ivan["id"]) if "WIF" in m.text])
    assert cyrillic & set(refusal.text), refusal.text  # the refusal, privately: Russian
    assert pointer.text == "⚠️ Eso no funcionó: te conté por qué en privado."  # the group's pointer: Spanish
    assert "<b>5</b> токен" in balance.html, balance.html
    assert not cyrillic & set(reveal.text) and "Probabilidad" in reveal.text  # the public reveal: Spanish
    keys = [m for m in fake.messages_in(ivan["id"]) if "WIF" in m.text]
    assert keys and all(cyrillic & set(m.text.split("\n")[0]) for m in keys), [m.text for m in keys]  # Russian


async def test_a_spanish_groups_folded_reveals_are_titled_in_spanish(fake: FakeBotApi, tmp_path: Path) -> None:
    """Reveals folded into a digest in a busy group: the digest's title is written by the group's queue, later,
    and is in the group's language, not in the language of whoever's update happened to start that queue."""
    fake.group_limit, fake.group_window_s = 2, 2.0  # Telegram's 20 a minute, scaled down
    ana = speaking(fake.user(5601, "Ana"), "es")
    crowd = [speaking(fake.user(5610 + i, f"P{i}"), "en") for i in range(8)]
    group = fake.group_chat(title="Los Vanidosos")
    fake.admins[(group["id"], ana["id"])] = "creator"
    limits = OutboxLimits(group_messages=2, group_window_s=2.0)
    async with running_bot(fake, tmp_path, config={"outbox": limits, "heavy_concurrency": 2}) as running:
        await fake.push_text(fake.private_chat(ana), ana, "/start")
        await fake.push_text(group, ana, "/config language es")
        await fake.wait_for_message(ana["id"], "Ajustes de este grupo")
        for person in crowd:
            await fake.push_text(fake.private_chat(person), person, "/start")
            await fake.push_text(group, person, "/pull ^a")
        await fake.wait_for(lambda: reveals_in_spanish(fake, group["id"]) >= len(crowd), timeout=60)
        await running.handlers.outbox.idle()
    digests = [m.text for m in fake.messages_in(group["id"]) if m.text.startswith("🎰") and "\n• " in m.text]
    assert digests, "the busy group folded some reveals"
    assert all(" más:" in text.split("\n")[0] and "more" not in text for text in digests), digests


def reveals_in_spanish(fake: FakeBotApi, chat_id: int) -> int:
    count = 0
    for message in fake.messages_in(chat_id):
        if " tiró " in message.text:
            count += 1
        elif "\n• " in message.text:
            count += message.text.count("\n• ")
    return count
