"""`vanikeys backup DEST` and `vanikeys restore SRC`: copies that restore, and refuse the wrong vault key.

A backup is a directory:
    vanikeys.db              SQLite's online backup of the live database (one read transaction: consistent
                             while the bot runs); or vanikeys.pgdump, pg_dump's custom format, for PostgreSQL
    vault-key.fingerprint    a one-way fingerprint of the vault key (never the key: keep the key elsewhere)
    manifest.json            when, from what, the file's SHA-256, row counts, the fingerprint

`restore` checks the fingerprint against the key it is given before it
writes anything, checks the file's SHA-256, copies the database into place
(never over an existing one unless --force), then opens every sealed secret
with the key: a restore that could not hand out a found key fails loudly.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.admin import AdminError, database_url, existing_vault_key
from bot.config import ConfigError, Settings
from bot.storage import Database
from bot.vault import Vault, VaultError, fingerprint, parse_vault_key

SQLITE_FILE = "vanikeys.db"
PG_FILE = "vanikeys.pgdump"
FINGERPRINT_FILE = "vault-key.fingerprint"
MANIFEST_FILE = "manifest.json"
_COUNTED = ("accounts", "ledger", "jobs")


class BackupError(AdminError):
    """A backup or restore that cannot go ahead: one line, exit status 2."""


@dataclass(frozen=True)
class Manifest:
    created_at: float
    source: str                 # "sqlite" | "postgresql"
    file: str
    sha256: str
    vault_key_fingerprint: str
    schema_version: int | None
    rows: dict[str, int]
    sealed_secrets: int         # vault rows still holding ciphertext (PostgreSQL: just before pg_dump's snapshot)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fresh_dir(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} already exists and is not an empty directory: give a new directory for the backup")
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)


def _write(path: Path, text: str) -> None:
    with path.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup API, all pages in one step: one read snapshot, consistent under concurrent writes."""
    src = sqlite3.connect(str(source), timeout=30)
    try:
        dst = sqlite3.connect(str(target))
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")  # a self-contained file, no -wal beside it
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            dst.close()
    finally:
        src.close()
    if check != "ok":
        raise BackupError(f"the copy of {source} failed SQLite's integrity check ({check})")


