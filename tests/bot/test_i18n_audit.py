"""The i18n audit: every command and its common outcomes, run on the Telegram fake, the Discord fake and the console
in the pseudo-locale (en_XA: every catalog message accented and padded with "·"), and every text that reaches a
person (messages, captions, embeds, buttons, pop-ups, DMs, invoices, what a card draws) checked for English words
that did not come through the catalogs. In en_XA no catalog text keeps a plain ASCII letter, bar its placeholders'
values (names, patterns, addresses, figures) and /commands, so an English word left there slipped past `_()`."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from bot.app import App
from gpu_worker.formats import FORMATS
from gpu_worker.i18n import LOCALE_DIR, NAMES, PSEUDO, current

# What a person reads in the platforms' request bodies (Telegram parameters, Discord JSON): texts, captions, titles,
# embed fields/footers/authors, button labels, select placeholders, pop-up answers, invoice texts and refusals.
SEEN_KEYS = frozenset(
    {"text", "caption", "title", "description", "label", "content", "name", "value", "error_message", "placeholder"}
)
# Values that are not words of the catalog's: Babel's English calendar for the pseudo-locale's dates, the formats
# people type (docs/i18n.md "Stable output"), and the language names /config language lists (each in its own).
ALLOWED = frozenset(
    {"mon", "tue", "wed", "thu", "fri", "sat", "sun", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug"}
    | {"sep", "oct", "nov", "dec", "btc", "eth", "sol", "trx", "ltc", "doge", "wif", "hex"}
    | {word.lower() for name in NAMES.values() for word in re.findall(r"[A-Za-z]+", name)}
    | {word.lower() for f in FORMATS.values() for word in re.findall(r"[A-Za-z]+", f"{f.id} {f.title}")}
    | {"vanikeys"}  # the bot's name
    | {"python", "native", "cpu", "cuda", "gpu", "runpod", "opencl"}  # the grinding backends' ids
)
_MARKUP = re.compile(
    r"https?://\S+"  # links
    r"|</?[a-zA-Z][^<>]*>"  # Telegram HTML tags; Discord mentions (<@1>, </pull:1>, <t:1:R>)
    r"|(?<![\w/])/[a-z_]+"  # /commands (what people type)
    r"|--[a-z][a-z_-]*"  # --options
    r"|\{[a-z_]+\}"  # a placeholder left unfilled would be its own defect, but not English text
    r"|(?m:^(?:• )?[a-z](?:[a-z]|\\?_)*:)"  # /config's setting names (what an admin types) ...
    r"|(?<![\w:])[a-z](?:[a-z]|\\?_)*(?:, [a-z](?:[a-z]|\\?_)*){2,}(?![\w:])"  # ... lists of them, or of formats
)
_WORD = re.compile(r"(?<![\w'])[A-Za-z]+(?:'[a-z]+)?(?![\w])")


@cache
def english_words() -> frozenset[str]:
    """Every word of two letters or more in the catalogs' English source (msgids), lower-cased."""
    with (LOCALE_DIR / "vanikeys.pot").open("rb") as source:
        catalog = read_po(source)
    words: set[str] = set()
    for message in catalog:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        for text in ids:
            words |= {w.lower() for w in _WORD.findall(_MARKUP.sub(" ", text)) if len(w) >= 2}
    return frozenset(words - ALLOWED)


def leftovers(text: str, inserted: Iterable[str] = ()) -> list[str]:
    """The runs of English in `text` that no catalog message wrote: a word of the catalogs' English (4+ letters,
    or 3 beside another; 2-letter ones only inside a run), once the values the test inserted (`inserted`: names,
    patterns) and markup are gone."""
    shown = _MARKUP.sub(" ", html.unescape(text))
    for value in sorted(inserted, key=len, reverse=True):
        shown = shown.replace(value, " ")
    vocabulary = english_words()
    runs: list[list[str]] = [[]]
    for token in re.split(r"(\s+)", shown):
        words = _WORD.findall(token) if token.strip() else []
        english = [w for w in words if w.lower().split("'")[0] in vocabulary]
        if english and len(english) == len(words):
            runs[-1].extend(english)
        elif token.strip():
            runs.append([])
    return [" ".join(run) for run in runs if max((len(w) for w in run), default=0) >= (3 if len(run) > 1 else 4)]


