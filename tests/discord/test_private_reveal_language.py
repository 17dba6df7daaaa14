"""A reveal sent privately because the bot cannot post in the channel is the person's, in the person's language:
nobody else sees it, so the server's language (here Spanish) has no part in it."""

from __future__ import annotations

from bot.frontends.discord.permissions import missing_permissions_text
from gpu_worker.i18n import use_locale
from tests.discord.conftest import Harness
from tests.discord.fake_discord import ALL_PERMISSIONS, SEND_MESSAGES
from tests.discord.test_pulls import secrets_in_dms


async def test_a_reveal_sent_privately_for_lack_of_permissions_is_in_the_persons_language(harness: Harness) -> None:
    fake = harness.fake
    fake.guild_locale = "es-ES"
    fake.bot_permissions = ALL_PERMISSIONS & ~SEND_MESSAGES
    ivan = fake.add_user("ivan")
    fake.locales[ivan.id] = "ru"
    await fake.slash(ivan, "pull", {"pattern": "^ab"})
    [reveal] = await fake.wait_for(lambda: [m for m in fake.ephemeral_messages(ivan.id) if m["embeds"]], timeout=30)
    embed = reveal["embeds"][0]
    shown = " ".join(
        [embed["author"]["name"], embed.get("footer", {}).get("text", "")]
        + [f"{f['name']} {f['value']}" for f in embed["fields"]]
    )
    with use_locale("ru"):
        note = missing_permissions_text(["Send Messages"])
    assert reveal["content"] == note  # why it is private, in Russian too
    assert " tiró " not in shown and "Rareza" not in shown and "Puntos" not in shown, shown
    assert "Редкость" in shown, shown
    await fake.wait_for(lambda: secrets_in_dms(fake, ivan), timeout=30)
    assert not fake.public_messages()
    # what the service wrote for the reveal (its card, its notes) is in the language the job was placed in
    job = await harness.app.db.fetchone("SELECT locale FROM jobs WHERE kind = 'pull'")
    assert job is not None and job["locale"] == "ru"
