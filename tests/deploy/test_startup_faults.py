"""A dependency unreachable or refusing at start: bounded retries, then one line and exit 2, never a traceback.

The real libraries (python-telegram-bot, discord.py, stripe, the RunPod client) against the loopback fakes
and against a closed port."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest
from aiohttp import web

from bot.app import create_app
from bot.frontends import discord as discord_frontend
from bot.startup import StartupFault, Unreachable, check_grinders, check_stripe, reach
from tests.bot.conftest import small_settings
from tests.payments.fake_stripe import FakeStripe
from tests.telegram.fake_bot_api import FakeBotApi, TelegramError
from tests.warm import shared as shared_warm_interpreter

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def vanikeys_bot(tmp_path: Path, **env: str) -> tuple[int, str, float]:
    """`vanikeys bot` as an operator runs it; (exit status, stderr, seconds)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_"))
    }
    clean.update(VANIKEYS_BACKEND="python", VANIKEYS_DB=str(tmp_path / "v.db"), PYTHONPATH=str(ROOT), **env)
    warm = shared_warm_interpreter()  # started (once per worker) before the clock: its imports are not the bot's
    started = time.monotonic()
    # a process of its own, forked from this worker's warm interpreter (tests/warm.py)
    process = warm.popen("bot.cli", ["bot"], env=clean, cwd=tmp_path, stdin=None)
    _, stderr = await asyncio.to_thread(process.communicate, None, 90)
    return process.returncode or 0, stderr, time.monotonic() - started