def _sqlite_summary(path: Path) -> tuple[int | None, dict[str, int], int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        rows = {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in _COUNTED}
        sealed = conn.execute("SELECT COUNT(*) FROM vault WHERE ciphertext IS NOT NULL").fetchone()[0]
    finally:
        conn.close()
    return version, rows, sealed


def backup(settings: Settings, dest: Path) -> Manifest:
    key = existing_vault_key(settings)
    url = database_url(settings)
    if url is None and not Path(settings.db_path).is_file():
        raise BackupError(f"no database at {settings.db_path}: set VANIKEYS_DB to the bot's database")
    _fresh_dir(dest)
    if url is not None:
        data = dest / PG_FILE
        try:  # the fingerprint must name a key that opens what the database holds
            sealed, _ = asyncio.run(_verify(url, key))
        except VaultError:
            shutil.rmtree(dest)
            raise BackupError("a sealed secret does not open with this vault key: back up with the key the bot "
                              "uses (VANIKEYS_VAULT_KEY or its key file)") from None
        _run_tool(["pg_dump", "--format=custom", "--no-owner", "--file", str(data), url], "pg_dump")
        version, rows = None, {}
        source = "postgresql"
    else:
        data = dest / SQLITE_FILE
        _sqlite_copy(Path(settings.db_path), data)
        version, rows, sealed = _sqlite_summary(data)
        try:  # the fingerprint must name a key that opens them
            opened, _ = asyncio.run(_verify(data, key))
        except VaultError:
            shutil.rmtree(dest)
            raise BackupError("a sealed secret does not open with this vault key: back up with the key the bot "
                              "uses (VANIKEYS_VAULT_KEY or its key file)") from None
        if opened != sealed:
            raise BackupError(f"opened {opened} of the {sealed} sealed secrets in the copy")
        source = "sqlite"
    manifest = Manifest(created_at=time.time(), source=source, file=data.name, sha256=_file_sha256(data),
                        vault_key_fingerprint=fingerprint(key), schema_version=version, rows=rows,
                        sealed_secrets=sealed)
    _write(dest / FINGERPRINT_FILE, manifest.vault_key_fingerprint + "\n")
    _write(dest / MANIFEST_FILE, json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def read_manifest(src: Path) -> Manifest:
    try:
        data = json.loads((src / MANIFEST_FILE).read_text())
        manifest = Manifest(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise BackupError(f"{src} is not a vanikeys backup ({MANIFEST_FILE} unreadable: {type(exc).__name__}): "
                          "give the directory `vanikeys backup` wrote") from None
    try:
        written = (src / FINGERPRINT_FILE).read_text().strip()
    except OSError:
        raise BackupError(f"{src} has no {FINGERPRINT_FILE}: give the directory `vanikeys backup` wrote") from None
    if written != manifest.vault_key_fingerprint:
        raise BackupError(f"{src}: {FINGERPRINT_FILE} and {MANIFEST_FILE} disagree: the backup was altered")
    return manifest


@dataclass(frozen=True)
class Restored:
    target: str
    source: str
    sealed_secrets_opened: int
    jobs_with_secrets: int
    rows: dict[str, int]


def check_key(manifest: Manifest, key: bytes) -> None:
    given = fingerprint(key)
    if given != manifest.vault_key_fingerprint:
        raise BackupError(f"this backup was sealed with another vault key (backup {manifest.vault_key_fingerprint}, "
                          f"given {given}): give the key the bot used when the backup was made; "
                          "with this one no found key would open")


async def open_every_secret(db: Database, key: bytes) -> tuple[int, int]:
    """Open every sealed secret with the key (VaultError if one does not); returns (secrets, jobs)."""
    vault = Vault(db, key, grace_s=float("inf"))
    rows = await db.fetchall("SELECT DISTINCT job_id FROM vault WHERE ciphertext IS NOT NULL ORDER BY job_id")
    opened = 0
    for row in rows:
        opened += len(await vault.open_job(row["job_id"]))
    return opened, len(rows)


def restore(src: Path, key: bytes, *, target: Path | None = None, url: str | None = None,
            force: bool = False) -> Restored:
    manifest = read_manifest(src)
    check_key(manifest, key)  # before anything is written
    data = src / manifest.file
    if not data.is_file() or _file_sha256(data) != manifest.sha256:
        raise BackupError(f"{data} does not match the SHA-256 in {MANIFEST_FILE}: the backup is damaged")
    if manifest.source == "postgresql":
        if url is None:
            raise BackupError("this is a PostgreSQL backup: set VANIKEYS_DB to the postgresql:// URL to restore into")
        _run_tool(["pg_restore", "--clean", "--if-exists", "--no-owner", "--dbname", url, str(data)], "pg_restore")
        opened, jobs = asyncio.run(_verify(url, key))
        return Restored(url.split("@")[-1], str(src), opened, jobs, {})
    if target is None:
        raise BackupError("say where to restore: --db PATH (or set VANIKEYS_DB)")
    if target.exists() and not force:
        raise BackupError(f"{target} already exists: restore into a new path, or add --force to replace it "
                          "(stop the bot first)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".restoring")
    staging.unlink(missing_ok=True)
    _sqlite_copy(data, staging)
    for leftover in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        leftover.unlink(missing_ok=True)
    os.replace(staging, target)
    opened, jobs = asyncio.run(_verify(target, key))
    if opened != manifest.sealed_secrets:
        raise BackupError(f"opened {opened} sealed secrets of the {manifest.sealed_secrets} the backup holds")
    _, rows, _ = _sqlite_summary(target)
    return Restored(str(target), str(src), opened, jobs, rows)


async def _verify(target: Path | str, key: bytes) -> tuple[int, int]:
    db = await Database.open(target)
    try:
        return await open_every_secret(db, key)
    finally:
        await db.close()


def _run_tool(command: list[str], name: str) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{name} is not installed: install the PostgreSQL client tools (same major version as "
                          "the server)")
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"{name} failed (exit {done.returncode}): {last[:300]}")


# --- the command line --------------------------------------------------------------------------------


def add_backup_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    backup_cmd = commands.add_parser(
        "backup", help="copy the database while the bot runs, with the vault key's fingerprint",
        description="A consistent copy of the bot's database (SQLite online backup, or pg_dump) in a new directory, "
                    "with the vault key's fingerprint (not the key: keep the key safe separately).")
    backup_cmd.add_argument("dest", metavar="DEST", help="a new (or empty) directory")
    backup_cmd.add_argument("--json", action="store_true", help="print the manifest as JSON")
    backup_cmd.set_defaults(func=cmd_backup)
    restore_cmd = commands.add_parser(
        "restore", help="restore a backup, refusing a vault key that does not match",
        description="Restore a `vanikeys backup` directory; refuses a vault key whose fingerprint does not match, "
                    "then opens every sealed secret to prove the restore is whole.")
    restore_cmd.add_argument("src", metavar="SRC", help="the backup directory")
    restore_cmd.add_argument("--db", metavar="PATH", help="the SQLite file to create (default: VANIKEYS_DB)")
    restore_cmd.add_argument("--vault-key-file", metavar="FILE",
                             help="the vault key (default: VANIKEYS_VAULT_KEY or the bot's key file)")
    restore_cmd.add_argument("--force", action="store_true", help="replace an existing database (stop the bot first)")
    restore_cmd.add_argument("--json", action="store_true", help="print the result as JSON")
    restore_cmd.set_defaults(func=cmd_restore)


def cmd_backup(args: argparse.Namespace) -> int:
    try:
        manifest = backup(Settings.from_env(), Path(args.dest).expanduser())
    except (ConfigError, VaultError, OSError, sqlite3.Error) as exc:
        raise BackupError(f"backup failed: {exc}") from None
    if args.json:
        print(json.dumps(asdict(manifest), indent=2))
    else:
        print(f"backed up {manifest.source} to {args.dest}/{manifest.file} "
              f"({', '.join(f'{n} {t}' for t, n in manifest.rows.items()) or 'pg_dump'}; "
              f"{manifest.sealed_secrets} sealed secrets); vault key fingerprint {manifest.vault_key_fingerprint}")
        print("keep the vault key itself somewhere else: without it no found key in this backup opens")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
        if args.vault_key_file:
            try:
                key = parse_vault_key(Path(args.vault_key_file).expanduser().read_text())
            except OSError as exc:
                raise BackupError(f"cannot read {args.vault_key_file}: {exc.strerror}") from None
        else:
            key = existing_vault_key(settings)
        url = database_url(settings)
        target = Path(args.db).expanduser() if args.db else (None if url else Path(settings.db_path))
        result = restore(Path(args.src).expanduser(), key, target=target, url=None if args.db else url,
                         force=args.force)
    except (ConfigError, VaultError, OSError, sqlite3.Error) as exc:
        raise BackupError(f"restore failed: {exc}") from None
    if args.json:
        print(json.dumps(asdict(result), indent=2))
    else:
        print(f"restored {result.source} into {result.target}: {result.sealed_secrets_opened} sealed secrets of "
              f"{result.jobs_with_secrets} jobs open with the key")
    return 0
