"""Discord command and option names in every shipped language: valid by Discord's naming rule and unique among
siblings, typed by people in their own language and handled; answers that tell someone to run a command name it
as that person's client shows it (its mention once the ids are known, else the localized /name). Telegram's and
the console's answers keep the English /name."""

from __future__ import annotations

from pathlib import Path

import discord
import pytest
import regex
from discord import app_commands

from bot.answers import ServiceError, UserRef
from bot.app import App, create_app
from bot.command_refs import command
from bot.frontends.discord.config import DiscordConfig
from bot.frontends.discord.translator import COMMAND_NAMES, OPTION_NAMES, CatalogTranslator, valid_name
from gpu_worker.i18n import use_locale
from payments.packs import Pack, PackCatalog
from tests.discord.conftest import Harness, discord_settings, quiet_config, start_bot, stop_bot
from tests.discord.fake_discord import DiscordError, FakeDiscord
from tests.discord.test_commands import answer_to
from tests.discord.test_orders import announcements
from tests.discord.test_pulls import reveal_of, secrets_in_dms

SHIPPED = ("es-ES", "es-419", "pt-BR", "ru")  # Discord's locales for Spanish, Brazilian Portuguese and Russian
# Discord's documented rule (Application Command Naming), with the unicode flag; lower case where a letter has one
DISCORD_NAME = regex.compile(r"^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$")


async def sync(fake: FakeDiscord) -> dict[str, dict]:
    await answer_to(fake, await fake.slash(fake.owner, "sync"))
    return {c["name"]: c for c in fake.commands["global"]}


def shown(item: dict, locale: str) -> str:
    return (item.get("name_localizations") or {}).get(locale, item["name"])


async def test_every_command_and_option_is_named_in_every_shipped_language_by_discords_rule(harness: Harness) -> None:
    synced = await sync(harness.fake)
    assert {c: synced[c]["name_localizations"]["es-ES"] for c in ("pull", "order", "balance", "topup")} == {
        "pull": "tirar",
        "order": "pedir",
        "balance": "saldo",
        "topup": "recargar",
    }
    assert synced["pull"]["name_localizations"]["pt-BR"] == "girar"
    assert synced["pull"]["name_localizations"]["ru"] == "крутить"
    for command_ in synced.values():
        assert set(command_["name_localizations"]) == set(SHIPPED), command_["name"]
        assert {o["name"] for o in command_["options"] if "ru" not in (o.get("name_localizations") or {})} == set()
    for locale in ("en-US", *SHIPPED):
        names = [shown(c, locale) for c in synced.values()]
        assert len(names) == len(set(names)), f"two commands share a name in {locale}"
        for command_ in synced.values():
            options = [shown(o, locale) for o in command_["options"]]
            assert len(options) == len(set(options)), (locale, command_["name"])
            for name in [shown(command_, locale), *options]:
                assert DISCORD_NAME.match(name) and name == name.lower(), (locale, name)


def test_the_marked_names_are_exactly_the_commands_and_options(harness: Harness) -> None:
    """translator.py marks every name for the catalogs: none missing (it would stay English), none left over."""
    commands = [c for c in harness.bot.tree.get_commands() if isinstance(c, app_commands.Command)]
    assert {c.name for c in commands} == set(COMMAND_NAMES)
    assert {p.name for c in commands for p in c.parameters} == set(OPTION_NAMES)


@pytest.mark.parametrize(
    "name",
    ["tirar", "clave_pública", "открытый_ключ", "top-up", "नमस्ते", "สวัสดี", "x" * 32, "10pull"]
    + ["Tirar", "clave pública", "x" * 33, "", "tirar!", "🎰", "a/b", "ÉCLAIR"],
)
def test_valid_name_agrees_with_discords_regex(name: str) -> None:
    assert valid_name(name) == bool(DISCORD_NAME.match(name) and name == name.lower())


