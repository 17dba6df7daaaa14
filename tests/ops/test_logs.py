"""The logs of a whole scripted session: one structured line per event, a job followed by one grep, no secret."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import aiohttp
import base58
import pytest

from bot import logs
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


async def test_a_session_logs_each_job_step_with_ids_and_no_secret(tmp_path: Path, fake_stripe: FakeStripe,
                                                                     http: aiohttp.ClientSession,
                                                                     root_logging: logging.Logger) -> None:
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
    payments = [(line["event"], line["user"], line["tokens"]) for line in events if line["event"].startswith("payment.")]
    assert payments == [("payment.applied", "test:alice", 500), ("payment.replayed", "test:alice", 0)]


def test_the_default_is_one_human_line_per_event(root_logging: logging.Logger,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(logs.FORMAT_ENV, raising=False)
    stream = io.StringIO()
    logs.setup(logging.INFO, stream=stream)
    logs.event("job.found", job_id="abc123", user="discord:42", provider_job_id="rp-9", keys_checked=240,
               note="two words")
    [line] = stream.getvalue().splitlines()
    assert " INFO vanikeys.events: job.found job_id=abc123 user=discord:42 provider_job_id=rp-9 keys_checked=240 " \
           'note="two words"' in line
    with pytest.raises(ConfigError, match="human or json"):
        logs.setup(logging.INFO, fmt="xml", stream=stream)


@pytest.mark.parametrize("fmt", ["json", "human"])
def test_tokens_in_any_library_line_are_redacted(root_logging: logging.Logger, fmt: str) -> None:
    stream = io.StringIO()
    telegram = "7012345678:AAH" + "x" * 32
    logs.setup(logging.INFO, fmt=fmt, secrets=["configured-discord-token-value"], stream=stream)
    # as httpx logs a request (the front end quiets httpx itself; any library may do the same)
    logging.getLogger("tests.ops.a_library").info('HTTP Request: POST https://api.telegram.org/bot%s/getMe '
                                                  '"HTTP/1.1 200 OK"', telegram)
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
    assert (first["job_id"], first["user"], first["message"]) == ("job-1", "telegram:77", "RunPod job rp-1 failed: boom")
    assert "job_id" not in second
