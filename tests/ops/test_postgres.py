"""The operator's tools on PostgreSQL: gauges, admin views and changes, pg_dump backup and pg_restore restore."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from bot import admin, metrics
from bot.answers import ServiceError
from bot.app import create_app
from bot.backup import BackupError, backup, restore
from bot.vault import parse_vault_key
from tests.bot.conftest import RecordingFrontEnd, postgres_server, small_settings  # noqa: F401
from tests.ops.session import ALICE, CAROL, FAILING_PATTERN, FlakyProvider
from tests.postgres import PostgresServer


async def test_admin_metrics_and_backups_on_postgres(tmp_path: Path, postgres_server: PostgresServer) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump / pg_restore are not installed")
    settings = small_settings(tmp_path, db_url=await postgres_server.fresh_database())
    async with create_app(settings, grinder=FlakyProvider("python"), resume_jobs=False) as app:
        app.service.register_frontend(RecordingFrontEnd("test"))
        app.service.register_frontend(RecordingFrontEnd("closed", dms_open=False))
        await app.service.grant(ALICE, 20)
        await app.service.grant(CAROL, 5)
        await app.service.pull(ALICE, None, "ab", allow_easy=True)
        with pytest.raises(ServiceError):
            await app.service.pull(ALICE, None, FAILING_PATTERN, allow_easy=True)
        carol = (await app.service.pull(CAROL, None, "ab", allow_easy=True)).job_id
        text = (await metrics.scrape(app.db)).decode()
    assert "vanikeys_tokens_outstanding 23.0" in text  # 20 + 5, less Alice's and Carol's pulls (one refunded)
    assert "vanikeys_undelivered_jobs 1.0" in text

    async with admin.open_state(settings) as state:
        assert (await admin.user_view(state, ALICE))["balance"] == 19
        assert (await admin.user_view(state, CAROL))["undelivered_keys"][0]["job_id"] == carol
        history = [s["status"] for s in (await admin.job_view(state, carol))["history"]]
        assert history == ["accepted", "submitted", "running", "found"]
        first = await admin.grant(state, ALICE, 5, reason="pg", actor="anna", key="admin:pg-1")
        again = await admin.grant(state, ALICE, 5, reason="pg", actor="anna", key="admin:pg-1")
        assert first.applied and not again.applied and again.balance == 24
        assert (await admin.freeze(state, ALICE, frozen=True, reason="review", actor="anna", key="admin:f-1")).applied
        refunded = await admin.refund(state, carol, reason="never arrived", actor="anna")
        assert refunded.applied and refunded.balance == 5
        assert not (await admin.refund(state, carol, reason="again", actor="anna")).applied
        assert await state.ledger.audit() == []
    async with create_app(settings, resume_jobs=False) as app:
        with pytest.raises(ServiceError) as frozen:
            await app.service.pull(ALICE, None, "ab", allow_easy=True)
        assert frozen.value.code == "account_frozen"

    manifest = await asyncio.to_thread(backup, settings, tmp_path / "backup")
    assert manifest.source == "postgresql" and manifest.sealed_secrets == 2  # Alice's (in its grace) and Carol's
    key = parse_vault_key(settings.vault_key or "")
    with pytest.raises(BackupError, match="another vault key"):
        await asyncio.to_thread(restore, tmp_path / "backup", bytes(32), url=await postgres_server.fresh_database())
    result = await asyncio.to_thread(restore, tmp_path / "backup", key, url=await postgres_server.fresh_database())
    assert result.sealed_secrets_opened == 2
