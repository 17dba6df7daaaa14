"""How the pages are switched on, mounted beside the Stripe webhook, configured, and linked from the chat."""

from __future__ import annotations

import contextlib
from pathlib import Path

import aiohttp
import pytest

from bot.app import create_app
from bot.config import ConfigError, Settings
from bot.web.server import web_server, web_subapps
from gpu_worker.patterns import parse_pattern
from tests.bot.conftest import ALICE, BOB, GUILD, small_settings


def test_settings_switch_the_pages_on() -> None:
    assert not Settings.from_env({}, dotenv_path=None).web_enabled
    public = Settings.from_env({"VANIKEYS_PUBLIC_URL": "https://keys.example/"}, dotenv_path=None)
    assert public.web_enabled and public.web_url == "https://keys.example/web"
    forced = Settings.from_env({"VANIKEYS_WEB": "on"}, dotenv_path=None)
    assert forced.web_enabled and forced.web_url is None  # on, but no public address to link to
    off = Settings.from_env({"VANIKEYS_PUBLIC_URL": "https://keys.example", "VANIKEYS_WEB": "off"}, dotenv_path=None)
    assert not off.web_enabled and off.web_url is None
    proxies = Settings.from_env({"VANIKEYS_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"}, dotenv_path=None)
    assert proxies.trusted_proxies == ("127.0.0.1", "10.0.0.0/8")
    for env in (
        {"VANIKEYS_WEB": "maybe"},
        {"VANIKEYS_TRUSTED_PROXIES": "proxy.local"},
        {"VANIKEYS_WEB_REQUESTS_PER_MINUTE": "0"},
        {"VANIKEYS_MINIAPP_MAX_AGE_S": "x"},
    ):
        with pytest.raises(ConfigError) as err:
            Settings.from_env(env, dotenv_path=None)
        assert next(iter(env)) in str(err.value)


async def test_mounted_on_the_stripe_webhook_server(tmp_path: Path) -> None:
    from payments.config import settings_from
    from payments.webhook import webhook_server

    stripe = settings_from(
        {
            "STRIPE_API_KEY": "sk_test_x",
            "STRIPE_WEBHOOK_SECRET": "whsec_x",
            "VANIKEYS_WEBHOOK_PORT": "0",
            "STRIPE_API_BASE": "http://127.0.0.1:9",
        }
    )
    assert stripe is not None
    async with create_app(small_settings(tmp_path, web_mode="on")) as app:

        async def apply(_: object) -> object:
            raise AssertionError("no event is applied here")

        async with webhook_server(stripe, apply, subapps=web_subapps(app)) as running, aiohttp.ClientSession() as http:
            base = running.url.rsplit("/stripe/webhook", 1)[0]
            async with http.get(f"{base}/web/odds?pattern=abc") as page:
                assert page.status == 200 and "Each tier" in await page.text()
                assert "Content-Security-Policy" in page.headers
            async with http.post(running.url, data=b"{}") as hook:  # the webhook itself is untouched
                assert hook.status == 400 and "Content-Security-Policy" not in hook.headers
            async with http.get(f"{base}/healthz") as health:
                assert health.status == 200


async def test_off_means_no_pages(tmp_path: Path) -> None:
    async with create_app(small_settings(tmp_path)) as app:
        assert web_subapps(app) == []
        async with web_server(app, "127.0.0.1", 0) as port:
            assert port is None


async def test_config_gallery_on_and_off(tmp_path: Path) -> None:
    settings = small_settings(
        tmp_path, web_mode="auto", public_url_configured=True, public_base_url="https://keys.example"
    )
    async with create_app(settings) as app:
        shown = await app.service.config(ALICE, GUILD, is_admin=True)
        assert not shown.config.gallery and "gallery: off" in shown.lines  # off by default
        on = await app.service.configure(ALICE, GUILD, "gallery", "on", is_admin=True)
        slug = on.config.gallery_slug
        assert on.config.gallery and slug and slug.startswith("guild-one-")
        assert GUILD.community_id not in slug
        assert on.message == f"gallery on: https://keys.example/web/c/{slug}"
        off = await app.service.configure(ALICE, GUILD, "gallery", "off", is_admin=True)
        assert not off.config.gallery and off.config.gallery_slug == slug
        again = await app.service.configure(ALICE, GUILD, "gallery", "yes", is_admin=True)
        assert again.config.gallery_slug == slug  # a link shared earlier keeps working
        from bot.answers import ServiceError

        with pytest.raises(ServiceError) as err:
            await app.service.configure(ALICE, GUILD, "gallery", "sometimes", is_admin=True)
        assert err.value.message == "gallery takes on or off"
        with pytest.raises(ServiceError):
            await app.service.configure(BOB, GUILD, "gallery", "on", is_admin=False)


