"""The Mini App's authentication: Telegram's initData signature, its age, and one use per pull request."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl, urlencode

import pytest
import requests

from bot.web.initdata import InitDataError, PullTokens, sign, verify
from tests.web.site import ALICE, BOB, BOT_TOKEN, LiveSite, init_data

MAX_AGE = 3600.0


def _fields(data: str) -> dict[str, str]:
    return dict(parse_qsl(data, keep_blank_values=True))


def test_telegram_signature_as_documented() -> None:
    # Worked by hand from Telegram's rule: key = HMAC_SHA256("WebAppData", token); hash = HMAC_SHA256(key, check).
    import hashlib
    import hmac

    fields = {"auth_date": "1700000000", "query_id": "Q", "user": '{"id":1,"first_name":"A"}'}
    check = 'auth_date=1700000000\nquery_id=Q\nuser={"id":1,"first_name":"A"}'
    key = hmac.new(b"WebAppData", BOT_TOKEN.encode(), hashlib.sha256).digest()
    assert sign(fields, BOT_TOKEN) == hmac.new(key, check.encode(), hashlib.sha256).hexdigest()


def test_a_correctly_signed_fresh_init_data_names_the_user() -> None:
    user = verify(init_data(ALICE), BOT_TOKEN, max_age_s=MAX_AGE)
    assert (user.user_id, user.display_name) == (ALICE.user_id, ALICE.display_name)


@pytest.mark.parametrize(
    "case",
    [
        "other token",
        "changed user",
        "dropped field",
        "added field",
        "no hash",
        "repeated field",
        "not a query",
        "empty",
        "too long",
        "future",
        "stale",
    ],
)
def test_forged_or_stale_init_data_is_refused(case: str) -> None:
    now = time.time()
    good = init_data(ALICE)
    fields = _fields(good)
    if case == "other token":
        data = init_data(ALICE, token="1:other")
    elif case == "changed user":
        data = urlencode({**fields, "user": json.dumps({"id": 1, "first_name": "Mallory"})})
    elif case == "dropped field":
        data = urlencode({k: v for k, v in fields.items() if k != "query_id"})
    elif case == "added field":
        data = urlencode({**fields, "start_param": "x"})
    elif case == "no hash":
        data = urlencode({k: v for k, v in fields.items() if k != "hash"})
    elif case == "repeated field":
        data = good + "&auth_date=" + fields["auth_date"]
    elif case == "not a query":
        data = "%%%"
    elif case == "empty":
        data = ""
    elif case == "too long":
        data = init_data(ALICE, extra={"pad": "x" * 5000})
    elif case == "future":
        data = init_data(ALICE, auth_date=now + 600)
    else:
        data = init_data(ALICE, auth_date=now - MAX_AGE - 5)
    with pytest.raises(InitDataError):
        verify(data, BOT_TOKEN, max_age_s=MAX_AGE, now=now)


def test_pull_tokens_are_single_use_per_user_and_expire() -> None:
    tokens = PullTokens(ttl_s=10)
    token = tokens.issue("1", now=0)
    assert not tokens.consume(token, "2", now=1)  # someone else's token: refused (and spent)
    token = tokens.issue("1", now=0)
    assert tokens.consume(token, "1", now=1)
    assert not tokens.consume(token, "1", now=1)  # replayed
    late = tokens.issue("1", now=0)
    assert not tokens.consume(late, "1", now=11)  # expired


def _post(site: LiveSite, path: str, body: dict[str, object], data: str) -> requests.Response:
    return requests.post(site.url + path, json=body, headers={"X-Telegram-Init-Data": data}, timeout=60)


def test_pull_over_http_once_per_token_and_never_forged(site: LiveSite) -> None:
    data = init_data(ALICE)
    me = requests.get(site.url + "/web/app/me", headers={"X-Telegram-Init-Data": data}, timeout=30)
    assert me.status_code == 200 and me.headers["Cache-Control"] == "no-store"
    token = me.json()["token"]
    before = len(site.frontend.deliveries)
    forged = init_data(ALICE, token="1:other")
    refused = _post(site, "/web/app/pull", {"command": "^abq btc", "token": token}, forged)
    assert refused.status_code == 401 and "not signed" in refused.json()["error"]
    pulled = _post(site, "/web/app/pull", {"command": "^abq btc", "token": token}, data)
    assert pulled.status_code == 200, pulled.text
    body = pulled.json()
    assert body["keys"][0]["identifier"].startswith("1") and "token" in body
    replayed = _post(site, "/web/app/pull", {"command": "^abq btc", "token": token}, data)
    assert replayed.status_code == 409 and "already sent" in replayed.json()["error"]
    again = _post(site, "/web/app/pull", {"command": "^abq btc", "token": body["token"]}, data)
    assert again.status_code == 429 and "slow down" in again.json()["error"]  # /pull's cooldown (30 s here)
    assert len(site.frontend.deliveries) == before + 1  # one pull, one private key
    stale = init_data(ALICE, auth_date=time.time() - 10 * 86400)
    assert (
        requests.get(site.url + "/web/app/me", headers={"X-Telegram-Init-Data": stale}, timeout=30).status_code == 401
    )
    assert requests.get(site.url + "/web/app/me", timeout=30).status_code == 401


def test_pull_refusals_are_the_chat_commands(site: LiveSite) -> None:
    data = init_data(BOB)  # Bob has not pulled here: no cooldown to wait out
    token = requests.get(site.url + "/web/app/me", headers={"X-Telegram-Init-Data": data}, timeout=30).json()["token"]
    answer = _post(site, "/web/app/pull", {"command": "^1 btc", "token": token}, data)
    assert answer.status_code == 400
    from bot.answers import ServiceError

    with pytest.raises(ServiceError) as refused:
        site.call(site.app.service.pull(BOB, None, "^1", "btc"))
    assert answer.json()["error"] == refused.value.message
    count = _post(site, "/web/app/pull", {"command": "^ab btc 7", "token": answer.json()["token"]}, data)
    assert count.status_code == 400 and "1 or 10" in count.json()["error"]
    bad = _post(site, "/web/app/pull", {"command": ["x"], "token": count.json()["token"]}, data)
    assert bad.status_code == 400


def test_visibility_switch(site: LiveSite) -> None:
    from bot.community import visibility

    data = init_data(ALICE)
    token = requests.get(site.url + "/web/app/me", headers={"X-Telegram-Init-Data": data}, timeout=30).json()["token"]
    off = _post(site, "/web/app/visibility", {"shown": False, "token": token}, data)
    assert off.status_code == 200 and not site.call(visibility.is_shown(site.app.db, ALICE))
    page = requests.get(f"{site.url}/web/c/{site.slug}", timeout=30).text
    assert ALICE.display_name not in page
    on = _post(site, "/web/app/visibility", {"shown": True, "token": off.json()["token"]}, data)
    assert on.status_code == 200 and site.call(visibility.is_shown(site.app.db, ALICE))


def test_no_mini_app_without_a_telegram_token(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.web.site import site_settings

    live = LiveSite(site_settings(tmp_path, telegram_token=None)).start()
    try:
        assert requests.get(live.url + "/web/app", timeout=30).status_code == 404
        assert (
            requests.get(
                live.url + "/web/app/me", headers={"X-Telegram-Init-Data": init_data(ALICE)}, timeout=30
            ).status_code
            == 404
        )
    finally:
        live.stop()
