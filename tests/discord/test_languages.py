"""Languages on Discord: answers in the interaction's locale, public reveals in the server's language, slash
commands described in every shipped language; and every embed, message and button within Discord's limits in
every locale and the pseudo-locale (rendered in-process at the longest inputs)."""

from __future__ import annotations

from collections.abc import Iterator

import discord
import pytest

from bot.answers import (
    BalanceAnswer,
    CardAnswer,
    ConfigAnswer,
    DeliveredSecret,
    HistoryAnswer,
    HistoryEntry,
    KeyDelivery,
    KeysAnswer,
    LeaderboardAnswer,
    OrderAnswer,
    ProfileAnswer,
    ProfilePull,
    SeasonLeaderboardAnswer,
    TopupAnswer,
    TopupPack,
)
from bot.command_refs import use_command_writer
from bot.frontends.discord import rendering
from bot.frontends.discord.mentions import usage
from bot.frontends.discord.permissions import missing_permissions_text
from bot.frontends.discord.views import PatternRequest, confirm_view, easy_pattern_view, link_view, reveal_view
from gpu_worker.i18n import LOCALES, PSEUDO, use_locale
from tests.discord.conftest import Harness
from tests.discord.fake_discord import ALL_PERMISSIONS, MANAGE_GUILD
from tests.discord.test_commands import answer_to
from tests.discord.test_pulls import reveal_of, secrets_in_dms
from tests.telegram.test_limits_per_locale import (
    GROUP,
    NAME,
    ODDS,
    PATTERN,
    STREAK,
    TITLE,
    USER,
    WHEN,
    config_answer,
    entries,
    help_answer,
    key,
    order,
    pull,
)

EVERY_LOCALE = (*LOCALES, PSEUDO)
DISCORD_LOCALES = ("es-ES", "es-419", "pt-BR", "ru")  # Discord's locales for the shipped languages


def mention(name: str) -> str:
    """A command's mention with the longest id a snowflake has."""
    return f"</{name}:{'9' * 20}>"


async def test_a_spanish_server_sees_the_reveal_in_spanish_and_each_person_answers_in_their_own(
    harness: Harness,
) -> None:
    fake = harness.fake
    fake.guild_locale = "es-ES"
    lara, ivan = fake.add_user("lara"), fake.add_user("ivan")
    fake.locales |= {lara.id: "es-419", ivan.id: "ru"}
    await fake.slash(ivan, "pull", {"pattern": "^ab"})
    reveal = (await fake.wait_for(lambda: reveal_of(fake, ivan), timeout=30))[0]["embeds"][0]
    dm = (await fake.wait_for(lambda: fake.dms_to(ivan.id)))[0]["content"]
    balance = await answer_to(fake, await fake.slash(lara, "balance"))
    own = await answer_to(fake, await fake.slash(ivan, "balance"))
    assert " tiró ^ab " in reveal["author"]["name"]  # the server's language, whoever pulled
    assert {f["name"] for f in reveal["fields"]} >= {"Puntos", "Rareza"}
    assert "clave privada por MD" in reveal["footer"]["text"]
    assert "Tiradas gratis hoy" in {f["name"] for f in balance["embeds"][0]["fields"]}
    assert "Бесплатные крутки сегодня" in {f["name"] for f in own["embeds"][0]["fields"]}
    assert dm.startswith("🔑 **Твоя крутка**"), "the key's DM: the puller's own language"


async def test_config_language_sets_the_servers_reveals(harness: Harness) -> None:
    fake = harness.fake
    admin = fake.add_user("admin", permissions=ALL_PERMISSIONS | MANAGE_GUILD)
    set_it = await answer_to(fake, await fake.slash(admin, "config", {"setting": "language", "value": "pt-br"}))
    sam = fake.add_user("sam")
    await fake.slash(sam, "pull", {"pattern": "^ab"})
    reveal = (await fake.wait_for(lambda: reveal_of(fake, sam), timeout=30))[0]["embeds"][0]
    await fake.wait_for(lambda: secrets_in_dms(fake, sam))
    assert "language set to Português (Brasil) (pt\\_BR)" in set_it["embeds"][0]["description"]  # the admin's English
    assert " girou ^ab " in reveal["author"]["name"]