def seen_texts(value: Any, key: str = "") -> Iterator[str]:
    """Every string under a SEEN_KEYS key in a request body (nested dicts and lists)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from seen_texts(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from seen_texts(item, key)
    elif isinstance(value, str) and key in SEEN_KEYS:
        yield value


def test_the_check_finds_english_and_passes_the_pseudo_locale() -> None:
    """The check itself: plain English is found, pseudo-accented text, inserted values and markup are not."""
    from gpu_worker.i18n import _, use_locale

    with use_locale(PSEUDO):
        accented = _("🎰 {who} pulled <code>{pattern}</code>", who="Xavi", pattern="^Love")
    assert leftovers(accented, ["Xavi", "^Love"]) == []
    assert leftovers("⚠️ Something went wrong on our side") == ["Something went wrong on our side"]
    assert leftovers("String should have at least 1 character") != []
    assert leftovers("ŕåŕîţý: Rarity") == ["Rarity"]
    assert leftovers("šéé /pull åñð https://example.com/odds?lang=en_XA, <b>Sun 07 Dec</b>, 1 btc") == []


class DrawnTexts:
    """What the reveal cards draw (PIL's ImageDraw.text), recorded while a test runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from PIL import ImageDraw

        self.texts: list[str] = []
        original = ImageDraw.ImageDraw.text

        def text(draw: ImageDraw.ImageDraw, xy: Any, text: Any, *args: Any, **kwargs: Any) -> Any:
            if current() == PSEUDO:  # not the card drawn once at start to warm the fonts up
                self.texts.append(str(text))
            return original(draw, xy, text, *args, **kwargs)

        monkeypatch.setattr(ImageDraw.ImageDraw, "text", text)


async def settled(count: Callable[[], int], *, quiet_s: float = 1.0, timeout: float = 30.0) -> None:
    """Wait until `count()` (requests a fake saw) stops growing for `quiet_s`."""
    loop = asyncio.get_running_loop()
    deadline, last, since = loop.time() + timeout, -1, loop.time()
    while loop.time() < deadline:
        now = count()
        if now != last:
            last, since = now, loop.time()
        elif loop.time() - since >= quiet_s:
            return
        await asyncio.sleep(0.1)


def assert_no_english(texts: Iterable[str], inserted: Iterable[str]) -> None:
    values = list(inserted)
    found = {text: leftovers(text, values) for text in texts}
    found = {text[:600]: runs for text, runs in found.items() if runs}
    assert not found, "English that did not come through the catalogs:\n" + "\n".join(
        f"  {runs} in {text!r}" for text, runs in found.items()
    )


TELEGRAM_PRIVATE = (
    "/start",
    "/help",
    "/balance",
    "/odds ^a",
    "/odds",
    "/pull ^a",
    "/pull ^b btc 10",
    "/pull ^0OI",  # refused: not a btc address's alphabet
    "/pull ^Lov doge",  # an unknown format
    "/pull",  # its usage
    "/pull ^a eth 1e3",
    "/pull ^b btc 0",  # a count out of range
    "/history",
    "/topup",
    "/keys",
    "/profile",
    "/streak",
    "/season",
    "/card",
    "/order ^a",
    "/order",
    "/order ^ab btc 02" + "f" * 64,  # not a point on the curve
    "/leaderboard",
    "/paysupport",
    "/refundstars x",  # not an operator
    "/config",
)
TELEGRAM_GROUP = (
    "/pull ^c",
    "/leaderboard",
    "/odds ^ab",
    "/config",
    "/config free_pulls x",
    "/card",
    "/season",
    "/help",
)


async def test_telegram_speaks_only_the_catalogs_in_the_pseudo_locale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.answers import UserRef
    from tests.telegram.fake_bot_api import FakeBotApi
    from tests.telegram.harness import running_bot

    drawn = DrawnTexts(monkeypatch)
    fake = FakeBotApi()
    await fake.start()
    try:
        xavi = fake.user(5901, "Xq") | {"language_code": "en-XA"}
        zoe = fake.user(5902, "Zv") | {"language_code": "en-XA"}
        group = fake.group_chat(title="Qx Zv")
        chat = fake.private_chat(xavi)
        fake.admins[(group["id"], xavi["id"])] = "creator"

        def sent() -> int:
            return len([r for r in fake.requests if r.method != "getUpdates"])

        async with running_bot(fake, tmp_path) as bot:
            await bot.app.service.grant(UserRef("telegram", str(xavi["id"])), 100)
            await fake.push_text(fake.private_chat(zoe), zoe, "/start")
            for command in TELEGRAM_PRIVATE:
                await fake.push_text(chat, xavi, command)
            for command in TELEGRAM_GROUP:
                await fake.push_text(group, xavi, command)
            said = fake.user_message(group, zoe, "hi")
            await fake.push_text(group, xavi, "/gift 3", reply_to=said)
            await fake.push_text(group, xavi, "/gift 100000", reply_to=said)
            await fake.push_text(group, zoe, "/gift -5", reply_to=said)
            await settled(sent)
            await fake.push_text(chat, xavi, "/card")  # now that there are pulls
            await fake.push_text(chat, xavi, "/history")  # ... and gifts
            await fake.push_text(group, xavi, "/card")
            for message in [m for m in fake.messages_in(chat["id"]) + fake.messages_in(group["id"])]:
                for button in message.buttons():
                    if "callback_data" in button:
                        await fake.push_callback(xavi, message, button["callback_data"])
                        await fake.push_callback(zoe, message, button["callback_data"])
            await settled(sent)
            await bot.handlers.outbox.idle()
    finally:
        await fake.stop()
    methods = {r.method for r in fake.requests}
    assert {"sendMessage", "answerCallbackQuery", "sendPhoto", "sendInvoice"} <= methods, methods
    texts = [
        text
        for request in fake.requests
        if request.method not in ("setMyCommands", "getMe", "getUpdates", "deleteWebhook")
        for text in seen_texts(request.params)
    ]
    assert len(texts) >= 60
    assert_no_english([*texts, *drawn.texts], ["Xq", "Zv", "Qx Zv", "^Lov doge", "^0OI", "1e3", "x"])


DISCORD_COMMANDS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("help", {}),
    ("balance", {}),
    ("odds", {"pattern": "^a"}),
    ("odds", {"pattern": "^0OI"}),
    ("pull", {"pattern": "^ab"}),
    ("pull", {"pattern": "^c"}),  # the cooldown (the one before is still cooling down)
    ("order", {"pattern": "^a"}),
    ("order", {"pattern": "^0OI"}),
    ("order", {"pattern": "^ab", "pubkey": "02" + "f" * 64}),  # not a point on the curve
    ("history", {}),
    ("topup", {}),
    ("topup", {"pack": "nope"}),
    ("keys", {}),
    ("profile", {}),
    ("streak", {}),
    ("season", {}),
    ("leaderboard", {}),
    ("card", {}),
    ("card", {"pull_id": "nope"}),
    ("config", {}),
    ("config", {"setting": "free_pulls", "value": "x"}),
    ("sync", {}),  # not the owner
)
# Each by someone else: a pull's cooldown would refuse the next one.
DISCORD_PULLS: tuple[dict[str, Any], ...] = (
    {"pattern": "^0OI"},  # refused: not a btc address's alphabet
    {"pattern": "^a", "format": "doge"},  # an unknown format
    {"pattern": "^ab", "format": "eth"},
    {"pattern": "^a"},  # easy: asks first (its buttons are pressed below)
    {"pattern": "^ab", "count": 10},
)


