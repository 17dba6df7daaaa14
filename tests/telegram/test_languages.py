"""Languages on Telegram, end to end on the fake: a group's language set by its admin, each person's own
language in private, command menus per language."""

from __future__ import annotations

from pathlib import Path

from bot.answers import CommunityRef, UserRef
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
