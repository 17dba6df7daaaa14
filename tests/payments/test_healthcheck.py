from __future__ import annotations

import asyncio

import pytest

from payments import healthcheck
from payments.webhook import webhook_server
from tests.payments.fake_stripe import FakeStripe
from tests.payments.helpers import API_KEY, WEBHOOK_SECRET, RecordingLedger, settings_for


def use_env(monkeypatch: pytest.MonkeyPatch, tmp_path, **env: str) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "VANIKEYS_WEBHOOK_HOST", "VANIKEYS_WEBHOOK_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


async def test_healthy_while_the_webhook_answers_and_not_after(fake_stripe: FakeStripe, monkeypatch, tmp_path) -> None:
    async with webhook_server(settings_for(fake_stripe), RecordingLedger().apply) as running:
        use_env(
            monkeypatch,
            tmp_path,
            STRIPE_API_KEY=API_KEY,
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            VANIKEYS_WEBHOOK_HOST="0.0.0.0",
            VANIKEYS_WEBHOOK_PORT=str(running.port),
        )
        assert await asyncio.to_thread(healthcheck.main) == 0
    assert healthcheck.main() == 1


def test_without_stripe_there_is_nothing_to_check(monkeypatch, tmp_path, capsys) -> None:
    use_env(monkeypatch, tmp_path)
    assert healthcheck.main() == 0
    assert "not configured" in capsys.readouterr().out


def test_broken_configuration_is_unhealthy(monkeypatch, tmp_path, capsys) -> None:
    use_env(monkeypatch, tmp_path, STRIPE_API_KEY=API_KEY)
    assert healthcheck.main() == 1
    assert "STRIPE_WEBHOOK_SECRET is not set" in capsys.readouterr().out
