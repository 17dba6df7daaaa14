"""Backups taken while pulls run restore whole: every sealed secret opens; the wrong key is refused up front."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
from pathlib import Path

import pytest

from bot.answers import UserRef
from bot.app import create_app
from bot.backup import (
    FINGERPRINT_FILE,
    MANIFEST_FILE,
    SQLITE_FILE,
    BackupError,
    backup,
    backup_mac,
    mac_key,
    read_manifest,
    restore,
)
from bot.ledger import Ledger
from bot.storage import open_database
from bot.vault import Vault, fingerprint, parse_vault_key
from gpu_worker.formats import get_format, identifier_from_secret
from tests.bot.conftest import RecordingFrontEnd, postgres_server, small_settings  # noqa: F401
from tests.warm import shared

REPO = Path(__file__).resolve().parents[2]
PULLERS = [UserRef("test", f"user{i}") for i in range(3)] + [UserRef("closed", f"shy{i}") for i in range(2)]


async def vanikeys(*argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    """`vanikeys ARGV` as a fork of the warm interpreter, waited for on a thread (the event loop runs on)."""
    done = await asyncio.to_thread(shared().run, "bot.cli", argv, env={**os.environ, **env}, cwd=REPO, timeout=90)
    return done.returncode, done.stdout, done.stderr


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
    code, out, err = await vanikeys(
        "restore",
        str(tmp_path / "backup"),
        "--db",
        str(fresh),
        "--json",
        env={"VANIKEYS_VAULT_KEY": settings.vault_key or "", "VANIKEYS_DB": ""},
    )
    assert code == 0, err
    assert json.loads(out)["sealed_secrets_opened"] == manifest.sealed_secrets

    # Open every sealed secret in the restored copy ourselves, and re-derive each identifier from it.
    db = await open_database(fresh)
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
    with pytest.raises(BackupError, match="is not empty: it holds 1 account, 2 ledger rows, 1 job, 1 sealed secret,"):
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
    code, _out, err = await vanikeys("backup", str(tmp_path / "new"), env=env)
    assert code == 2 and "no database" in err and err.count("\n") == 1
    async with create_app(small_settings(tmp_path)) as _:
        pass
    env["VANIKEYS_DB"] = str(tmp_path / "vanikeys.db")
    code, _out, err = await vanikeys("backup", str(tmp_path / "used"), env=env)
    assert code == 2 and "not an empty directory" in err and err.count("\n") == 1


def test_backup_refuses_a_key_that_does_not_open_the_vault(tmp_path: Path, backup_dir: tuple[Path, str]) -> None:
    live = small_settings(tmp_path / "live")  # the database backup_dir made, with another key than its own
    with pytest.raises(BackupError, match="does not open"):
        backup(live.replace(vault_key=secrets.token_hex(32)), tmp_path / "second")
    assert not (tmp_path / "second").exists()


def _forge(src: Path, statements: list[str]) -> None:
    """Edit the backup's data, then recompute the plain SHA-256 in its manifest as a forger would."""
    conn = sqlite3.connect(src / SQLITE_FILE)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    manifest = json.loads((src / MANIFEST_FILE).read_text())
    manifest["sha256"] = hashlib.sha256((src / SQLITE_FILE).read_bytes()).hexdigest()
    (src / MANIFEST_FILE).write_text(json.dumps(manifest))


GIVE_999K = "UPDATE accounts SET balance = 999999 WHERE user_id = 'x'"
GIVE_999K_LEDGER = (
    "INSERT INTO ledger (idempotency_key, platform, user_id, kind, tokens, debt_change, free_pulls, "
    "balance_after, reason, day, created_at) SELECT 'forged', platform, user_id, 'grant', "
    "999999 - balance, 0, 0, 999999, 'forged', '2026-12-06', 0 FROM accounts WHERE user_id = 'x'"
)


@pytest.mark.parametrize(
    "statements",
    [[GIVE_999K], [GIVE_999K_LEDGER, GIVE_999K]],
    ids=["balance-only", "balance-and-a-matching-ledger-row"],
)
def test_a_forged_backup_with_its_hash_recomputed_is_refused(
    tmp_path: Path, backup_dir: tuple[Path, str], statements: list[str]
) -> None:
    src, key = backup_dir
    _forge(src, statements)
    target = tmp_path / "restored.db"
    with pytest.raises(BackupError, match="does not authenticate with this vault key"):
        restore(src, parse_vault_key(key), target=target)
    assert not target.exists() and not target.with_name(target.name + ".restoring").exists()


