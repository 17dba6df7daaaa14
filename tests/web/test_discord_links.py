"""Discord: /config offers the gallery, and /odds' title links to the calculator when there is a public address."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from tests.discord.conftest import Harness, app, config, discord_settings, fake, harness  # noqa: F401  (Discord's own test fixtures)
from tests.discord.fake_discord import ALL_PERMISSIONS, MANAGE_GUILD


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return discord_settings(tmp_path, public_url_configured=True, public_base_url="https://keys.example")


async def test_gallery_on_from_discord_and_odds_linked(harness: Harness) -> None:
    fake = harness.fake
    boss = fake.add_user("boss", permissions=ALL_PERMISSIONS | MANAGE_GUILD)
    await fake.slash(boss, "config", {"setting": "gallery", "value": "on"})
    await fake.wait_for(lambda: [m for m in fake.ephemeral_messages(boss.id) if m["embeds"]])
    rows = await harness.app.db.fetchall("SELECT gallery, gallery_slug FROM community_settings", ())
    assert [r["gallery"] for r in rows] == [1] and rows[0]["gallery_slug"]
    asked = await fake.slash(boss, "odds", {"pattern": "^Love"})
    shown = (await fake.wait_for(lambda: [m for m in fake.messages_of(asked) if m["embeds"]]))[0]
    assert shown["embeds"][0]["url"] == "https://keys.example/web/odds?format=btc&pattern=%5ELove"


async def test_profile_hide_from_discord(harness: Harness) -> None:
    from bot.community import visibility
    from tests.discord.test_community import ref

    fake = harness.fake
    ada = fake.add_user("ada")
    await fake.slash(ada, "profile", {"share": True})
    await fake.wait_for(lambda: [m for m in fake.public_messages() if m["embeds"]])
    assert await visibility.is_shown(harness.app.db, ref(ada))
    await fake.slash(ada, "profile", {"hide": True})
    await fake.wait_for(lambda: [m for m in fake.ephemeral_messages(ada.id) if m["embeds"]])
    assert not await visibility.is_shown(harness.app.db, ref(ada))