async def test_discord_speaks_only_the_catalogs_in_the_pseudo_locale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import discord

    from bot.app import create_app
    from tests.discord.conftest import discord_settings, quiet_config, start_bot, stop_bot
    from tests.discord.fake_discord import ALL_PERMISSIONS, MANAGE_GUILD, FakeDiscord
    from tests.discord.test_pulls import reveal_of

    drawn = DrawnTexts(monkeypatch)
    fake = FakeDiscord()
    await fake.start()
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    fake.guild_locale = "en-XA"
    xq = fake.add_user("xq", permissions=ALL_PERMISSIONS | MANAGE_GUILD)
    zv = fake.add_user("zv", dms_closed=True)
    fake.locales |= {xq.id: "en-XA", zv.id: "en-XA"}
    try:
        async with create_app(discord_settings(tmp_path)) as app:
            bot, task = await start_bot(fake, app, quiet_config(pull_cooldown_s=30.0))
            # a command's usage names its options as typed: English in en_XA, which no Discord client speaks
            options_shown = {
                f"{left}{parameter.name}{right}"
                for command in bot.tree.walk_commands()
                if isinstance(command, discord.app_commands.Command)
                for parameter in command.parameters
                for left, right in ("<>", "[]")
            }
            try:
                for name, options in DISCORD_COMMANDS:
                    await fake.slash(xq, name, options)
                for number, options in enumerate(DISCORD_PULLS):
                    puller = fake.add_user(f"q{number}")
                    fake.locales[puller.id] = "en-XA"
                    await fake.slash(puller, "pull", options)
                await fake.slash(zv, "pull", {"pattern": "^ab"})  # a reveal whose key cannot be DM'd
                await fake.wait_for(lambda: reveal_of(fake, xq) and reveal_of(fake, zv), timeout=30)
                await fake.slash(xq, "gift", {"user": zv, "tokens": "3"})
                await fake.slash(xq, "gift", {"user": zv, "tokens": "100000"})
                await fake.slash(zv, "gift", {"user": xq, "tokens": "-5"})
                await settled(lambda: len(fake.requests))
                await fake.slash(xq, "card", {})  # now that there are pulls
                await fake.slash(xq, "history", {})  # ... and gifts
                for message in list(fake.messages.values()):
                    for row in message.get("components") or []:
                        for button in row.get("components") or []:
                            if button.get("custom_id"):
                                await fake.press(xq, int(message["id"]), button["custom_id"])
                                await fake.press(zv, int(message["id"]), button["custom_id"])
                await settled(lambda: len(fake.requests))
            finally:
                await stop_bot(bot, task)
            await asyncio.wait_for(app.jobs.wait_idle(), 30)
    finally:
        await fake.stop()
    texts = [
        text
        for request in fake.requests
        if "/commands" not in request.path  # the published commands: English names by design, localized beside
        for text in seen_texts(request.body)
    ]
    assert len(texts) >= 60 and drawn.texts
    assert_no_english(
        [*texts, *drawn.texts],
        [
            "VaniKeys Community",  # the server's name
            *options_shown,
            *("Xq", "Zv", "Q0", "Q1", "Q2", "Q3", "Q4", "Q5", "xq", "zv", "^0OI", "nope", "doge"),
        ],
    )


