"""Every page scanned for keys, balances and platform ids; bad input, odd methods, rate limits and the proxy."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.web.site import ALICE, BOB, BOT_TOKEN, GRANT, GROUP, OTHER_GROUP, LiveSite, init_data, site_settings


def _pages(site: LiveSite) -> list[str]:
    gallery = requests.get(f"{site.url}/web/c/{site.slug}", timeout=30).text
    cards = sorted(set(re.findall(r'src="(/web/c/[^"]+\.png)"', gallery)))
    assert cards
    return [
        "/web/",
        "/web/odds",
        "/web/odds?pattern=%5Eabc+xyz&format=btc",
        "/web/odds?pattern=dead&format=eth",
        "/web/transparency",
        f"/web/c/{site.slug}",
        "/web/app",
        "/web/static/style.css",
        "/web/static/miniapp.js",
        *cards,
    ]


def _forbidden(site: LiveSite) -> list[str]:
    """Keys, balances and platform ids: none may appear anywhere a page or the Mini App's answers carry."""
    balances = site.call(_balances(site))
    ids = [ALICE.user_id, BOB.user_id, GROUP.community_id, OTHER_GROUP.community_id, BOT_TOKEN]
    return [*site.secrets(), *ids, *(f"{b}" for b in balances), *(f"{b:,}" for b in balances)]


async def _balances(site: LiveSite) -> list[int]:
    return [(await site.app.ledger.account(person)).balance for person in (ALICE, BOB)]


def test_no_page_shows_a_key_a_balance_or_a_platform_id(site: LiveSite) -> None:
    forbidden = _forbidden(site)
    assert len(site.secrets()) >= 10 and all(len(s) >= 40 for s in site.secrets())
    assert site.call(_balances(site))[0] > GRANT - 1000  # the balances are big, distinctive numbers
    mini = {"X-Telegram-Init-Data": init_data(ALICE)}
    bodies: dict[str, bytes] = {}
    for path in _pages(site):
        response = requests.get(site.url + path, timeout=30)
        assert response.status_code == 200, path
        bodies[path] = response.content
    for path in ("/web/app/me",):
        response = requests.get(site.url + path, headers=mini, timeout=30)
        assert response.status_code == 200
        bodies[path] = response.content
    me = requests.get(site.url + "/web/app/me", headers=mini, timeout=30).json()
    for pull in me["pulls"][:5]:
        response = requests.get(f"{site.url}/web/app/card/{pull['ref']}.png", headers=mini, timeout=30)
        assert response.status_code == 200
        bodies[pull["ref"]] = response.content
    assert len(bodies) > 10
    for path, body in bodies.items():
        text = body.decode("latin-1")
        for needle in forbidden:
            assert needle not in text, f"{path} shows {needle[:6]}…"
        assert "balance" not in text.lower(), path
    assert not any(re.search(r"[0-9a-f]{64}", b.decode("latin-1")) for b in bodies.values())  # no hex secret


BAD = [
    "/web/odds?format=nope&pattern=abc",
    "/web/odds?format=btc&pattern=" + "a" * 201,
    "/web/odds?format=btc&pattern=%00%ff",
    "/web/odds?format=btc&pattern=abc&case=weird",
    "/web/odds?format=btc&pattern=abc&fuzzy=maybe",
    "/web/odds?format=btc&pattern=" + quote("^1"),
    "/web/odds?format=eth&pattern=xyz",
    "/web/odds?" + "x=1&" * 400,
    "/web/c/" + quote("../../etc", safe=""),
    "/web/c/" + "x" * 41,
    "/web/c/nothing-here/card/" + quote("a b") + ".png",
]


@pytest.mark.parametrize("path", BAD)
def test_bad_input_is_a_400_page_never_a_traceback(site: LiveSite, path: str) -> None:
    response = requests.get(site.url + path, timeout=30)
    assert response.status_code in (400, 404), response.status_code
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert '<p class="refusal"' in response.text or "refusal" in response.text


