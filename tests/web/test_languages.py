"""The pages in the reader's language: `?lang=`, else Accept-Language (q-values), else English; plain HTTP through
aiohttp's test client, no browser."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.config import WEB_PREFIX
from bot.i18n import _, ngettext, use_locale
from bot.links import gallery_message, odds_page_url
from bot.web.app import build_web_app
from bot.web.language import accepted, page_language
from gpu_worker.patterns import parse_pattern
from tests.bot.conftest import small_settings
from tests.web.site import ALICE, BOT_TOKEN, GROUP, init_data


@asynccontextmanager
async def pages(tmp_path: Path) -> AsyncIterator[tuple[TestClient, str]]:
    """The /web pages of a fresh bot with one published (empty) gallery: the client and the gallery's slug."""
    async with create_app(small_settings(tmp_path, web_mode="on", web_requests_per_minute=100_000)) as app:
        await app.service.configure(ALICE, GROUP, "gallery", "on", is_admin=True)
        slug = (await app.service.config(ALICE, GROUP, is_admin=True)).config.gallery_slug
        assert slug
        root = web.Application()
        root.add_subapp(WEB_PREFIX, build_web_app(app, bot_token=BOT_TOKEN))  # mounted as in production
        async with TestClient(TestServer(root)) as client:
            yield client, slug


def said(locale: str, message: str, **values: object) -> str:
    """What the catalogs say for `message` in `locale`; it must differ from the English, or the test proves nothing."""
    with use_locale(locale):
        text = _(message, **values)
    assert text != message.format(**values), (locale, message)
    return text


def html_lang(page: str) -> str:
    found = re.search(r'<html lang="([^"]+)">', page)
    assert found, page[:200]
    return found.group(1)


def test_accept_language_is_ranked_by_q_value() -> None:
    assert accepted("es-ES,es;q=0.9,en;q=0.8") == ["es-ES", "es", "en"]
    assert accepted("en;q=0.2, ru;q=0.9, *;q=0.5, es;q=0") == ["ru", "en"]
    assert accepted("de;q=oops, pt-BR") == ["pt-BR"]
    assert accepted(None) == [] and accepted("") == []
    assert page_language(None, "de-DE, ru;q=0.5, es;q=0.4").locale == "ru"  # German is not shipped: the next one
    assert page_language(None, "en-GB, es").locale == "en"  # English asked for first is English
    assert page_language("xx", "es").locale == "es" and not page_language("xx", "es").explicit
    assert page_language("pt-br", "es") == page_language("pt_BR", None)
    assert page_language(None, "de, fr;q=0.9, *").locale == "en"


async def test_a_spanish_browser_gets_the_gallery_and_odds_in_spanish(tmp_path: Path) -> None:
    spanish = {"Accept-Language": "es-ES,es;q=0.9,en;q=0.8"}
    async with pages(tmp_path) as (client, slug):
        gallery = await client.get(f"/web/c/{slug}", headers=spanish)
        page = await gallery.text()
        assert gallery.status == 200 and html_lang(page) == "es"
        assert said("es", "Personal bests") in page and said("es", "No Rare-or-better pulls yet.") in page
        assert "Personal bests" not in page
        # the page depends on the header, and caches say so; its cache lifetime is unchanged
        assert gallery.headers["Vary"] == "Accept-Language"
        assert gallery.headers["Cache-Control"] == "public, max-age=60"

        odds = await client.get("/web/odds", params={"pattern": "^Love", "format": "btc"}, headers=spanish)
        page = await odds.text()
        assert odds.status == 200 and html_lang(page) == "es"
        assert said("es", "Odds calculator") in page and said("es", "Each tier's chance, per pull") in page
        with use_locale("es"):
            tier = _("Legendary")
        assert tier != "Legendary" and f">{tier}</span>" in page  # the tier names too
        assert "Odds calculator" not in page and odds.headers["Vary"] == "Accept-Language"

        static = await client.get("/web/static/style.css", headers=spanish)
        assert "Vary" not in static.headers  # the same bytes for everyone


async def test_lang_in_the_address_wins_and_links_keep_it(tmp_path: Path) -> None:
    async with pages(tmp_path) as (client, _slug):
        response = await client.get("/web/odds", params={"lang": "ru"}, headers={"Accept-Language": "es"})
        page = await response.text()
        assert html_lang(page) == "ru" and said("ru", "Odds calculator") in page
        assert 'href="/web/transparency?lang=ru"' in page  # a reader who followed a bot's link stays in Russian
        assert '<input type="hidden" name="lang" value="ru">' in page  # and so does the form
        refused = await client.get("/web/odds", params={"lang": "ru", "format": "zz"})
        assert refused.status == 400 and said("ru", "That did not work") in await refused.text()