def one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("vanikeys: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


async def test_telegram_unreachable_retries_for_the_bounded_time_then_one_line(tmp_path: Path) -> None:
    port = closed_port()
    status, stderr, took = await vanikeys_bot(
        tmp_path,
        TELEGRAM_TOKEN="123:abc",
        VANIKEYS_START_RETRY_S="3",
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{port}/bot",
    )
    line = one_line_error(stderr)
    assert status == 2
    assert "Telegram Bot API unreachable" in line and "TELEGRAM_API_BASE_URL" in line
    assert "trying again" in stderr, "it retried before giving up"
    assert took < 30


async def test_telegram_refusing_the_token_is_not_retried(tmp_path: Path) -> None:
    fake = FakeBotApi()
    await fake.start()
    try:
        status, stderr, _ = await vanikeys_bot(
            tmp_path,
            TELEGRAM_TOKEN="999:not-the-token",
            VANIKEYS_START_RETRY_S="60",
            TELEGRAM_API_BASE_URL=fake.base_url,
        )
    finally:
        await fake.stop()
    line = one_line_error(stderr)
    assert status == 2 and "refused the credentials" in line and "@BotFather" in line
    assert "trying again" not in stderr
    assert "999:not-the-token" not in stderr, "the token stays out of the output"


async def test_telegram_5xx_then_up_starts(tmp_path: Path) -> None:
    """A Bot API that fails twice (502) and then answers: the bot starts (the retries are not a verdict)."""
    from bot.startup import check_telegram

    fake = FakeBotApi()
    await fake.start()
    try:
        fake.fail_next("getMe", TelegramError(502, "Bad Gateway"), times=2)
        name = await check_telegram(fake.token, fake.base_url, fake.base_file_url, deadline_s=30)
    finally:
        await fake.stop()
    assert name == fake.bot_username


@pytest.fixture
async def app_settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return small_settings(tmp_path, discord_token="fake-token", start_retry_s=2.0)


async def test_discord_unreachable_is_one_startup_fault(app_settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{closed_port()}/api/v10")
    async with create_app(app_settings, resume_jobs=False) as app:
        with pytest.raises(StartupFault) as fault:
            await discord_frontend.run(app, app_settings)
    assert "Discord's API unreachable" in str(fault.value) and "\n" not in str(fault.value)


@pytest.fixture
async def discord_401(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[str]]:
    """Discord's answer to a bad token: 401 {"message": "401: Unauthorized", "code": 0} on every route."""
    seen: list[str] = []

    async def refuse(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
    try:
        yield seen
    finally:
        await runner.cleanup()


async def test_discord_refusing_the_token_is_one_line_at_once(app_settings, discord_401: list[str]) -> None:  # type: ignore[no-untyped-def]
    async with create_app(app_settings, resume_jobs=False) as app:
        with pytest.raises(StartupFault) as fault:
            await discord_frontend.run(app, app_settings.replace(start_retry_s=60.0))
    assert "refused the credentials" in str(fault.value) and "Reset Token" in str(fault.value)
    assert discord_401 == ["/api/v10/users/@me"], "refused once, not retried"


async def test_discord_through_the_fake_connects_and_reports_healthy(
    app_settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from tests.discord.fake_discord import FakeDiscord

    async with FakeDiscord() as fake:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        async with create_app(app_settings, resume_jobs=False) as app:
            assert (await app.health.snapshot())["frontends"] == {
                "discord": {"ok": False, "detail": "configured but not started"}
            }
            running = asyncio.create_task(discord_frontend.run(app, app_settings))
            try:
                for _ in range(200):
                    state = (await app.health.snapshot())["frontends"]["discord"]  # type: ignore[index]
                    if state["ok"]:
                        break
                    await asyncio.sleep(0.05)
                assert state["ok"], state
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
            assert not (await app.health.snapshot())["frontends"]["discord"]["ok"]  # type: ignore[index]


async def test_discord_gateway_unreachable_is_one_line_in_bounded_time(
    app_settings,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The API answers (the login passes) but the gateway it names cannot be reached: discord.py would retry the
    shard forever; the bot gives up after its bounded wait with one line."""
    from tests.discord.fake_discord import FakeDiscord

    async with FakeDiscord() as fake:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        monkeypatch.setattr(
            FakeDiscord, "gateway_url", property(lambda self: f"ws://127.0.0.1:{closed_port()}/gateway")
        )
        async with create_app(app_settings, resume_jobs=False) as app:
            started = time.monotonic()
            with pytest.raises(StartupFault) as fault:
                await discord_frontend.run(app, app_settings.replace(start_retry_s=1.0))
            assert time.monotonic() - started < 30
    assert str(fault.value).startswith("Discord's gateway did not make the bot ready within")
    assert "\n" not in str(fault.value)
    retries = [r for r in caplog.records if r.name == "discord.shard"]
    assert retries and not any(r.exc_info for r in retries), "discord.py's retries are logged without tracebacks"


async def test_stripe_refused_unreachable_and_accepted() -> None:
    fake = await FakeStripe(api_key="sk_test_right").start()
    try:
        await check_stripe("sk_test_right", fake.url, deadline_s=5)  # a 404 for the probe charge: accepted
        with pytest.raises(StartupFault, match=r"Stripe's API refused the credentials .*STRIPE_API_KEY"):
            await check_stripe("sk_test_wrong", fake.url, deadline_s=5)
    finally:
        await fake.stop()
    with pytest.raises(StartupFault, match=r"Stripe's API unreachable .*api.stripe.com") as fault:
        await check_stripe("sk_test_right", f"http://127.0.0.1:{closed_port()}", deadline_s=1)
    assert "\n" not in str(fault.value)


async def test_stripe_unreachable_from_the_command_line(tmp_path: Path) -> None:
    status, stderr, _ = await vanikeys_bot(
        tmp_path,
        STRIPE_API_KEY="sk_test_x",
        STRIPE_WEBHOOK_SECRET="whsec_x",
        VANIKEYS_START_RETRY_S="1",
        STRIPE_API_BASE=f"http://127.0.0.1:{closed_port()}",
        VANIKEYS_WEBHOOK_PORT=str(closed_port()),
    )
    assert status == 2 and "Stripe's API unreachable" in one_line_error(stderr)


async def runpod_like(status: int) -> tuple[web.AppRunner, str]:
    async def health(request: web.Request) -> web.Response:
        if status != 200:
            return web.json_response({"error": "Unauthorized"}, status=status)
        return web.json_response({"jobs": {"inQueue": 0}, "workers": {"idle": 1, "running": 0}})

    app = web.Application()
    app.router.add_get("/v2/{endpoint}/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v2"  # type: ignore[union-attr]


async def test_runpod_refused_unreachable_and_healthy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The self-hosted box's own server (gpu_worker.selfhosted) answers 401 for a wrong token, as RunPod does."""
    from gpu_worker.grinders import get_backend
    from gpu_worker.selfhosted import SelfHostedWorker

    worker = SelfHostedWorker(token="t" * 20, backend=get_backend("python"))
    runner = web.AppRunner(worker.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    settings = small_settings(tmp_path, backend="runpod")
    try:
        monkeypatch.setenv("VANIKEYS_SELFHOSTED_URL", url)
        monkeypatch.setenv("VANIKEYS_SELFHOSTED_TOKEN", "t" * 20)
        await check_grinders(settings, deadline_s=5)
        monkeypatch.setenv("VANIKEYS_SELFHOSTED_TOKEN", "wrong-token-of-some-length")
        with pytest.raises(StartupFault, match=r"self-hosted grinder .* refused the credentials .*HTTP 401"):
            await check_grinders(settings, deadline_s=5)
    finally:
        await runner.cleanup()
    monkeypatch.setenv("VANIKEYS_SELFHOSTED_URL", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(StartupFault, match=r"unreachable .*gpu_worker.selfhosted"):
        await check_grinders(settings, deadline_s=1)


async def test_runpod_endpoint_refusing_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner, base = await runpod_like(401)
    try:
        monkeypatch.setenv("RUNPOD_BASE_URL", base)
        settings = small_settings(tmp_path, backend="runpod", runpod_api_key="rpa_wrong", runpod_endpoint_id="ep1")
        with pytest.raises(StartupFault, match=r"RunPod endpoint ep1 refused the credentials .*RUNPOD_API_KEY"):
            await check_grinders(settings, deadline_s=5)
    finally:
        await runner.cleanup()


async def test_backoff_is_bounded_by_the_deadline() -> None:
    now = [0.0]
    slept: list[float] = []

    async def never() -> None:
        raise Unreachable("down")

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with pytest.raises(StartupFault, match=r"X unreachable .*7 tries in 26 s.*fix it"):
        await reach(
            "X", never, refused_fix="", unreachable_fix="fix it", deadline_s=30, clock=lambda: now[0], sleep=sleep
        )
    assert slept == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0] and sum(slept) <= 30


async def test_the_bot_checks_telegram_once_at_start_then_polls(tmp_path: Path) -> None:
    """`vanikeys bot` reaches Telegram while its storage opens; the front end does not ask again (getMe twice: that
    check and python-telegram-bot's own initialize), then it polls, and SIGTERM stops it cleanly."""
    import signal

    class PollWatchingFake(FakeBotApi):
        """The fake records a request once answered, and a long poll is answered only after its timeout (10 s):
        this one also notes each getUpdates as it arrives, so the test sees the polling start at once."""

        polls_arrived = 0

        async def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
            self.polls_arrived += 1
            return await super()._api_getUpdates(params)

    fake = PollWatchingFake()
    await fake.start()
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_"))
    }
    clean.update(
        VANIKEYS_BACKEND="python",
        VANIKEYS_DB=str(tmp_path / "v.db"),
        VANIKEYS_VAULT_KEY="55" * 32,
        VANIKEYS_METRICS="off",
        PYTHONPATH=str(ROOT),
        TELEGRAM_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        TELEGRAM_API_FILE_URL=fake.base_file_url,
    )
    process = shared_warm_interpreter().popen(
        "bot.cli", ["bot"], env=clean, cwd=tmp_path, stdin=None, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not fake.polls_arrived and time.monotonic() < deadline and process.poll() is None:
            await asyncio.sleep(0.05)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(process.communicate, None, 60)
        await fake.stop()
    assert fake.polls_arrived, stderr[-2000:]
    assert [r.method for r in fake.requests].count("getMe") == 2, [r.method for r in fake.requests]
    assert process.returncode == 0, stderr[-2000:]