def test_the_bare_prefix_leads_to_the_index(site: LiveSite) -> None:
    response = requests.get(site.url + "/web", timeout=30, allow_redirects=False)
    assert response.status_code == 308 and response.headers["Location"] == "/web/"
    assert "Content-Security-Policy" in response.headers


def test_unknown_pages_and_galleries_are_404(site: LiveSite) -> None:
    for path in ("/web/nope", "/web/c/not-a-gallery", f"/web/c/{site.slug}/card/0000.png", "/web/static/x.js"):
        response = requests.get(site.url + path, timeout=30)
        assert response.status_code == 404, path
        assert "There is no page here" in response.text or "No " in response.text


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_get_and_head(site: LiveSite, method: str) -> None:
    for path in ("/web/odds", "/web/transparency", f"/web/c/{site.slug}", "/web/app"):
        response = requests.request(method, site.url + path, timeout=30)
        assert response.status_code == 405, (method, path)
        assert "Traceback" not in response.text


def test_head_and_headers(site: LiveSite) -> None:
    for path, cache in (
        ("/web/odds?pattern=abc", "public, max-age=300"),
        ("/web/transparency", "public, max-age=300"),
        (f"/web/c/{site.slug}", "public, max-age=60"),
        ("/web/static/style.css", "public, max-age=86400"),
        ("/web/app", "no-cache"),
        ("/web/odds?format=zz", "no-store"),
    ):
        head = requests.head(site.url + path, timeout=30)
        assert head.status_code in (200, 400) and head.content == b""
        headers = requests.get(site.url + path, timeout=30).headers
        assert headers["Cache-Control"] == cache, path
        csp = headers["Content-Security-Policy"]
        assert (
            "default-src 'self'" in csp
            and "script-src 'self'" in csp
            and "http" not in csp.replace("https://web.telegram.org https://*.telegram.org", "")
        )
        assert headers["X-Content-Type-Options"] == "nosniff"
    page_csp = requests.get(site.url + "/web/odds", timeout=30).headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page_csp and "img-src 'self';" in page_csp
    assert "web.telegram.org" in requests.get(site.url + "/web/app", timeout=30).headers["Content-Security-Policy"]


def test_pages_load_nothing_from_elsewhere(site: LiveSite) -> None:
    for path in _pages(site)[:8]:
        text = requests.get(site.url + path, timeout=30).text
        for attribute in re.findall(r'(?:src|href|action)="([^"]*)"', text):
            assert attribute.startswith("/web/") or attribute.startswith("#"), (path, attribute)
        assert "@import" not in text and "url(http" not in text


@pytest.fixture
def limited(tmp_path: Path) -> Any:
    live = LiveSite(site_settings(tmp_path, web_requests_per_minute=18, trusted_proxies=("127.0.0.1",))).start()
    yield live
    live.stop()


def test_rate_limit_per_client_behind_a_trusted_proxy(limited: LiveSite) -> None:
    def get(client: str) -> requests.Response:
        return requests.get(limited.url + "/web/odds", headers={"X-Forwarded-For": f"{client}, 127.0.0.1"}, timeout=30)

    answers = [get("203.0.113.7").status_code for _ in range(10)]  # 18 a minute: a burst of 6
    assert answers[:6] == [200] * 6 and answers[6:] == [429] * 4
    refused = get("203.0.113.7")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1 and "Slow down" in refused.text
    assert get("198.51.100.9").status_code == 200  # another client, same proxy: its own allowance


def test_forwarded_headers_are_ignored_from_an_untrusted_peer(tmp_path: Path) -> None:
    live = LiveSite(site_settings(tmp_path, web_requests_per_minute=9)).start()  # no trusted proxy (a burst of 3)
    try:
        answers = [
            requests.get(live.url + "/web/odds", headers={"X-Forwarded-For": f"198.51.100.{i}"}, timeout=30).status_code
            for i in range(5)
        ]
        assert answers == [200, 200, 200, 429, 429]  # spoofed addresses all count as the one real peer
    finally:
        live.stop()
