"""The pages in real headless Chromium: loaded, used, followed and photographed at desktop and phone width."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from bot.results import TIER_ORDER
from bot.web.stats import tier_chances
from gpu_worker.odds import Odds
from tests.web.conftest import DESKTOP, PHONE
from tests.web.site import ALICE, BOB, BOT_TOKEN, LiveSite, init_data

pytestmark = pytest.mark.slow


@pytest.fixture
def page_for(browser: Any) -> Any:
    contexts: list[Any] = []

    def make(viewport: dict[str, int] = DESKTOP, scheme: str = "light") -> tuple[Any, list[str]]:
        context = browser.new_context(viewport=viewport, color_scheme=scheme)
        contexts.append(context)
        page = context.new_page()
        problems: list[str] = []  # console errors (a CSP violation is one) and requests that left this origin
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on(
            "request",
            lambda r: (
                problems.append(f"outside request {r.url}")
                if not r.url.startswith(("http://127.0.0.1", "blob:", "data:"))
                else None
            ),
        )
        return page, problems

    yield make
    for context in contexts:
        context.close()


def _shoot(page: Any, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def test_odds_calculator_matches_the_bots_own_odds(site: LiveSite, page_for: Any, shots: Path) -> None:
    page, problems = page_for()
    page.goto(f"{site.url}/web")  # the bare prefix leads to the index
    assert page.url.endswith("/web/") and page.inner_text("h1").startswith("Vanity keys")
    _shoot(page, shots, "index-desktop")
    page.click("text=Odds calculator")
    page.fill("input[name=pattern]", "^Love")
    page.select_option("select[name=format]", "btc")
    page.check("input[name=case]")
    page.click("button[type=submit]")
    page.wait_for_selector("table.tiers")
    assert "case=exact" in page.url and "pattern=%5ELove" in page.url
    answer = site.call(site.app.service.odds("^Love", "btc", exact_case=True))
    chances = tier_chances(Odds(answer.p_full, answer.p_at_least, answer.expected_keys), answer.pull_keys)
    rows = page.locator("table.tiers tbody tr")
    assert rows.count() == len(TIER_ORDER)
    shown = {
        rows.nth(i).locator("td").nth(0).inner_text(): rows.nth(i).locator("td").nth(1).inner_text()
        for i in range(rows.count())
    }
    from bot.web.app import _share  # the page's numbers are the model's, formatted

    assert shown == {tier: _share(chances[tier]) for tier in TIER_ORDER}
    text = page.inner_text("section.result")
    assert f"{answer.order_price:,} tokens" in text
    _shoot(page, shots, "odds-desktop")
    phone, phone_problems = page_for(PHONE)
    phone.goto(page.url)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    _shoot(phone, shots, "odds-phone")
    dark, dark_problems = page_for(DESKTOP, "dark")
    dark.goto(page.url)
    background = dark.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 20, 24)"  # the dark palette, chosen by prefers-color-scheme
    _shoot(dark, shots, "odds-desktop-dark")
    assert not problems + phone_problems + dark_problems


def test_odds_refusal_is_the_bots_refusal(site: LiveSite, page_for: Any) -> None:
    page, problems = page_for()
    response = page.goto(f"{site.url}/web/odds?format=btc&pattern=%5E1")
    assert response.status == 400
    from bot.answers import ServiceError

    with pytest.raises(ServiceError) as refused:
        site.call(site.app.service.odds("^1", "btc"))
    assert page.inner_text(".refusal") == refused.value.message
    assert page.input_value("input[name=pattern]") == "^1"  # the form keeps what was typed, to fix it
    assert not [p for p in problems if "400" not in p]


def test_transparency_page(site: LiveSite, page_for: Any, shots: Path) -> None:
    page, problems = page_for()
    page.goto(f"{site.url}/web/")
    page.click("text=Transparency report")
    page.wait_for_selector("svg.chart")
    assert page.locator("svg.chart").count() == 3  # all formats, btc, eth
    heading = page.inner_text("section.tier-table h3 >> nth=0")
    pulls = int(heading.split()[-2].replace(",", ""))
    keys = site.call(
        site.app.db.fetchone(
            "SELECT SUM(count) AS n FROM jobs WHERE kind = 'pull' AND status IN ('found', 'delivered')"
        )
    )["n"]
    assert pulls == keys
    assert "How randomness is drawn" in page.inner_text("main")
    _shoot(page, shots, "transparency-desktop")
    phone, phone_problems = page_for(PHONE)
    phone.goto(page.url)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shoot(phone, shots, "transparency-phone")
    assert not problems + phone_problems


def test_gallery_names_only_people_who_chose_to_show(site: LiveSite, page_for: Any, shots: Path) -> None:
    page, problems = page_for()
    page.goto(f"{site.url}/web/c/{site.slug}")
    assert page.inner_text("h1") == "Rollers Club"
    main = page.inner_text("main")
    assert ALICE.display_name in main and BOB.display_name not in main and "a member" in main
    cards = page.locator("ul.gallery img")
    assert cards.count() >= 1
    page.wait_for_load_state("networkidle")
    assert all(cards.nth(i).evaluate("img => img.complete && img.naturalWidth > 0") for i in range(cards.count()))
    _shoot(page, shots, "gallery-desktop")
    assert not problems
    with page.expect_response(lambda r: "/card/" in r.url) as card:
        page.locator("ul.gallery a").first.click()  # follow a card: the image on its own
    assert card.value.status == 200 and card.value.headers["content-type"] == "image/png"
    assert page.url.endswith(".png")
    # From here `problems` hears Chromium's own image viewer (inline styles, /favicon.ico): not our page.
    phone, phone_problems = page_for(PHONE, "dark")
    phone.goto(f"{site.url}/web/c/{site.slug}")
    phone.wait_for_load_state("networkidle")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shoot(phone, shots, "gallery-phone-dark")
    assert not phone_problems


def test_miniapp_signed_shows_own_collection_and_pulls(site: LiveSite, page_for: Any, shots: Path) -> None:
    page, problems = page_for(PHONE)
    page.goto(f"{site.url}/web/app#tgWebAppData={_fragment(init_data(ALICE))}&tgWebAppVersion=8.0")
    page.wait_for_selector("#pulls li")
    status = page.inner_text("#status")
    total = site.call(site.app.db.fetchone("SELECT COUNT(*) AS n FROM pull_bests WHERE user_id = ?", (ALICE.user_id,)))[
        "n"
    ]
    assert status == f"{ALICE.display_name}: {total} pulls"
    assert page.locator("#pulls li").count() == min(total, 50)
    before = len(site.frontend.deliveries)
    page.fill("#command", "^abd btc")
    page.click("#pull-form button")
    page.wait_for_selector("#pull-result .tier", timeout=60_000)  # (the strict CSP forbids wait_for_function's eval)
    result = page.inner_text("#pull-result")
    assert "sent to you privately" in result
    expect(page.locator("#status")).to_have_text(f"{ALICE.display_name}: {total + 1} pulls")
    assert len(site.frontend.deliveries) == before + 1  # the key went privately, through the chat
    assert site.frontend.deliveries[-1][0].user_id == ALICE.user_id
    assert not any(secret in page.content() for secret in site.secrets())
    page.wait_for_load_state("networkidle")
    _shoot(page, shots, "miniapp-phone")
    assert not problems


def test_miniapp_forged_or_stale_initdata_is_refused(site: LiveSite, page_for: Any, shots: Path) -> None:
    forged = init_data(ALICE, token="7000999:someone-elses-token")
    stale = init_data(ALICE, auth_date=1_700_000_000)
    for data, why in ((forged, "not signed by Telegram"), (stale, "expired")):
        page, _ = page_for(PHONE)
        page.goto(f"{site.url}/web/app#tgWebAppData={_fragment(data)}")
        page.wait_for_selector("#status.refusal")
        assert why in page.inner_text("#status")
        assert page.locator("#pulls li").count() == 0 and page.is_hidden("#pull-box")
    _shoot(page, shots, "miniapp-refused-phone")
    assert BOT_TOKEN not in page.content()


def _fragment(data: str) -> str:
    from urllib.parse import quote

    return quote(data, safe="")