async def test_a_catalog_name_discord_would_refuse_is_not_published(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.frontends.discord import translator

    monkeypatch.setattr(translator, "pgettext", lambda context, message: "Tirar Ya")
    context = app_commands.TranslationContext(app_commands.TranslationContextLocation.command_name, None)
    shown_name = await CatalogTranslator().translate(
        app_commands.locale_str("pull"), discord.Locale.spain_spanish, context
    )
    assert shown_name is None, "an invalid translation would make Discord refuse the whole sync"


def test_the_fake_refuses_the_names_discord_refuses(fake: FakeDiscord) -> None:
    base = {"type": 1, "description": "d", "options": []}
    with pytest.raises(DiscordError, match="INVALID_NAME"):
        fake._sync("global", [base | {"name": "pull", "name_localizations": {"es-ES": "Tirar"}}])
    with pytest.raises(DiscordError, match="DUPLICATE_NAME"):
        fake._sync(
            "global",
            [
                base | {"name": "pull", "name_localizations": {"es-ES": "tirar"}},
                base | {"name": "throw", "name_localizations": {"es-ES": "tirar"}},
            ],
        )


async def test_a_spanish_person_types_the_spanish_command_and_option_and_it_runs(harness: Harness) -> None:
    fake = harness.fake
    await sync(fake)
    lara = fake.add_user("lara")
    fake.locales[lara.id] = fake.guild_locale = "es-ES"
    with pytest.raises(LookupError):
        await fake.type_command(lara, "pull", {"pattern": "^ab"})  # her client shows /tirar, not /pull
    await fake.type_command(lara, "tirar", {"patrón": "^ab", "cantidad": 1, "mayúsculas": False})
    reveal = (await fake.wait_for(lambda: reveal_of(fake, lara), timeout=30))[0]["embeds"][0]
    await fake.wait_for(lambda: secrets_in_dms(fake, lara))
    assert " tiró ^ab " in reveal["author"]["name"]


async def test_a_spanish_help_names_each_command_as_her_client_shows_it(harness: Harness) -> None:
    fake = harness.fake
    lara = fake.add_user("lara")
    fake.locales[lara.id] = "es-ES"
    before = await answer_to(fake, await fake.slash(lara, "help"))  # nothing published yet: only /help's id known
    fields = {f["name"]: f["value"] for f in before["embeds"][0]["fields"]}
    assert "/tirar <patrón> [formato] [cantidad] [mayúsculas] [parecidos]" in fields
    assert "/saldo" in fields and not fields["/saldo"].startswith("</")
    synced = await sync(fake)
    after = await answer_to(fake, await fake.slash(lara, "help"))
    values = [f["value"] for f in after["embeds"][0]["fields"]]
    pull_id = synced["pull"]["id"]
    assert any(v.startswith(f"</pull:{pull_id}> · ") for v in values), values
    assert synced["pull"]["name_localizations"]["es-ES"] == "tirar"  # what her client draws that mention as


async def test_a_spanish_refusal_names_the_commands_by_mention_once_known(harness: Harness) -> None:
    fake = harness.fake
    lara = fake.add_user("lara")
    fake.locales[lara.id] = "es-ES"
    plain = await answer_to(fake, await fake.slash(lara, "card"))  # only /card's own id is known (it ran)
    assert "/tirar " in plain["content"] and "</pull:" not in plain["content"], plain["content"]
    synced = await sync(fake)
    refused = await answer_to(fake, await fake.slash(lara, "card"))
    text = refused["content"]
    assert f"</pull:{synced['pull']['id']}>" in text and f"</card:{synced['card']['id']}>" in text, text
    assert "/pull" not in text.replace(f"</pull:{synced['pull']['id']}>", "")


async def test_ids_published_before_are_fetched_when_the_bot_starts(fake: FakeDiscord, app: App) -> None:
    config = DiscordConfig(command_cooldown_s=0.0, guild_ready_timeout_s=0.05)
    first, task = await start_bot(fake, app, config)
    try:
        synced = await sync(fake)
    finally:
        await stop_bot(first, task)
    second, task = await start_bot(fake, app, config)
    try:
        lee = fake.add_user("lee")
        await fake.wait_for(lambda: second.mentions.mention("pull"))
        answer = await answer_to(fake, await fake.slash(lee, "help"))
        assert any(f["value"].startswith(f"</pull:{synced['pull']['id']}> · ") for f in answer["embeds"][0]["fields"])
    finally:
        await stop_bot(second, task)


async def test_telegram_and_the_console_keep_the_english_slash_command(app: App) -> None:
    """Outside Discord the writer is /name, in every language: Telegram command names are English."""
    user = UserRef("telegram", "1", "Ana")
    with pytest.raises(ServiceError) as refused:
        await app.service.card(user, None)
    assert str(refused.value) == "you have no pulls yet: /pull a pattern first, then /card"
    with use_locale("es"):
        assert command("topup") == "/topup"
        with pytest.raises(ServiceError) as refused:
            await app.service.card(user, None)
    assert "/pull" in str(refused.value) and "/card" in str(refused.value) and "tirar" not in str(refused.value)


async def test_a_command_named_in_a_localized_description_is_that_languages_name(harness: Harness) -> None:
    """A description may point at another command ("from /history"): in Spanish it says /historial."""
    synced = await sync(harness.fake)
    pointed = 0
    for locale in SHIPPED:
        names = {shown(c, locale) for c in synced.values()}
        for command_ in synced.values():
            for item in [command_, *command_["options"]]:
                text = (item.get("description_localizations") or {}).get(locale, item["description"])
                for word in regex.findall(r"(?<![\w/])/(\w+)", text):
                    assert word in names, (locale, command_["name"], text)
                    pointed += 1
    assert pointed >= len(SHIPPED), "the /card option names /history: the check saw it"


def test_mentions_prefer_the_servers_own_copy_and_fall_back_to_the_localized_name() -> None:
    from types import SimpleNamespace

    from bot.frontends.discord.mentions import CommandMentions

    mentions = CommandMentions()
    with use_locale("ru"):
        assert mentions.refer("pull") == "/крутить"
        assert mentions.refer("config language") == "/настройки language"  # no such option name: kept
    mentions.learn([SimpleNamespace(name="pull", id=11), SimpleNamespace(name="config", id=12)])  # type: ignore[list-item]
    mentions.learn([SimpleNamespace(name="pull", id=21)], guild_id=5)  # type: ignore[list-item]
    assert mentions.refer("pull") == "</pull:11>"
    assert mentions.refer("pull", guild_id=5) == "</pull:21>"
    assert mentions.refer("config language", guild_id=5) == "</config language:12>"
    assert mentions.writer(5)("pull") == "</pull:21>"


async def test_a_spanish_hint_keeps_its_command_readable_through_markdown_escaping(harness: Harness) -> None:
    """Embeds escape the service's messages: a mention, or the plain /name, comes through as it is."""
    fake = harness.fake
    lara = fake.add_user("lara")
    fake.locales[lara.id] = "es-ES"
    harness.app.service.checkout = _FakeCheckout()  # type: ignore[assignment]

    async def refusal() -> str:  # /odds for a pattern too hard to order points at /pull
        odds = await answer_to(fake, await fake.slash(lara, "odds", {"pattern": "^" + "Ab" * 12}))
        return next(f["value"] for f in odds["embeds"][0]["fields"] if "tirar" in f["value"] or "</pull" in f["value"])

    plain = await refusal()
    synced = await sync(fake)
    shown = await refusal()
    topup = (await answer_to(fake, await fake.slash(lara, "topup")))["embeds"][0]["description"]
    assert "/tirar " in plain and "\\" not in plain, plain
    assert f"</pull:{synced['pull']['id']}> " in shown, shown
    assert f"</topup:{synced['topup']['id']}> <" in topup, topup


class _FakeCheckout:
    """Packs on sale, no payment page needed: /topup without a pack lists them with the hint to pick one."""

    packs = PackCatalog((Pack("500", 500, 499, "usd"),))

    async def create_checkout(self, platform: str, user_id: str, pack_id: str) -> object:
        raise AssertionError("no pack is bought here")


async def test_an_order_finished_after_a_restart_names_keys_by_its_mention(fake: FakeDiscord, tmp_path: Path) -> None:
    """The recovered order's task runs outside any interaction: its notice still writes commands Discord's way."""
    settings = discord_settings(tmp_path, job_lease_s=1.0)
    async with create_app(settings) as app:
        bot, task = await start_bot(fake, app, quiet_config())
        try:
            synced = await sync(fake)
            rex = fake.add_user("rex")
            await app.service.grant(UserRef("discord", str(rex.id), "Rex"), 1000)
            interaction = await fake.slash(rex, "order", {"pattern": "^abc"})
            await fake.wait_for(lambda: interaction.original_id and fake.messages[interaction.original_id].get("edits"))
        finally:
            await stop_bot(bot, task)
    async with create_app(settings) as app:
        bot, task = await start_bot(fake, app, quiet_config())
        try:
            notice = (await fake.wait_for(lambda: announcements(fake, rex), timeout=60))[0]["content"]
            await fake.wait_for(lambda: fake.dms_to(rex.id), timeout=30)
        finally:
            await stop_bot(bot, task)
    assert f"</keys:{synced['keys']['id']}>" in notice, notice


async def test_a_servers_own_commands_are_learned_from_the_interactions_that_run_them(
    fake: FakeDiscord, app: App
) -> None:
    """Commands synced to one server only are not in the global list a new bot fetches: the first one someone runs
    there tells its id (and server), as Discord's interaction data does."""
    config = DiscordConfig(command_cooldown_s=0.0, guild_ready_timeout_s=0.05)
    first, task = await start_bot(fake, app, config)
    try:
        await answer_to(fake, await fake.slash(fake.owner, "sync", {"scope": "here"}))
    finally:
        await stop_bot(first, task)
    here = {c["name"]: c for c in fake.commands[str(fake.guild_id)]}
    second, task = await start_bot(fake, app, config)
    try:
        lara = fake.add_user("lara")
        fake.locales[lara.id] = "es-ES"
        answer = await answer_to(fake, await fake.type_command(lara, "ayuda"))
    finally:
        await stop_bot(second, task)
    values = [f["value"] for f in answer["embeds"][0]["fields"]]
    assert any(v.startswith(f"</help:{here['help']['id']}> · ") for v in values), values
    assert not fake.commands.get("global")
