"""`vanikeys doctor`: each check passing and failing against the loopback fakes, one line each, never a traceback."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import gpu_worker.handler
from bot.doctor import CHECKS, run_checks, services
from bot.doctor.chat import discord_permissions
from bot.doctor.local import clock_skew, free_disk, storage, vault_key
from bot.doctor.model import Context, Finding
from bot.doctor.services import REQUIRED_EVENTS
from bot.settings import load_settings
from bot.storage import open_database
from bot.vault import create_key_file, fingerprint, guard_key
from gpu_worker.grinders import get_backend
from gpu_worker.selfhosted import SelfHostedWorker
from gpu_worker.version import PROBE, worker_version
from payments.config import settings_from
from payments.fulfilment import Fulfilment
from payments.stripe_api import StripeApi
from payments.webhook import build_app
from tests.discord.fake_discord import FakeDiscord
from tests.payments.fake_stripe import FakeStripe
from tests.telegram.fake_bot_api import FakeBotApi
from tests.warm import shared
from tests.worker.runpod_emulator import RunpodEmulator

ROOT = Path(__file__).resolve().parents[2]
STRIPE_KEY = "sk_test_doctor"
WHSEC = "whsec_" + "A" * 32


@asynccontextmanager
async def context(env: dict[str, str], **options: Any) -> AsyncIterator[Context]:
    async with aiohttp.ClientSession() as http:
        yield Context(load_settings(env, dotenv_path=None), http, **options)


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def assert_one_line(findings: list[Finding]) -> None:
    for finding in findings:
        line = finding.line()
        assert "\n" not in line and "Traceback" not in line, line
        assert line[0] in "✓✗-"
        if finding.status in ("fail", "warn"):
            assert "— fix: " in line, line


# --- Discord ---------------------------------------------------------------------------------------------------


async def test_discord_passes_with_the_bot_user_its_install_settings_and_an_invite() -> None:
    needed, _ = discord_permissions()
    async with FakeDiscord() as fake:
        fake.bot_token = "good-token"
        fake.install_params = {"scopes": ["applications.commands", "bot"], "permissions": str(needed)}
        async with context({"DISCORD_TOKEN": "good-token"}, discord_api=fake.api_base) as ctx:
            found = by_check(await CHECKS[0][1](ctx))
    assert_one_line(list(found.values()))
    assert found["discord token"].status == "ok" and str(fake.bot_user.id) in found["discord token"].detail
    assert found["discord install settings"].status == "ok"
    invite = urlsplit(found["discord invite"].detail)
    query = parse_qs(invite.query)
    assert invite.netloc == "discord.com" and query["client_id"] == [str(fake.app_id)]
    assert query["scope"] == ["bot applications.commands"] and query["permissions"] == ["117760"]
    assert needed == 117760  # View Channel, Send Messages, Embed Links, Attach Files, Read Message History


async def test_discord_fails_on_a_rejected_token_and_flags_install_settings_without_the_scopes() -> None:
    async with FakeDiscord() as fake:
        fake.bot_token = "good-token"
        async with context({"DISCORD_TOKEN": "old-token"}, discord_api=fake.api_base) as ctx:
            rejected = await CHECKS[0][1](ctx)
        fake.install_params = {"scopes": ["bot"], "permissions": "2048"}
        async with context({"DISCORD_TOKEN": "good-token"}, discord_api=fake.api_base) as ctx:
            partial = by_check(await CHECKS[0][1](ctx))
    assert [(f.check, f.status) for f in rejected] == [("discord token", "fail")]
    assert "401" in rejected[0].detail and "Reset Token" in rejected[0].fix
    install = partial["discord install settings"]
    assert install.status == "warn" and "applications.commands" in install.detail
    assert "Embed Links" in install.detail and "Send Messages" not in install.detail
    assert_one_line(rejected + list(partial.values()))


# --- Telegram --------------------------------------------------------------------------------------------------


async def test_telegram_passes_when_polling_with_privacy_mode_off() -> None:
    async with FakeBotApi(privacy_mode=False) as fake:
        async with context({"TELEGRAM_TOKEN": fake.token, "TELEGRAM_API_BASE_URL": fake.base_url}) as ctx:
            found = by_check(await CHECKS[1][1](ctx))
    assert {k: f.status for k, f in found.items()} == {
        "telegram token": "ok",
        "telegram privacy mode": "ok",
        "telegram updates": "ok",
    }
    assert fake.bot_username in found["telegram token"].detail and "polling" in found["telegram updates"].detail


async def test_telegram_fails_on_a_bad_token_a_failing_webhook_and_warns_of_privacy_mode() -> None:
    async with FakeBotApi() as fake:
        env = {"TELEGRAM_TOKEN": "123:wrong", "TELEGRAM_API_BASE_URL": fake.base_url}
        async with context(env) as ctx:
            rejected = await CHECKS[1][1](ctx)
        fake.webhook_url = "https://bot.example/tg"
        fake.webhook_last_error = "SSL error {error:0A000086:SSL routines::certificate verify failed}"
        env = {
            "TELEGRAM_TOKEN": fake.token,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "TELEGRAM_WEBHOOK_URL": "https://bot.example/tg",
        }
        async with context(env) as ctx:
            found = by_check(await CHECKS[1][1](ctx))
        async with context({**env, "TELEGRAM_WEBHOOK_URL": "https://elsewhere.example/tg"}) as ctx:
            elsewhere = by_check(await CHECKS[1][1](ctx))
    assert [(f.check, f.status) for f in rejected] == [("telegram token", "fail")] and "BotFather" in rejected[0].fix
    assert found["telegram privacy mode"].status == "warn" and "/setprivacy" in found["telegram privacy mode"].fix
    assert (
        found["telegram updates"].status == "fail" and "certificate verify failed" in found["telegram updates"].detail
    )
    assert (
        elsewhere["telegram updates"].status == "fail"
        and "https://bot.example/tg" in elsewhere["telegram updates"].detail
    )
    assert_one_line(rejected + list(found.values()))


# --- Stripe ----------------------------------------------------------------------------------------------------


def _certificate(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) TLS contexts for 127.0.0.1 with a self-signed certificate the client trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


@asynccontextmanager
async def public_webhook(tmp_path: Path, fake: FakeStripe) -> AsyncIterator[tuple[str, ssl.SSLContext]]:
    """The real Stripe webhook app served over HTTPS on loopback, as a reverse proxy would publish it."""
    server_tls, client_tls = _certificate(tmp_path)
    stripe_settings = settings_from(
        {"STRIPE_API_KEY": STRIPE_KEY, "STRIPE_WEBHOOK_SECRET": WHSEC, "STRIPE_API_BASE": fake.url}
    )
    assert stripe_settings is not None

    async def apply(_: Any) -> None:
        raise AssertionError("an unsigned event must never be applied")

    runner = web.AppRunner(build_app(stripe_settings, apply, Fulfilment(StripeApi(stripe_settings))))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}", client_tls
    finally:
        await runner.cleanup()


def _stripe_env(fake: FakeStripe, public: str, key: str = STRIPE_KEY) -> dict[str, str]:
    return {
        "STRIPE_API_KEY": key,
        "STRIPE_WEBHOOK_SECRET": WHSEC,
        "STRIPE_API_BASE": fake.url,
        "VANIKEYS_PUBLIC_URL": public,
    }


async def test_stripe_passes_with_the_key_the_secret_the_public_https_webhook_and_its_events(tmp_path: Path) -> None:
    fake = await FakeStripe(STRIPE_KEY).start()
    try:
        async with public_webhook(tmp_path, fake) as (public, tls):
            fake.add_webhook_endpoint(public + "/stripe/webhook", list(REQUIRED_EVENTS))
            async with context(_stripe_env(fake, public), ssl_context=tls) as ctx:
                found = by_check(await services.stripe(ctx))
    finally:
        await fake.stop()
    assert {k: f.status for k, f in found.items()} == {
        "stripe webhook secret": "ok",
        "stripe key": "ok",
        "stripe public webhook": "ok",
        "stripe events": "ok",
    }
    assert "acct_test_fake (test mode)" in found["stripe key"].detail
    assert "400 to an unsigned event" in found["stripe public webhook"].detail


async def test_stripe_fails_on_a_bad_key_missing_events_plain_http_and_a_dead_public_url(tmp_path: Path) -> None:
    fake = await FakeStripe(STRIPE_KEY).start()
    try:
        async with context(_stripe_env(fake, "https://bot.example", key="sk_test_revoked")) as ctx:
            rejected = by_check(await services.stripe(ctx))
        async with public_webhook(tmp_path, fake) as (public, tls):
            fake.add_webhook_endpoint(public + "/stripe/webhook", ["checkout.session.completed"])
            async with context(_stripe_env(fake, public), ssl_context=tls) as ctx:
                missing = by_check(await services.stripe(ctx))
        async with context({**_stripe_env(fake, public), "STRIPE_WEBHOOK_SECRET": "whsec_x"}, ssl_context=tls) as ctx:
            dead = by_check(await services.stripe(ctx))  # the server is gone now
        async with context(_stripe_env(fake, "http://bot.example")) as ctx:
            plain = by_check(await services.stripe(ctx))
    finally:
        await fake.stop()
    assert rejected["stripe key"].status == "fail" and "apikeys" in rejected["stripe key"].fix
    events = missing["stripe events"]
    assert (
        events.status == "fail"
        and "charge.refunded" in events.detail
        and "checkout.session.completed," not in events.detail
    )
    assert dead["stripe public webhook"].status == "fail" and "does not answer" in dead["stripe public webhook"].detail
    assert dead["stripe webhook secret"].status == "fail"
    assert plain["stripe public webhook"].status == "fail" and "not https://" in plain["stripe public webhook"].detail
    assert plain["stripe events"].status == "fail" and "no webhook endpoint" in plain["stripe events"].detail
    assert_one_line([*rejected.values(), *missing.values(), *dead.values(), *plain.values()])


# --- RunPod, the self-hosted box, Modal ---------------------------------------------------------------------------


async def test_runpod_endpoint_health_passes_and_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = RunpodEmulator("rp-key", "ep1", backend=None)
    base = await emulator.start()
    try:
        env = {"RUNPOD_API_KEY": "rp-key", "RUNPOD_ENDPOINT_ID": "ep1", "RUNPOD_BASE_URL": base}
        async with context(env) as ctx:
            healthy = await services.runpod(ctx)
        async with context({**env, "RUNPOD_API_KEY": "other"}) as ctx:
            rejected = await services.runpod(ctx)
        async with context({**env, "RUNPOD_ENDPOINT_ID": "nope"}) as ctx:
            unknown = await services.runpod(ctx)
        emulator.unhealthy_workers = 1
        async with context(env) as ctx:
            unhealthy = await services.runpod(ctx)
        emulator.unhealthy_workers = 0
        monkeypatch.setattr(
            gpu_worker.handler,
            "version_answer",
            lambda raw: {"worker_version": "0123456789ab"} if raw == PROBE else None,
        )
        async with context(env) as ctx:
            other_engine = await services.runpod(ctx)
        monkeypatch.setattr(gpu_worker.handler, "version_answer", lambda raw: None)
        async with context(env) as ctx:
            old_worker = await services.runpod(ctx)
        emulator.idle_workers = 0
        async with context(env) as ctx:
            cold = await services.runpod(ctx)
    finally:
        await emulator.stop()
    assert [(f.check, f.status) for f in healthy] == [("runpod endpoint", "ok"), ("runpod endpoint version", "ok")]
    assert "1 worker(s) ready, 1 idle" in healthy[0].detail and worker_version() in healthy[1].detail
    assert other_engine[1].status == "warn" and "runs engine 0123456789ab" in other_engine[1].detail
    assert old_worker[1].status == "warn" and "predates version probes" in old_worker[1].detail
    assert "redeploy" in old_worker[1].fix
    assert rejected[0].status == "fail" and "401" in rejected[0].detail
    assert unknown[0].status == "fail" and "no endpoint nope" in unknown[0].detail
    assert unhealthy[0].status == "fail" and "1 unhealthy" in unhealthy[0].detail
    assert cold[0].status == "warn" and "cold start" in cold[0].detail and len(cold) == 1  # not woken to ask
    assert_one_line(healthy + rejected + unknown + unhealthy + other_engine + old_worker + cold)


async def test_the_self_hosted_box_answers_health_with_its_token_and_refuses_another() -> None:
    box = SelfHostedWorker(token="t" * 24, backend=get_backend("python"), slots=2)
    runner = web.AppRunner(box.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with context({"VANIKEYS_SELFHOSTED_URL": url, "VANIKEYS_SELFHOSTED_TOKEN": "t" * 24}) as ctx:
            healthy = await services.selfhosted(ctx)
        async with context({"VANIKEYS_SELFHOSTED_URL": url, "VANIKEYS_SELFHOSTED_TOKEN": "u" * 24}) as ctx:
            refused = await services.selfhosted(ctx)
    finally:
        await runner.cleanup()
    async with context({"VANIKEYS_SELFHOSTED_URL": url, "VANIKEYS_SELFHOSTED_TOKEN": "t" * 24}) as ctx:
        down = await run_checks(ctx, [("self-hosted box", services.selfhosted)])
    assert healthy[0].status == "ok" and "2 slot(s) idle" in healthy[0].detail
    assert healthy[1].status == "ok" and healthy[1].check == "self-hosted box version"
    assert refused[0].status == "fail" and "VANIKEYS_SELFHOSTED_TOKEN" in refused[0].fix
    assert down[0].status == "fail" and "cannot reach it" in down[0].detail
    assert_one_line(healthy + refused + down)


class _Aio:
    """A modal SDK method as the checks call it: `.aio(...)`."""

    def __init__(self, call: Any) -> None:
        self.aio = call


class DeployedFunction:
    """What modal.Function.from_name hydrates to, as far as doctor uses it; `remote` runs the real job body."""

    object_id = "fu-123"

    def __init__(self, runners: int) -> None:
        self.runners, self.calls = runners, 0

        async def stats() -> Any:
            return SimpleNamespace(backlog=0, num_total_runners=self.runners, num_running_inputs=0, input_headroom=1)

        async def remote(job_input: Any) -> Any:
            self.calls += 1
            return await gpu_worker.handler.handle_input(job_input, get_backend("python"))

        self.get_current_stats, self.remote = _Aio(stats), _Aio(remote)


async def test_modal_finds_the_deployed_function_its_engine_or_says_how_to_deploy_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warm, cold = DeployedFunction(runners=1), DeployedFunction(runners=0)

    def lookup(function: DeployedFunction) -> Any:
        async def found(app: str, name: str) -> Any:
            assert (app, name) == ("vanikeys-grinder", "grind")
            return function

        return found

    async def missing(app: str, function: str) -> Any:
        raise LookupError(f"App '{app}' not found in environment 'main'")

    async with context({"VANIKEYS_MODAL_APP": "vanikeys-grinder"}) as ctx:
        deployed = await services.modal(ctx, lookup(warm))
        asleep = await services.modal(ctx, lookup(cold))
        absent = await services.modal(ctx, missing)
        monkeypatch.setattr(gpu_worker.handler, "version_answer", lambda raw: None)
        old = await services.modal(ctx, lookup(warm))
    assert [(f.check, f.status) for f in deployed] == [("modal", "ok"), ("modal version", "ok")]
    assert "fu-123" in deployed[0].detail and worker_version() in deployed[1].detail
    assert asleep[1].status == "skip" and cold.calls == 0  # a cold app is not started just to ask
    assert absent == [absent[0]] and absent[0].status == "fail" and "modal deploy deploy/modal_app.py" in absent[0].fix
    assert old[1].status == "warn" and "predates version probes" in old[1].detail
    assert_one_line(deployed + asleep + absent + old)


# --- storage, the vault key, disk, clock ------------------------------------------------------------------------


async def test_storage_and_the_vault_key_pass_on_a_migrated_database_with_its_key(tmp_path: Path) -> None:
    db_path = tmp_path / "v.db"
    db = await open_database(db_path)
    key = await guard_key(db, configured=None, key_file=tmp_path / "v.db.vaultkey")
    await db.close()
    async with context({"VANIKEYS_DB": str(db_path)}) as ctx:
        found = by_check(await storage(ctx) + await vault_key(ctx))
    assert found["storage"].status == "ok" and "migrations current" in found["storage"].detail
    assert found["vault key"].status == "ok" and fingerprint(key) in found["vault key"].detail
    assert "matches the database" in found["vault key"].detail


async def test_storage_faults_are_one_line(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    (tmp_path / "dir.db").mkdir()
    old = tmp_path / "old.db"
    db = await open_database(old)
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM schema_version WHERE version > 3")
    await db.close()
    lines = []
    for target in (str(corrupt), str(tmp_path / "dir.db"), "postgresql://bot:pw@127.0.0.1:1/vanikeys"):
        async with context({"VANIKEYS_DB": target, "VANIKEYS_DB_CONNECT_TIMEOUT_S": "2"}) as ctx:
            lines += await run_checks(ctx, [("storage", storage)])
    async with context({"VANIKEYS_DB": str(old)}) as ctx:
        behind = await storage(ctx)
    assert [f.status for f in lines] == ["fail", "fail", "fail"]
    assert "pw" not in lines[2].detail and "127.0.0.1:1" in lines[2].detail
    assert behind[0].status == "warn" and "schema 3 of" in behind[0].detail and "backup" in behind[0].fix
    assert_one_line(lines + behind)


async def test_a_vault_key_that_is_not_the_databases_fails(tmp_path: Path) -> None:
    db_path = tmp_path / "v.db"
    db = await open_database(db_path)
    await guard_key(db, configured=None, key_file=tmp_path / "v.db.vaultkey")
    await db.close()
    other = create_key_file(tmp_path / "other.key")
    async with context({"VANIKEYS_DB": str(db_path), "VANIKEYS_VAULT_KEY": other.hex()}) as ctx:
        wrong = await vault_key(ctx)
    async with context({"VANIKEYS_DB": str(db_path), "VANIKEYS_VAULT_KEY": "00" * 32}) as ctx:
        zeros = await vault_key(ctx)
    (tmp_path / "v.db.vaultkey").unlink()
    async with context({"VANIKEYS_DB": str(db_path)}) as ctx:
        lost = await vault_key(ctx)
    assert wrong[0].status == "fail" and fingerprint(other) in wrong[0].detail and "rotate" in wrong[0].fix
    assert zeros[0].status == "fail" and "all zeros" in zeros[0].detail
    assert lost[0].status == "fail" and "missing" in lost[0].detail and "backup" in lost[0].fix
    assert_one_line(wrong + zeros + lost)


async def test_free_disk_and_clock_skew(tmp_path: Path) -> None:
    env = {"VANIKEYS_DB": str(tmp_path / "v.db")}
    async with context(env) as ctx:
        roomy = await free_disk(ctx)
    async with context(env, min_free_bytes=1 << 62) as ctx:
        full = await free_disk(ctx)
    async with FakeBotApi() as fake:
        env = {"TELEGRAM_TOKEN": fake.token, "TELEGRAM_API_BASE_URL": fake.base_url}
        async with context(env) as ctx:
            await CHECKS[1][1](ctx)
            in_step = await clock_skew(ctx)
        async with context(env, clock=lambda: time.time() + 600) as ctx:
            await CHECKS[1][1](ctx)
            ahead = await clock_skew(ctx)
    async with context({}) as ctx:
        alone = await clock_skew(ctx)
    assert roomy[0].status == "ok" and full[0].status == "fail" and "GiB" in full[0].fix
    assert in_step[0].status == "ok" and "Telegram" in in_step[0].detail
    # The Date header counts whole seconds.
    assert ahead[0].status == "fail" and re.fullmatch(
        r"this clock is (599|600|601) s ahead of Telegram", ahead[0].detail
    )
    assert alone[0].status == "skip"
    assert_one_line(roomy + full + in_step + ahead + alone)


async def test_a_token_in_a_failing_url_never_reaches_the_output() -> None:
    token = "123456:SECRET-token-value"
    async with context({"TELEGRAM_TOKEN": token, "TELEGRAM_API_BASE_URL": "http://[::1/bot"}) as ctx:
        found = await run_checks(ctx, [("telegram", CHECKS[1][1])])
    assert found[0].status == "fail" and "***" in found[0].detail, found[0].detail
    assert token not in found[0].line() and "SECRET" not in json.dumps(found[0].to_json())


async def test_a_check_that_hangs_is_one_line_after_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.doctor

    async def hangs(ctx: Context) -> list[Finding]:
        await asyncio.sleep(3600)
        return []

    monkeypatch.setattr(bot.doctor, "CHECK_LIMIT_S", 0.2)
    async with context({}) as ctx:
        found = await run_checks(ctx, [("modal", hangs), ("free disk", free_disk)])
    assert [(f.check, f.status) for f in found] == [("modal", "fail"), ("free disk", "ok")]
    assert "no answer within 0 s" in found[0].detail
    assert_one_line(found)


# --- the command -------------------------------------------------------------------------------------------------


async def _doctor(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """`vanikeys doctor ARGS` as a fork of the warm interpreter, waited for on a thread (the fakes it checks
    run on this event loop)."""
    done = await asyncio.to_thread(
        shared().run, "bot.cli", ["doctor", *args], env={**_clean_env(), **env}, cwd=cwd, timeout=120
    )
    return done.returncode, done.stdout, done.stderr


def _clean_env() -> dict[str, str]:
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_"))
    }
    return {**kept, "PYTHONPATH": str(ROOT)}


async def test_the_command_exits_non_zero_on_a_required_failure_and_speaks_json(tmp_path: Path) -> None:
    async with FakeBotApi(privacy_mode=False) as fake:
        good = {
            "TELEGRAM_TOKEN": fake.token,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "VANIKEYS_DB": str(tmp_path / "v.db"),
        }
        code, out, err = await _doctor([], good, tmp_path)
        assert code == 0 and err == "", err
        assert "✓ telegram token: bot @VaniKeysTestBot" in out and "- discord: not configured" in out
        code, out, err = await _doctor(["--json"], {**good, "TELEGRAM_TOKEN": "1:revoked"}, tmp_path)
    assert code == 1 and err == ""
    findings = {f["check"]: f for f in json.loads(out)}
    assert findings["telegram token"]["status"] == "fail" and findings["telegram token"]["fix"]
    code, out, err = await _doctor([], {"VANIKEYS_PULL_PRICE": "abc"}, tmp_path)
    assert code == 2 and out == (
        "✗ configuration: VANIKEYS_PULL_PRICE='abc': a whole number of tokens, 0 or more "
        "— fix: set a value it accepts, or unset it for the default\n"
    )


@pytest.fixture(autouse=True)
def _no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    yield


# --- the command in the terminal's language, in this process -------------------------------------------------------

LANGUAGE_VARIABLES = ("VANIKEYS_LANGUAGE", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def doctor_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], lang: str, *args: str, **env: str
) -> tuple[int, str]:
    """`vanikeys doctor ARGS` as an operator runs it with LANG=lang (bot.cli.main): its exit code and output."""
    from bot.cli import main

    for name in list(os.environ):
        if name.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_")) or name in LANGUAGE_VARIABLES:
            monkeypatch.delenv(name)
    for name, value in {"LANG": lang, **env}.items():
        monkeypatch.setenv(name, value)
    code = main(["doctor", *args])
    return code, capsys.readouterr().out


def test_a_russian_terminal_reads_doctor_in_russian_and_its_json_stays_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = {"VANIKEYS_DB": str(tmp_path / "v.db")}
    code, out = doctor_in_process(monkeypatch, capsys, "ru_RU.UTF-8", **db)
    assert code == 0, out
    assert "- discord: не настроено (задай DISCORD_TOKEN, чтобы проверить)\n" in out
    assert f"✗ база данных: в {tmp_path / 'v.db'} её пока нет (необязательно) — как исправить: " in out
    assert "✓ свободное место: " in out and "- расхождение часов: " in out
    for english in ("not configured", "storage", "fix:", "not required", "free disk"):
        assert english not in out, english

    russian = doctor_in_process(monkeypatch, capsys, "ru_RU.UTF-8", "--json", **db)
    english = doctor_in_process(monkeypatch, capsys, "C", "--json", **db)
    assert russian == english  # byte for byte: scripts parse it
    findings = {f["check"]: f for f in json.loads(english[1])}
    assert findings["discord"]["detail"] == "not configured (set DISCORD_TOKEN to run it)"
    assert findings["storage"]["status"] == "warn" and findings["storage"]["detail"].startswith("no database at ")
