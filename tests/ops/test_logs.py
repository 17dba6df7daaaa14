"""The logs of a whole scripted session: one structured line per event, a job followed by one grep, no secret."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path

import aiohttp
import base58
import pytest

from bot import logs
from bot.answers import UserRef
from bot.config import ConfigError
from tests.ops.session import scripted_session
from tests.payments.fake_stripe import FakeStripe


def every_form_of(values: list[str]) -> list[str]:
    """A delivered secret as handed over, plus its raw 64-hex form (a WIF's payload) in both cases."""
    forms: list[str] = []
    for value in values:
        forms.append(value)
        raw = value.lower().removeprefix("0x")
        if len(raw) != 64:
            try:
                raw = base58.b58decode_check(value)[1:33].hex()
            except ValueError:
                continue
        forms += [raw, raw.upper()]
    return forms


async def test_a_session_logs_each_job_step_with_ids_and_no_secret(
    tmp_path: Path, fake_stripe: FakeStripe, http: aiohttp.ClientSession, root_logging: logging.Logger
) -> None:
    stream = io.StringIO()
    async with scripted_session(tmp_path, fake_stripe, http) as session:
        logs.setup(logging.DEBUG, fmt="json", secrets=logs.configured_secrets(session.app.settings), stream=stream)
        await session.run_script()
        delivered = every_form_of(session.delivered_secrets())
        tokens = list(session.tokens.values())
        job_ids = list(session.job_ids)
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert len(lines) == len([line for line in text.splitlines() if line.strip()]), "every line is one JSON object"
    assert len(delivered) == 3 * 3 and len(tokens) == 6  # 3 deliveries (2 pulls, 1 order), 3 forms each

    for secret in delivered + tokens:
        assert secret not in text

    events = [line for line in lines if "event" in line]
    for job_id in job_ids:
        mine = [line["event"] for line in events if line.get("job_id") == job_id]
        assert mine[:4] == ["job.accepted", "job.submitted", "job.running", "job.found"], (job_id, mine)
        assert mine[-1] in ("job.delivered", "job.undelivered")
        assert all(line["user"] for line in events if line.get("job_id") == job_id)
    pull = job_ids[0]
    [submitted] = [line for line in events if line["event"] == "job.submitted" and line["job_id"] == pull]
    assert submitted["provider_job_id"].startswith("python-") and submitted["user"] == "test:alice"
    [failed] = [line for line in events if line["event"] == "job.failed"]
    assert failed["level"] == "info" and "failed on the provider" in failed["error"]
    [refunded] = [line for line in events if line["event"] == "job.refunded"]
    assert refunded["job_id"] == failed["job_id"] and refunded["tokens"] == 1
    [undelivered] = [line for line in events if line["event"] == "job.undelivered"]
    assert undelivered["user"] == "closed:carol"
    payments = [
        (line["event"], line["user"], line["tokens"]) for line in events if line["event"].startswith("payment.")
    ]
    assert payments == [("payment.applied", "test:alice", 500), ("payment.replayed", "test:alice", 0)]


def test_the_default_is_one_human_line_per_event(root_logging: logging.Logger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(logs.FORMAT_ENV, raising=False)
    stream = io.StringIO()
    logs.setup(logging.INFO, stream=stream)
    logs.event(
        "job.found", job_id="abc123", user="discord:42", provider_job_id="rp-9", keys_checked=240, note="two words"
    )
    [line] = stream.getvalue().splitlines()
    assert (
        " INFO vanikeys.events: job.found job_id=abc123 user=discord:42 provider_job_id=rp-9 keys_checked=240 "
        'note="two words"' in line
    )
    with pytest.raises(ConfigError, match="human or json"):
        logs.setup(logging.INFO, fmt="xml", stream=stream)


@pytest.mark.parametrize("fmt", ["json", "human"])
def test_tokens_in_any_library_line_are_redacted(root_logging: logging.Logger, fmt: str) -> None:
    stream = io.StringIO()
    telegram = "7012345678:AAH" + "x" * 32
    logs.setup(logging.INFO, fmt=fmt, secrets=["configured-discord-token-value"], stream=stream)
    # as httpx logs a request (the front end quiets httpx itself; any library may do the same)
    logging.getLogger("tests.ops.a_library").info(
        'HTTP Request: POST https://api.telegram.org/bot%s/getMe "HTTP/1.1 200 OK"', telegram
    )
    logging.getLogger("discord.http").warning("login with configured-discord-token-value failed")
    logging.getLogger("stripe").info("key sk_live_%s and secret whsec_%s", "A1b2" * 6, "Z9" * 10)
    text = stream.getvalue()
    assert "7012345678:AAH" not in text and "configured-discord-token-value" not in text
    assert "sk_live_A1b2" not in text and "whsec_Z9" not in text
    assert text.count(logs.REDACTED) == 4
    assert "api.telegram.org/bot<redacted>/getMe" in text


async def test_lines_logged_while_a_job_runs_carry_its_id(root_logging: logging.Logger) -> None:
    import asyncio

    stream = io.StringIO()
    logs.setup(logging.INFO, fmt="json", stream=stream)

    async def a_job_task() -> None:
        logs.bind_job("job-1", "telegram", "77")
        logging.getLogger("bot.grinding.runpod_backend").warning("RunPod job rp-1 failed: boom")

    await asyncio.create_task(a_job_task())
    logging.getLogger("elsewhere").info("not in a job")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["job_id"], first["user"], first["message"]) == (
        "job-1",
        "telegram:77",
        "RunPod job rp-1 failed: boom",
    )
    assert "job_id" not in second


# --- faults: one episode, not a line (or a traceback) per failed operation -----------------------------------


def lines_of(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def assert_one_episode(lines: list[dict], cause: str) -> None:
    """At INFO and above: the episode's start with its cause and its summary, no traceback, nothing per failure."""
    loud = [line for line in lines if line["level"] != "debug"]
    assert all("Traceback" not in line.get("message", "") for line in loud), loud
    faults = [line["message"] for line in loud if line["level"] in ("warning", "error")]
    assert len(faults) == 2, faults
    assert faults[0].startswith("storage unavailable: ") and cause in faults[0]
    assert faults[1].startswith("storage recovered after ")
    failed = int(faults[1].split(": ", 1)[1].split(" ", 1)[0])
    debug = [line for line in lines if line["level"] == "debug" and line["logger"] == "vanikeys.faults.storage"]
    assert failed == len(debug) > 3 and any("Traceback" in line["message"] for line in debug)


async def ride_out_a_fault(app, grinder, start_fault, end_fault, seconds: float) -> None:
    """A pull grinding when the fault starts, commands every 0.2 s and maintenance rounds through it, then recovery."""
    import asyncio
    import time

    from bot.answers import ServiceError
    from tests.bot.conftest import ALICE

    await app.service.grant(ALICE, 5)
    pulling = asyncio.create_task(app.service.pull(ALICE, None, "ab", allow_easy=True))
    await grinder.waiting.wait()
    await start_fault()
    grinder.release.set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for call in (app.service.grant(ALICE, 1), app.service.balance(ALICE)):
            try:
                await call
            except ServiceError:
                pass
        await asyncio.sleep(0.2)
    await end_fault()
    with contextlib.suppress(ServiceError):
        await pulling
    await app.jobs.sweep()
    await app.jobs.wait_idle()
    await app.service.grant(ALICE, 1)  # a write that succeeds: the episode's end


async def test_a_postgres_outage_logs_one_episode_without_tracebacks(
    tmp_path: Path, root_logging: logging.Logger
) -> None:
    import asyncio

    from bot.app import create_app
    from tests.bot.conftest import RecordingFrontEnd, small_settings
    from tests.bot.faults import GatedGrinder
    from tests.postgres import PostgresServer, require_postgres

    require_postgres()
    server = PostgresServer().start()
    stream = io.StringIO()
    try:
        grinder = GatedGrinder()
        async with create_app(
            small_settings(tmp_path, db_url=server.url("postgres"), job_lease_s=1.5), grinder=grinder
        ) as app:
            app.service.register_frontend(RecordingFrontEnd())
            logs.STORAGE.cleared()
            logs.setup(logging.DEBUG, fmt="json", stream=stream)

            async def stop() -> None:
                await asyncio.to_thread(server.stop)

            async def start() -> None:
                await asyncio.to_thread(server.start)

            await ride_out_a_fault(app, grinder, stop, start, 4.0)
    finally:
        server.destroy()
    assert_one_episode(lines_of(stream), "Error")


async def test_a_full_disk_logs_one_episode_without_tracebacks(tmp_path: Path, root_logging: logging.Logger) -> None:
    from bot.app import create_app
    from tests.bot.conftest import RecordingFrontEnd, small_settings
    from tests.bot.faults import GatedGrinder, fill, small_disk, small_disk_unavailable

    reason = small_disk_unavailable()
    if reason:
        pytest.skip(reason)
    stream = io.StringIO()
    with small_disk(8) as disk:
        grinder = GatedGrinder()
        async with create_app(
            small_settings(tmp_path, db_path=disk / "vanikeys.db", job_lease_s=1.5), grinder=grinder
        ) as app:
            app.service.register_frontend(RecordingFrontEnd())
            logs.STORAGE.cleared()
            logs.setup(logging.DEBUG, fmt="json", stream=stream)
            filler: list[Path] = []

            async def fill_up() -> None:
                filler.append(fill(disk))

            async def free() -> None:
                filler[0].unlink()

            await ride_out_a_fault(app, grinder, fill_up, free, 3.0)
    assert_one_episode(lines_of(stream), "database or disk is full")


async def test_a_stripe_event_with_unusable_token_metadata_is_one_warning_and_a_recorded_issue(
    tmp_path: Path, fake_stripe: FakeStripe, http: aiohttp.ClientSession, root_logging: logging.Logger
) -> None:
    from bot.app import create_app
    from bot.payment_issues import PaymentIssues
    from payments.webhook import webhook_server
    from tests.bot.conftest import small_settings
    from tests.payments.helpers import post_event, settings_for
    from tests.payments.stripe_events import completed_session, event_json

    stream = io.StringIO()
    metadata = {"platform": "test", "user_id": "alice", "pack_id": "500", "tokens": "\u00b2"}
    async with create_app(small_settings(tmp_path), resume_jobs=False) as app:
        issues = PaymentIssues(app.db)
        async with webhook_server(
            settings_for(fake_stripe), app.service.apply_instruction, report=issues.record
        ) as hook:
            logs.setup(logging.INFO, fmt="json", stream=stream)
            event = event_json(
                "checkout.session.completed",
                completed_session("cs_test_sq", metadata, 399),
                event_id="evt_test_superscript",
            )
            status, body = await post_event(http, hook.url, event)
            assert status == 200 and body["note"].startswith("not credited")
            [issue] = await issues.open_issues()
            assert issue["event_id"] == "evt_test_superscript" and "tokens='²'" in issue["reason"]
        assert (await app.ledger.account(UserRef("test", "alice"))).balance == 0
    lines = lines_of(stream)
    loud = [line for line in lines if line["level"] in ("warning", "error")]
    assert [line["level"] for line in loud] == ["warning"], loud
    assert "evt_test_superscript" in loud[0]["message"] and "Traceback" not in stream.getvalue()