async def test_an_unknown_language_gets_english(tmp_path: Path) -> None:
    async with pages(tmp_path) as (client, slug):
        for headers, query in (({"Accept-Language": "de-DE,fr;q=0.8"}, {}), ({}, {"lang": "klingon"}), ({}, {})):
            response = await client.get(f"/web/c/{slug}", params=query, headers=headers)
            page = await response.text()
            assert response.status == 200 and html_lang(page) == "en" and "Personal bests" in page


async def test_the_pseudo_locale_runs_through_every_page(tmp_path: Path) -> None:
    """Accented and 40% longer: every page still renders whole, in it, with nothing left in plain English."""
    async with pages(tmp_path) as (client, slug):
        for path, status in (
            ("/", 200),
            ("/odds", 200),
            ("/odds?pattern=%5EAb+cd&format=btc&case=exact&fuzzy=on", 200),
            ("/odds?pattern=dead&format=eth", 200),
            ("/odds?format=zz", 400),
            ("/transparency", 200),
            (f"/c/{slug}", 200),
            ("/c/nowhere", 404),
            ("/app", 200),
        ):
            joiner = "&" if "?" in path else "?"
            response = await client.get(f"/web{path}{joiner}lang=en_XA")
            page = await response.text()
            assert response.status == status, (path, page[-400:])
            assert html_lang(page) == "en-XA" and page.rstrip().endswith("</html>"), path
            assert "Traceback" not in page and "VaniKeys" in page
            footer = re.search(r"<footer>(.*)</footer>", page)
            assert footer and footer.group(1).endswith("·"), path  # the pseudo-locale's padding: translated


async def test_the_transparency_chart_and_the_mini_app_speak_the_readers_language(tmp_path: Path) -> None:
    async with pages(tmp_path) as (client, _slug):
        report = await client.get("/web/transparency", headers={"Accept-Language": "pt-BR,pt;q=0.9"})
        page = await report.text()
        assert html_lang(page) == "pt-BR" and said("pt_BR", "Transparency report") in page
        assert said("pt_BR", "How randomness is drawn") in page
        assert "<code>secrets</code>" in page and "&lt;code&gt;" not in page  # a catalog's own tags stay tags

        app_page = await (await client.get("/web/app", headers={"Accept-Language": "ru"})).text()
        texts = json.loads(re.search(r'<script type="application/json" id="texts">(.*?)</script>', app_page).group(1))
        assert texts["pulling"] == said("ru", "Pulling…")  # the script's own words come from the server

        # the Mini App's answers follow the language of the signed Telegram profile
        user = init_data(ALICE, extra={"user": json.dumps({"id": int(ALICE.user_id), "language_code": "pt-br"})})
        me = await client.get("/web/app/me", headers={"X-Telegram-Init-Data": user})
        body = await me.json()
        with use_locale("pt_BR"):
            summary = ngettext("{name}: {n} pull", "{name}: {n} pulls", 0, name=_("You"))
        assert me.status == 200 and body["summary"] == summary and summary != "You: 0 pulls"
        refused = await client.post(
            "/web/app/pull", data="{", headers={"X-Telegram-Init-Data": user, "Content-Type": "application/json"}
        )
        assert refused.status == 400 and (await refused.json())["error"] == said("pt_BR", "send the form as JSON")


def test_a_bot_answer_links_to_the_odds_page_in_its_own_language() -> None:
    pattern = parse_pattern("btc", "^Love")
    assert odds_page_url("https://k.example/web", pattern) == "https://k.example/web/odds?format=btc&pattern=%5ELove"
    with use_locale("pt-BR"):
        url = odds_page_url("https://k.example/web", pattern)
    assert url == "https://k.example/web/odds?format=btc&pattern=%5ELove&lang=pt_BR"
    assert page_language("pt_BR", "ru").locale == "pt_BR"  # and the page reads it back as the language to use


def test_the_config_gallery_answer_is_in_the_admins_language(tmp_path: Path) -> None:
    public = small_settings(tmp_path, public_url_configured=True, public_base_url="https://k.example/")
    with use_locale("es"):
        assert gallery_message(public, "abc") == "galería activada: https://k.example/web/c/abc"
        off = gallery_message(small_settings(tmp_path), "abc")
    assert (
        off.startswith("galería activada (/web/c/abc), pero las páginas web están apagadas")
        and "VANIKEYS_WEB=on" in off
    )