async def test_slash_commands_are_described_in_every_language(harness: Harness) -> None:
    fake = harness.fake
    await answer_to(fake, await fake.slash(fake.owner, "sync"))
    synced = {c["name"]: c for c in fake.commands["global"]}
    pull = synced["pull"]
    assert pull["description_localizations"]["es-ES"].startswith("Genera claves y revela")
    assert pull["description_localizations"]["pt-BR"].startswith("Gera chaves")
    assert pull["description_localizations"]["ru"].startswith("Перебрать ключи")
    assert pull["name_localizations"] == {"es-ES": "tirar", "es-419": "tirar", "pt-BR": "girar", "ru": "крутить"}
    count = next(o for o in pull["options"] if o["name"] == "count")
    assert {c["name_localizations"]["es-ES"] for c in count["choices"]} == {"1 tirada", "tirada x10"}
    for command in synced.values():
        texts = (
            [command]
            + command.get("options", [])
            + [c for o in command.get("options", []) for c in o.get("choices", [])]
        )
        for item in texts:
            for text in (item.get("description_localizations") or {}).values():
                assert 1 <= len(text) <= 100, (command["name"], text)
            for text in (item.get("name_localizations") or {}).values():
                assert 1 <= len(text) <= 100, (command["name"], text)
        assert set(command.get("description_localizations") or {}) == set(DISCORD_LOCALES), command["name"]


# --- Discord's limits, every locale ---------------------------------------------------------------------------

EMBED_LIMITS = {
    "title": 256,
    "description": 4096,
    "field name": 256,
    "field value": 1024,
    "footer": 2048,
    "author": 256,
    "fields": 25,
    "total": 6000,
}


def embeds() -> Iterator[tuple[str, discord.Embed]]:
    for count in (1, 10):
        yield f"pull x{count}", rendering.pull_embed(pull(count), NAME, None)
    for step in range(4):
        yield "rolling", rendering.rolling_embed(NAME, step)
    for status in ("accepted", "running", "found", "delivered", "failed", "refunded"):
        yield f"order {status}", rendering.order_embed(order(status, status in ("found", "delivered")))
    yield "odds", rendering.odds_embed(ODDS)
    yield (
        "odds, orderable",
        rendering.odds_embed(type(ODDS)(**{**ODDS.__dict__, "order_price": 10**9, "order_refusal": None})),
    )
    yield (
        "balance",
        rendering.balance_embed(BalanceAnswer(USER, 10**12, 10**12, True, 10**6, 10**6, 10**12, 10**12, 10**6, 10**7)),
    )
    packs = tuple(TopupPack("p" * 32, 10**9, "$" + "9" * 12) for _ in range(8))
    yield "topup", rendering.topup_embed(TopupAnswer(True, "m" * 300, None, None, packs))
    yield (
        "history",
        rendering.history_embed(
            HistoryAnswer(USER, tuple(HistoryEntry(WHEN, "purchase", -(10**12), "d" * 100) for _ in range(25)), 10**12)
        ),
    )
    yield "leaderboard", rendering.leaderboard_embed(LeaderboardAnswer(GROUP, entries()))
    yield "season", rendering.season_embed(SeasonLeaderboardAnswer(None, "2026-W53", WHEN, WHEN, entries()))
    yield (
        "profile",
        rendering.profile_embed(
            ProfileAnswer(
                USER,
                GROUP,
                tuple(ProfilePull(key(), PATTERN, WHEN, TITLE) for _ in range(5)),
                10**9,
                STREAK,
                "2026-W53",
                10**6,
                True,
            )
        ),
    )
    config = config_answer()
    yield "config", rendering.config_embed(ConfigAnswer(config.config, "language", config.message, config.lines))
    yield "card", rendering.card_embed(CardAnswer(key(), PATTERN, "did", b"", 1, 1, "x.png"), "x.png")
    yield "help", rendering.help_embed(help_answer(), lambda name: usage(None, name), mention)