CONSOLE_LINES = (
    "/grant erin 100",
    "/help",
    "/balance",
    "/odds ^a",
    "/odds",
    "/pull ^a",
    "/pull ^b btc 10",
    "/pull ^0OI",  # refused: not a btc address's alphabet
    "/pull ^Lov doge",  # an unknown format
    "/pull ^a eth 1e3",
    "/pull ^b btc 0",  # a count out of range
    "/pull",
    "/pull ab --turbo",
    '/pull "ab',
    "pull ab",
    "/",
    "/history",
    "/topup",
    "/topup nope",
    "/keys",
    "/profile",
    "/streak",
    "/season",
    "/leaderboard",
    "/card",
    "/card nope",
    "/order ^a",
    "/order",
    "/gift zed 3",
    "/gift zed 100000",
    "/gift zed -5",
    "/grant erin x",
    "/config",
    "/config free_pulls x",
    "/config language xx",
    "/nope",
)


async def test_the_console_speaks_only_the_catalogs_in_the_pseudo_locale(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.i18n import use_locale
    from tests.bot.test_console import run_lines

    drawn = DrawnTexts(monkeypatch)
    with use_locale(PSEUDO):
        lines = await run_lines(app, list(CONSOLE_LINES), as_json=False)
        await asyncio.wait_for(app.jobs.wait_idle(), 30)
        history = await run_lines(app, ["/history"], as_json=False)  # now that the pulls are done
    assert len(lines) >= len(CONSOLE_LINES) and len(history) >= 4
    lines += history
    assert_no_english(
        [*lines, *drawn.texts], ["erin", "zed", "btc", "eth", "desk", "^0OI", "^Lov doge", "1e3", "nope", "xx", "x"]
    )


def test_every_reason_the_bot_stores_in_the_ledger_reads_in_the_persons_language() -> None:
    """/history shows each ledger row's kind and reason: the ones the bot writes (in English, for the operators'
    audit trail) are shown through the catalogs; an operator's own --reason as written."""
    from bot.answers import history_detail, history_kind
    from gpu_worker.i18n import use_locale

    rows = [
        ("pull", "pull btc ^ab", 1),
        ("order", "order eth ^cafe", 0),
        ("refund", "cut short by its time limit: 37.5% of its keys ground", -1),
        ("gift_sent", "gift to Zv", 0),
        ("gift_received", "gift from Zv", 0),
        ("streak_bonus", "3-day streak bonus", 2),
        ("grant", "admin grant", 0),
        ("purchase", "purchase", 0),
        ("refund_reversed", "refund_reversed", 0),
        ("dispute", "dispute", 0),
        ("dispute_closed", "dispute_closed", 0),
        ("grinder_failed", "", 0),
        ("admin_take", "", 0),
    ]
    with use_locale(PSEUDO):
        shown = [f"{history_kind(kind)} · {history_detail(kind, reason, free)}" for kind, reason, free in rows]
    assert_no_english(shown, ["Zv", "^ab", "^cafe", "btc", "eth"])
    with use_locale("es"):
        assert history_detail("gift_sent", "gift to Zv", 0) == "a Zv"
        assert history_detail("pull", "pull btc ^ab", 2) == "btc ^ab (2 tiradas gratis)"
        assert history_kind("gift_received") == "regalo recibido"
    assert history_detail("grant", "goodwill after the outage", 0) == "goodwill after the outage"


def refuse_to_compute(format_id: str, text: str, case: str, fuzzy: bool) -> object:
    """An odds worker's computation that fails (in the worker process)."""
    raise RuntimeError("the engine's own words")


async def test_an_odds_refusal_from_a_worker_is_in_the_askers_language() -> None:
    """The odds are worked out on a thread that waits for a worker process: its refusal was English (the words were
    f-strings, and the thread did not carry the asker's locale)."""
    from bot.answers import ServiceError
    from bot.odds_cache import OddsCache, OddsCaps
    from gpu_worker.i18n import use_locale
    from gpu_worker.patterns import parse_pattern

    cache = OddsCache(workers=1, caps=OddsCaps(time_s=30, memory_mb=768), compute=refuse_to_compute)
    try:
        with use_locale("es"), pytest.raises(ServiceError) as refused:
            await cache.get(parse_pattern("btc", "^Lov?"))
        with use_locale(PSEUDO), pytest.raises(ServiceError) as pseudo:
            await cache.get(parse_pattern("btc", "^Lov?"))
    finally:
        cache.close()
    assert refused.value.code == "too_hard"
    assert refused.value.message.startswith("no se pudieron calcular las probabilidades de '^Lov?'"), (
        refused.value.message
    )
    assert_no_english([pseudo.value.message], ["^Lov?"])


def test_a_pull_in_the_wrong_channel_is_refused_in_the_pullers_language() -> None:
    from bot.answers import WrongChannel
    from gpu_worker.i18n import use_locale

    with use_locale(PSEUDO):
        refused = WrongChannel("42", "#pulls")
    assert_no_english([refused.message], ["#pulls"])
    with use_locale("pt_BR"):
        assert WrongChannel("42", "#giros").message == "aqui os giros são em #giros: gire lá (este não foi cobrado)"


async def test_discords_refusals_before_a_command_runs_are_in_the_persons_language() -> None:
    """discord.py's own errors (a check failed, an option did not convert, anything else) are answered in the
    interaction's language."""
    from types import SimpleNamespace

    import discord
    from discord import app_commands

    from bot.frontends.discord.bot import VaniKeysBot

    sent: list[str] = []

    async def send_message(text: str, **_: object) -> None:
        sent.append(text)

    for locale in ("es-ES", "en-XA"):
        interaction = SimpleNamespace(
            locale=discord.Locale(locale) if locale != "en-XA" else SimpleNamespace(value=locale),
            response=SimpleNamespace(is_done=lambda: False, send_message=send_message),
        )
        for error in (app_commands.CheckFailure(), app_commands.AppCommandError()):
            await VaniKeysBot._on_app_command_error(None, interaction, error)  # type: ignore[arg-type]
    assert "Aquí no puedes usar ese comando." in sent[0] and "Algo falló por nuestra parte" in sent[1], sent
    assert_no_english(sent[2:], [])
