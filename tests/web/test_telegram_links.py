"""Telegram: the Mini App's web_app button in /profile and on private reveals, the calculator linked from /odds."""

from __future__ import annotations

from pathlib import Path

from tests.telegram.conftest import fake  # noqa: F401  (the fake Bot API, as the Telegram tests use it)
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.harness import running_bot

PUBLIC = {"public_url_configured": True, "public_base_url": "https://keys.example"}
APP_URL = "https://keys.example/web/app"


def _web_apps(message: object) -> list[str]:
    return [b["web_app"]["url"] for b in message.buttons() if "web_app" in b]  # type: ignore[attr-defined]


async def test_collection_button_in_profile_and_private_reveals_only(fake: FakeBotApi, tmp_path: Path) -> None:
    ivy = fake.user(4901, "Ivy")
    group, private = fake.group_chat(), fake.private_chat(ivy)
    async with running_bot(fake, tmp_path, settings=PUBLIC):
        await fake.push_text(private, ivy, "/start")
        await fake.push_text(private, ivy, "/pull ^a")
        private_reveal = await fake.wait_for_message(ivy["id"], " pulled ")
        await fake.push_text(group, ivy, "/pull ^a")
        group_reveal = await fake.wait_for_message(group["id"], " pulled ")
        await fake.push_text(group, ivy, "/profile")
        profile = await fake.wait_for_message(ivy["id"], "👤")
        await fake.push_text(private, ivy, "/odds ^Love")
        odds = await fake.wait_for_message(ivy["id"], "Odds for")
    assert _web_apps(private_reveal) == [APP_URL] and _web_apps(profile) == [APP_URL]
    assert _web_apps(group_reveal) == []  # Telegram takes web_app buttons in private chats only
    assert 'href="https://keys.example/web/odds?format=btc&amp;pattern=%5ELove"' in (odds.html or "")
    assert "https://keys.example/web/odds?" in (group_reveal.html or "")


async def test_no_button_or_link_without_a_public_address(fake: FakeBotApi, tmp_path: Path) -> None:
    kim = fake.user(4902, "Kim")
    private = fake.private_chat(kim)
    async with running_bot(fake, tmp_path):
        await fake.push_text(private, kim, "/start")
        await fake.push_text(private, kim, "/profile")
        profile = await fake.wait_for_message(kim["id"], "👤")
        await fake.push_text(private, kim, "/odds ^Love")
        odds = await fake.wait_for_message(kim["id"], "Odds for")
    assert _web_apps(profile) == [] and "/web/odds" not in (odds.html or "")


async def test_profile_hide_unnames_the_person(fake: FakeBotApi, tmp_path: Path) -> None:
    from bot.answers import UserRef
    from bot.community import visibility

    lou = fake.user(4903, "Lou")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path, settings=PUBLIC) as running:
        await fake.push_text(fake.private_chat(lou), lou, "/start")
        await fake.push_text(group, lou, "/profile share")
        await fake.wait_for_message(group["id"], "👤")
        shown = await visibility.is_shown(running.app.db, UserRef("telegram", str(lou["id"])))
        await fake.push_text(group, lou, "/profile hide")
        hidden = await fake.wait_for_message(lou["id"], "no longer shows")
        after = await visibility.is_shown(running.app.db, UserRef("telegram", str(lou["id"])))
    assert shown and not after and "👤" in hidden.text