def texts() -> Iterator[tuple[str, str]]:
    accepted = OrderAnswer(order("accepted", False), 10**12, 1e12, "n" * 300)
    yield "receipt", rendering.order_receipt_text(accepted)
    for status in ("delivered", "found", "failed"):
        yield (
            f"finished {status}",
            rendering.order_finished_text(order(status, status != "failed"), "<@" + "9" * 19 + ">"),
        )
    yield "closed dms", rendering.closed_dms_text()
    yield "keys", rendering.keys_text(KeysAnswer(("a",) * 10, ("b",) * 10, "k" * 300))
    yield (
        "missing permissions",
        missing_permissions_text(
            ["View Channel", "Send Messages", "Embed Links", "Attach Files", "Read Message History"]
        ),
    )
    yield "error", rendering.error_text("e" * 3000)
    secret = DeliveredSecret(
        "did:key:zQ3sh" + "Z" * 44,
        "offset",
        "hex",
        "ab" * 32,
        jwk="{" + "j" * 300 + "}",
        score=44,
        max_score=44,
        tier="Mythic",
    )
    for kind in ("pull", "order"):
        for text in rendering.delivery_messages(KeyDelivery("job", kind, "did", PATTERN, (secret,) * 10, "n" * 500)):
            yield f"delivery {kind}", text


def embed_sizes(embed: discord.Embed) -> dict[str, int]:
    data = embed.to_dict()
    fields = data.get("fields", [])
    sizes = {
        "title": len(data.get("title", "")),
        "description": len(data.get("description", "")),
        "footer": len(data.get("footer", {}).get("text", "")),
        "author": len(data.get("author", {}).get("name", "")),
        "field name": max((len(f["name"]) for f in fields), default=0),
        "field value": max((len(f["value"]) for f in fields), default=0),
        "fields": len(fields),
    }
    sizes["total"] = (
        sizes["title"]
        + sizes["description"]
        + sizes["footer"]
        + sizes["author"]
        + sum(len(f["name"]) + len(f["value"]) for f in fields)
    )
    assert all(f["name"] and f["value"] for f in fields), "Discord refuses an empty field"
    return sizes


@pytest.mark.parametrize("locale", EVERY_LOCALE)
def test_every_embed_and_message_fits_discord_in_every_locale(locale: str) -> None:
    seen = 0
    with use_locale(locale), use_command_writer(mention):  # commands as the longest they are written: mentions
        for what, embed in embeds():
            for limit_name, size in embed_sizes(embed).items():
                assert size <= EMBED_LIMITS[limit_name], (locale, what, limit_name, size)
            seen += 1
        mentioned = 0
        for what, text in texts():
            assert 1 <= len(text) <= rendering.MAX_MESSAGE, (locale, what, len(text))
            seen += 1
            mentioned += mention("keys") in text
    assert seen > 30
    assert mentioned >= 3, "the closed-DMs, keys and order texts were measured with a mention in them"


@pytest.mark.parametrize("locale", EVERY_LOCALE)
def test_every_button_fits_discord_in_every_locale(locale: str) -> None:
    request = PatternRequest("^" + "Ab" * 20, "did", True, True)
    with use_locale(locale):
        views = [
            reveal_view(request),
            confirm_view(request, 2**63 - 1, 10**12),
            easy_pattern_view(request, 2**63 - 1, 10),
            link_view("Pay $999,999.99 for 1,000,000,000 tokens", "https://checkout.example/" + "c" * 300),
        ]
    buttons = [getattr(item, "item", item) for view in views if view is not None for item in view.children]
    assert len(buttons) >= 6
    for button in buttons:
        assert 1 <= len(button.label or "") <= 80, (locale, button.label)
        assert button.custom_id is None or len(button.custom_id) <= 100


@pytest.mark.parametrize("locale", [loc for loc in EVERY_LOCALE if loc != "en"])
def test_the_measured_text_is_really_translated(locale: str) -> None:
    with use_locale(locale):
        embed = rendering.balance_embed(BalanceAnswer(USER, 5, 0, False, 1, 2, 3, 4, 5, 6))
    assert "Free pulls today" not in {f.name for f in embed.fields}