async def test_odds_and_reveals_link_to_the_calculator(tmp_path: Path) -> None:
    from bot.frontends.telegram import rendering

    linked = small_settings(tmp_path, public_url_configured=True, public_base_url="https://keys.example/")
    async with create_app(linked) as app:
        answer = await app.service.odds("^Love", "btc", exact_case=True)
        assert answer.web_url == "https://keys.example/web/odds?format=btc&pattern=%5ELove&case=exact"
        assert (
            'href="https://keys.example/web/odds?format=btc&amp;pattern=%5ELove&amp;case=exact"'
            in rendering.render_odds(answer)
        )
        await app.service.grant(ALICE, 100)
        pulled = await app.service.pull(ALICE, None, "^abc xyz", "btc")
        assert pulled.odds.web_url is not None and pulled.odds.web_url in rendering.render_pull(
            pulled, deep_link=None
        ).replace("&amp;", "&")
    async with create_app(small_settings(tmp_path / "plain")) as app:
        answer = await app.service.odds("^Love", "btc")
        assert answer.web_url is None and "href" not in rendering.render_odds(answer)


def test_odds_page_address_keeps_the_options() -> None:
    from bot.links import odds_page_url

    url = odds_page_url("https://k.example/web", parse_pattern("btc", "ab", fuzzy=True))
    assert url == "https://k.example/web/odds?format=btc&pattern=ab&fuzzy=on"
    assert odds_page_url(None, parse_pattern("btc", "ab")) is None


async def test_sharing_a_profile_names_the_person_and_hide_undoes_it(tmp_path: Path) -> None:
    from bot.community import visibility

    async with create_app(small_settings(tmp_path)) as app:
        assert not await visibility.is_shown(app.db, ALICE)  # nobody is named until they choose it
        await app.service.profile(ALICE, GUILD)
        assert not await visibility.is_shown(app.db, ALICE)
        await app.service.profile(ALICE, GUILD, share=True)
        assert await visibility.is_shown(app.db, ALICE) and not await visibility.is_shown(app.db, BOB)
        await app.service.profile(ALICE, GUILD, share=True, hide=True)  # hide wins
        assert not await visibility.is_shown(app.db, ALICE)


async def test_console_profile_share_and_hide(tmp_path: Path) -> None:
    from bot.answers import UserRef
    from bot.community import visibility
    from tests.bot.test_console import run_lines

    erin = UserRef("console", "erin")
    async with create_app(small_settings(tmp_path)) as app:
        await run_lines(app, ["/profile --share"], as_json=True)
        shown = await visibility.is_shown(app.db, erin)
        await run_lines(app, ["/profile --hide"], as_json=True)
        assert shown and not await visibility.is_shown(app.db, erin)


@pytest.mark.parametrize("stripe", [False, True])
def test_vanikeys_bot_serves_the_pages(tmp_path: Path, stripe: bool) -> None:
    """The real command: the pages on the webhook's address, with or without Stripe, until SIGTERM."""
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.bot.test_console import _bot_env
    from tests.payments.stripe_thread import stripe_in_thread

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    extra = {"VANIKEYS_WEB": "on", "VANIKEYS_WEBHOOK_PORT": str(port)}
    fakes = contextlib.ExitStack()
    if stripe:  # the bot reaches Stripe at start (bot/startup.py): a fake answers on loopback
        fake_stripe = fakes.enter_context(stripe_in_thread("sk_test_123"))
        extra |= {
            "STRIPE_API_KEY": "sk_test_123",
            "STRIPE_WEBHOOK_SECRET": "whsec_test",
            "STRIPE_API_BASE": fake_stripe.url,
        }
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "bot"],
        cwd=tmp_path,
        env=_bot_env(tmp_path, **extra),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        page = None
        deadline = time.monotonic() + 60
        while page is None and time.monotonic() < deadline and bot.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/web/odds?pattern=abc", timeout=5) as response:
                    page = response.read().decode()
            except OSError:
                time.sleep(0.2)
        assert page is not None and "Each tier" in page, f"no pages (exit {bot.poll()})"
        assert bot.poll() is None, "the bot exited when the console reached end of input"
        bot.send_signal(signal.SIGTERM)
        _, stderr = bot.communicate(timeout=30)
        assert bot.returncode == 0, stderr
        assert ("the Stripe webhook" if stripe else "the web pages") in stderr
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.communicate()
        fakes.close()
