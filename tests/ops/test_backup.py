"""Backups taken while pulls run restore whole: every sealed secret opens; the wrong key is refused up front."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.answers import UserRef
from bot.app import create_app
from bot.backup import FINGERPRINT_FILE, MANIFEST_FILE, SQLITE_FILE, BackupError, read_manifest, restore
from bot.ledger import Ledger
from bot.storage import Database
from bot.vault import Vault, fingerprint, parse_vault_key
from gpu_worker.formats import get_format, identifier_from_secret
from tests.bot.conftest import RecordingFrontEnd, small_settings

REPO = Path(__file__).resolve().parents[2]
PULLERS = [UserRef("test", f"user{i}") for i in range(3)] + [UserRef("closed", f"shy{i}") for i in range(2)]


async def vanikeys(*argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *argv, cwd=REPO, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 90)
    return process.returncode or 0, out.decode(), err.decode()


async def test_backup_under_load_restores_into_a_fresh_directory_and_every_secret_opens(tmp_path: Path) -> None:
    settings = small_settings(tmp_path / "live", vault_grace_s=86_400.0)
    env = {"VANIKEYS_DB": str(settings.db_path), "VANIKEYS_VAULT_KEY": settings.vault_key or ""}
    stop = asyncio.Event()
    pulls = 0

    async with create_app(settings) as app:
        app.service.register_frontend(RecordingFrontEnd("test"))
        app.service.register_frontend(RecordingFrontEnd("closed", dms_open=False))  # their keys stay sealed

        async def keep_pulling(user: UserRef) -> None:
            nonlocal pulls
            await app.service.grant(user, 1000)
            while not stop.is_set():
                await app.service.pull(user, None, "ab", allow_easy=True)
                pulls += 1

        load = [asyncio.create_task(keep_pulling(user)) for user in PULLERS]
        while pulls < 5:
            await asyncio.sleep(0.05)
        before = pulls
        code, out, err = await vanikeys("backup", str(tmp_path / "backup"), env=env)
        during = pulls - before
        while pulls < before + during + 3:  # and the bot kept going after it
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*load)
    assert code == 0, err
    assert "backed up sqlite" in out and settings.vault_key not in out + err
    assert during > 0, "pulls were running while the backup was taken"

    manifest = read_manifest(tmp_path / "backup")
    assert manifest.vault_key_fingerprint == fingerprint(parse_vault_key(settings.vault_key or ""))
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == [MANIFEST_FILE, SQLITE_FILE, FINGERPRINT_FILE]
    backup_bytes = b"".join(p.read_bytes() for p in (tmp_path / "backup").iterdir())
    assert (settings.vault_key or "").encode() not in backup_bytes
    assert bytes.fromhex(settings.vault_key or "") not in backup_bytes
    assert manifest.sealed_secrets >= 5

    fresh = tmp_path / "fresh" / "vanikeys.db"
    code, out, err = await vanikeys("restore", str(tmp_path / "backup"), "--db", str(fresh), "--json",
                                    env={"VANIKEYS_VAULT_KEY": settings.vault_key or "", "VANIKEYS_DB": ""})
    assert code == 0, err
    assert json.loads(out)["sealed_secrets_opened"] == manifest.sealed_secrets

    # Open every sealed secret in the restored copy ourselves, and re-derive each identifier from it.
    db = await Database.open(fresh)
    try:
        vault = Vault(db, parse_vault_key(settings.vault_key or ""), grace_s=86_400.0)
        rows = await db.fetchall("SELECT job_id, format FROM jobs WHERE status IN ('found', 'delivered')")
        opened = 0
        for row in rows:
            for sealed in await vault.open_job(row["job_id"]):
                assert identifier_from_secret(get_format(row["format"]), sealed.secret) == sealed.identifier
                opened += 1
        assert opened == manifest.sealed_secrets == len(rows)
        assert await Ledger(db, free_pulls_per_day=0, daily_spend_limit=10**6).audit() == []  # one consistent moment
        assert (await db.fetchone("SELECT COUNT(*) AS n FROM jobs"))["n"] == manifest.rows["jobs"]
    finally:
        await db.close()


@pytest.fixture
def backup_dir(tmp_path: Path) -> tuple[Path, str]:
    settings = small_settings(tmp_path / "live")

    async def one_pull() -> None:
        async with create_app(settings) as app:
            app.service.register_frontend(RecordingFrontEnd("closed", dms_open=False))
            await app.service.grant(UserRef("closed", "x"), 5)
            await app.service.pull(UserRef("closed", "x"), None, "ab", allow_easy=True)

    asyncio.run(one_pull())
    from bot.backup import backup

    backup(settings, tmp_path / "backup")
    return tmp_path / "backup", settings.vault_key or ""


def test_restore_refuses_another_key_before_writing_anything(tmp_path: Path, backup_dir: tuple[Path, str]) -> None:
    src, key = backup_dir
    target = tmp_path / "restored" / "vanikeys.db"
    with pytest.raises(BackupError, match="another vault key"):
        restore(src, secrets.token_bytes(32), target=target)
    assert not target.exists()
    result = restore(src, parse_vault_key(key), target=target)
    assert result.sealed_secrets_opened == 1
    with pytest.raises(BackupError, match="already exists"):
        restore(src, parse_vault_key(key), target=target)


def test_restore_refuses_a_damaged_or_altered_backup(tmp_path: Path, backup_dir: tuple[Path, str]) -> None:
    src, key = backup_dir
    conn = sqlite3.connect(src / SQLITE_FILE)
    conn.execute("UPDATE accounts SET balance = balance + 1000")
    conn.commit()
    conn.close()
    with pytest.raises(BackupError, match="damaged"):
        restore(src, parse_vault_key(key), target=tmp_path / "a.db")
    (src / FINGERPRINT_FILE).write_text(fingerprint(secrets.token_bytes(32)) + "\n")
    with pytest.raises(BackupError, match="altered"):
        restore(src, parse_vault_key(key), target=tmp_path / "b.db")


async def test_backup_refuses_a_used_destination_and_a_missing_database(tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("x")
    env = {"VANIKEYS_DB": str(tmp_path / "missing.db"), "VANIKEYS_VAULT_KEY": secrets.token_hex(32)}
    code, out, err = await vanikeys("backup", str(tmp_path / "new"), env=env)
    assert code == 2 and "no database" in err and err.count("\n") == 1
    async with create_app(small_settings(tmp_path)) as _:
        pass
    env["VANIKEYS_DB"] = str(tmp_path / "vanikeys.db")
    code, out, err = await vanikeys("backup", str(tmp_path / "used"), env=env)
    assert code == 2 and "not an empty directory" in err and err.count("\n") == 1


def test_backup_refuses_a_key_that_does_not_open_the_vault(tmp_path: Path, backup_dir: tuple[Path, str]) -> None:
    from bot.backup import backup

    live = small_settings(tmp_path / "live")  # the database backup_dir made, with another key than its own
    with pytest.raises(BackupError, match="does not open"):
        backup(live.replace(vault_key=secrets.token_hex(32)), tmp_path / "second")
    assert not (tmp_path / "second").exists()
