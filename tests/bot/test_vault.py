"""Private keys at rest: encrypted, bound to their row, purged after delivery + grace, never in the file or the logs."""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path

import base58
import pytest

from bot.app import create_app
from bot.config import Settings
from bot.vault import Vault, VaultError, load_or_create_key_file, parse_vault_key

from .conftest import ALICE, GUILD, RecordingFrontEnd, small_settings


def secret_forms(value: str, export_kind: str) -> list[bytes]:
    """Every way a secret could sit in a file: raw bytes, hex either case, WIF."""
    if export_kind == "wif":
        raw = base58.b58decode_check(value)[1:33]
        forms = [value.encode()]
    else:
        raw = bytes.fromhex(value)
        forms = []
    return forms + [raw, raw.hex().encode(), raw.hex().upper().encode()]


async def test_no_secret_in_the_database_files_or_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = small_settings(tmp_path)
    secrets_seen = []
    async with create_app(settings) as app:
        fe = RecordingFrontEnd()
        app.service.register_frontend(fe)
        await app.service.grant(ALICE, 100)
        for fmt, pattern in (("btc", "ab"), ("did", "cd"), ("eth", "ef"), ("trx", "gh")):
            await app.service.pull(ALICE, GUILD, pattern, fmt, 10 if fmt == "btc" else 1, allow_easy=True)
        await app.service.order(ALICE, None, "^a", "eth")
        await app.jobs.wait_idle()
        closed = RecordingFrontEnd(dms_open=False)
        app.service.register_frontend(closed)
        await app.service.pull(
            ALICE, GUILD, "zz", "btc", allow_easy=True
        )  # undelivered: stays (encrypted) in the vault
        for _, delivery in fe.deliveries:
            for item in delivery.secrets:
                secrets_seen.append((item.value, item.export_kind))
                if item.jwk:
                    secrets_seen.append((item.jwk.split('"d":"')[1].split('"')[0], "jwk"))
        rows = await app.db.fetchone("SELECT COUNT(*) AS n FROM vault WHERE ciphertext IS NOT NULL")
        assert rows["n"] == 15
    assert len(secrets_seen) >= 14
    blobs = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("vanikeys.db"))
    logs = caplog.text.encode()
    for value, kind in secrets_seen:
        forms = [value.encode()] if kind == "jwk" else secret_forms(value, kind)
        for form in forms:
            assert form not in blobs
            assert form not in logs


async def test_the_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    settings = small_settings(tmp_path, vault_key=None)
    async with create_app(settings) as app:
        fe = RecordingFrontEnd(dms_open=False)
        app.service.register_frontend(fe)
        await app.service.grant(ALICE, 1)
        pulled = await app.service.pull(ALICE, None, "ab", allow_easy=True)
    key_file = settings.resolved_vault_key_file
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    async with create_app(settings) as app:  # the same key opens what the first run sealed
        fe = RecordingFrontEnd()
        app.service.register_frontend(fe)
        got = await app.service.keys(ALICE)
        assert got.delivered == (pulled.job_id,)
        assert fe.deliveries[0][1].secrets[0].identifier == pulled.best.identifier
    assert load_or_create_key_file(key_file) == load_or_create_key_file(key_file)


async def test_a_wrong_key_or_a_swapped_row_does_not_open(store_settings: Settings) -> None:
    settings = store_settings
    async with create_app(settings) as app:
        app.service.register_frontend(RecordingFrontEnd(dms_open=False))
        await app.service.grant(ALICE, 2)
        first = await app.service.pull(ALICE, None, "ab", allow_easy=True)
        second = await app.service.pull(ALICE, None, "cd", allow_easy=True)
        wrong = Vault(app.db, bytes(range(32)), grace_s=0)
        with pytest.raises(VaultError, match="VANIKEYS_VAULT_KEY"):
            await wrong.open_job(first.job_id)
        async with app.db.transaction() as tx:  # move one sealed secret under the other job's row
            row = await tx.fetchone("SELECT nonce, ciphertext FROM vault WHERE job_id = ?", (first.job_id,))
            await tx.execute(
                "UPDATE vault SET nonce = ?, ciphertext = ? WHERE job_id = ?",
                (row["nonce"], row["ciphertext"], second.job_id),
            )
        with pytest.raises(VaultError):
            await app.vault.open_job(second.job_id)


async def test_delivered_secrets_are_purged_after_the_grace_period_undelivered_never(store_settings: Settings) -> None:
    async with create_app(store_settings.replace(vault_grace_s=3600)) as app:
        fe = RecordingFrontEnd()
        app.service.register_frontend(fe)
        await app.service.grant(ALICE, 2)
        delivered = await app.service.pull(ALICE, None, "ab", allow_easy=True)
        app.service.register_frontend(RecordingFrontEnd(dms_open=False))
        kept = await app.service.pull(ALICE, None, "cd", allow_easy=True)
        assert await app.vault.purge() == 0  # within the grace period
        assert await app.vault.purge(now=time.time() + 3601) == 1
        assert await app.vault.open_job(delivered.job_id) == []
        assert len(await app.vault.open_job(kept.job_id)) == 1
        row = await app.db.fetchone(
            "SELECT nonce, ciphertext, purged_at FROM vault WHERE job_id = ?", (delivered.job_id,)
        )
        assert row["ciphertext"] is None and row["nonce"] is None and row["purged_at"] is not None


def test_vault_key_formats() -> None:
    assert parse_vault_key("ab" * 32) == bytes([0xAB]) * 32
    with pytest.raises(VaultError, match="64 hex characters"):
        parse_vault_key("too-short")