def test_the_backup_key_is_derived_not_the_vault_key(backup_dir: tuple[Path, str]) -> None:
    src, key = backup_dir
    vault_key = parse_vault_key(key)
    assert mac_key(vault_key) != vault_key and len(mac_key(vault_key)) == 32
    assert read_manifest(src).hmac and mac_key(vault_key).hex() not in (src / MANIFEST_FILE).read_text()


def test_a_backup_that_authenticates_but_does_not_audit_is_refused(
    tmp_path: Path, backup_dir: tuple[Path, str]
) -> None:
    """Someone holding the vault key re-signs an edited copy (or the live ledger was already wrong): the audit
    still refuses it, before the target is touched."""
    src, key = backup_dir
    _forge(src, [GIVE_999K])
    manifest = read_manifest(src)
    manifest = dataclasses.replace(manifest, hmac=backup_mac(manifest, src / SQLITE_FILE, parse_vault_key(key)))
    (src / MANIFEST_FILE).write_text(json.dumps(dataclasses.asdict(manifest)))
    target = tmp_path / "restored.db"
    with pytest.raises(BackupError, match="does not audit") as refused:
        restore(src, parse_vault_key(key), target=target)
    assert "999999" in str(refused.value)
    assert not target.exists() and not target.with_name(target.name + ".restoring").exists()


def test_a_backup_without_an_authentication_code_is_refused(tmp_path: Path, backup_dir: tuple[Path, str]) -> None:
    src, key = backup_dir
    manifest = json.loads((src / MANIFEST_FILE).read_text())
    del manifest["hmac"]
    (src / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="no authentication code"):
        restore(src, parse_vault_key(key), target=tmp_path / "restored.db")


def test_restore_over_a_database_with_data_needs_force_and_says_what_it_holds(
    tmp_path: Path, backup_dir: tuple[Path, str]
) -> None:
    src, key = backup_dir
    live = tmp_path / "live" / "vanikeys.db"  # the database the backup was made from, with its data
    before = live.read_bytes()
    with pytest.raises(BackupError, match=r"is not empty: it holds 1 account, 2 ledger rows, 1 job, 1 sealed secret"):
        restore(src, parse_vault_key(key), target=live)
    assert live.read_bytes() == before
    empty = tmp_path / "empty.db"
    empty.touch()
    assert restore(src, parse_vault_key(key), target=empty).sealed_secrets_opened == 1  # nothing to overwrite
    assert restore(src, parse_vault_key(key), target=live, force=True).sealed_secrets_opened == 1


async def test_postgres_restore_refuses_a_database_with_data_without_force(tmp_path: Path, postgres_server) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump / pg_restore are not installed")
    settings = small_settings(tmp_path, db_url=await postgres_server.fresh_database())
    async with create_app(settings) as app:
        app.service.register_frontend(RecordingFrontEnd("closed", dms_open=False))
        await app.service.grant(UserRef("closed", "x"), 5)
        await app.service.pull(UserRef("closed", "x"), None, "ab", allow_easy=True)
    await asyncio.to_thread(backup, settings, tmp_path / "backup")
    key = parse_vault_key(settings.vault_key or "")
    live = small_settings(tmp_path, db_url=await postgres_server.fresh_database())
    async with create_app(live) as app:  # another live database, with its own money
        await app.service.grant(UserRef("test", "bob"), 7)
    with pytest.raises(BackupError, match=r"is not empty: it holds 1 account, 1 ledger row[^s]") as refused:
        await asyncio.to_thread(restore, tmp_path / "backup", key, url=live.db_url)
    assert "--force" in str(refused.value) and (live.db_url or "").rsplit("/", 1)[-1] in str(refused.value)
    async with create_app(live, resume_jobs=False) as app:  # untouched
        assert (await app.service.balance(UserRef("test", "bob"))).tokens == 7
    forced = await asyncio.to_thread(restore, tmp_path / "backup", key, url=live.db_url, force=True)
    assert forced.sealed_secrets_opened == 1
    fresh = await postgres_server.fresh_database()  # empty: no --force needed
    assert (await asyncio.to_thread(restore, tmp_path / "backup", key, url=fresh)).sealed_secrets_opened == 1
