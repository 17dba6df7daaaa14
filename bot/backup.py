"""`vanikeys backup DEST` and `vanikeys restore SRC`: copies that restore, and refuse the wrong vault key.

A backup is a directory:
    vanikeys.db              SQLite's online backup of the live database (one read transaction: consistent
                             while the bot runs); or vanikeys.pgdump, pg_dump's custom format, for PostgreSQL
    vault-key.fingerprint    a one-way fingerprint of the vault key (never the key: keep the key elsewhere)
    manifest.json            when, from what, the file's SHA-256, row counts, the fingerprint, and an HMAC

The HMAC covers the whole archive (the manifest and every byte of the data
file) under a key derived from the vault key (HKDF, its own label), so
whoever can edit a backup but does not hold the vault key cannot make an
edited one restore: a plain hash they could recompute.

`restore` checks the fingerprint and the HMAC with the key it is given
before it writes anything, refuses a target that holds data (SQLite file or
PostgreSQL database alike) unless --force, naming what it would overwrite,
then opens every sealed secret with the key and audits every balance against
the ledger: a restore that could not hand out a found key, or whose money
does not add up, fails loudly (a SQLite copy is checked before it replaces
anything).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.admin import AdminError, database_url, existing_vault_key
from bot.config import ConfigError, Settings
from bot.ledger import Ledger
from bot.storage import Database, StorageError
from bot.storage.opening import open_database, storage_faults_answered
from bot.storage.sqlite import describe_open_failure
from bot.vault import Vault, VaultError, fingerprint, parse_vault_key
from gpu_worker.i18n import _, ngettext, number
from gpu_worker.localized import in_current_locale

SQLITE_FILE = "vanikeys.db"
PG_FILE = "vanikeys.pgdump"
FINGERPRINT_FILE = "vault-key.fingerprint"
MANIFEST_FILE = "manifest.json"
_COUNTED = ("accounts", "ledger", "jobs")
_HELD = (
    ("account", "accounts", "1=1"),
    ("ledger row", "ledger", "1=1"),
    ("job", "jobs", "1=1"),
    ("sealed secret", "vault", "ciphertext IS NOT NULL"),
)  # what a restore would overwrite
_MAC_LABEL = b"vanikeys backup authentication v1"


def _held(name: str, n: int) -> str:
    """ "2 ledger rows": a count of what a restore would overwrite (a name of _HELD), in the current locale."""
    if name == "account":
        return ngettext("{n} account", "{n} accounts", n)
    if name == "ledger row":
        return ngettext("{n} ledger row", "{n} ledger rows", n)
    if name == "job":
        return ngettext("{n} job", "{n} jobs", n)
    return ngettext("{n} sealed secret", "{n} sealed secrets", n)


class BackupError(AdminError):
    """A backup or restore that cannot go ahead: one line, exit status 2."""


@dataclass(frozen=True)
class Manifest:
    """What a backup holds, written beside its data file: source, checksum, vault key fingerprint, row counts, HMAC."""

    created_at: float
    source: str  # "sqlite" | "postgresql"
    file: str
    sha256: str
    vault_key_fingerprint: str
    schema_version: int | None
    rows: dict[str, int]
    sealed_secrets: int  # vault rows still holding ciphertext (PostgreSQL: just before pg_dump's snapshot)
    hmac: str = ""  # HMAC-SHA256 over the rest of the manifest and the data file (backup_mac)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mac_key(vault_key: bytes) -> bytes:
    """The backups' authentication key: derived from the vault key with a label of its own (never the key)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_MAC_LABEL).derive(vault_key)


def backup_mac(manifest: Manifest, data: Path, vault_key: bytes) -> str:
    """HMAC-SHA256 over the manifest (all but its hmac) and every byte of the data file."""
    fields = {name: value for name, value in asdict(manifest).items() if name != "hmac"}
    header = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    mac = hmac.new(mac_key(vault_key), len(header).to_bytes(8, "big") + header, hashlib.sha256)
    with data.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            mac.update(block)
    return mac.hexdigest()


def _fresh_dir(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(
            _("{dest} already exists and is not an empty directory: give a new directory for the backup", dest=dest)
        )
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
        raise BackupError(
            _("the copy of {source} failed SQLite's integrity check ({check})", source=source, check=check)
        )


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
    """Copy the live database into the new or empty directory `dest` and write its manifest.

    The copy is checked before it counts: its sealed secrets must open with the vault key. BackupError says what is
    wrong.
    """
    key = existing_vault_key(settings)
    url = database_url(settings)
    if url is None and not Path(settings.db_path).is_file():
        raise BackupError(
            _(
                "no database at {target}: set {variable} to the bot's database",
                target=settings.db_path,
                variable="VANIKEYS_DB",
            )
        )
    _fresh_dir(dest)
    try:
        return _backup_into(settings, key, url, dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # a half-made backup must never be taken for a whole one
        raise


def _backup_into(settings: Settings, key: bytes, url: str | None, dest: Path) -> Manifest:
    timeout = settings.db_connect_timeout_s
    wrong_key = BackupError(
        _(
            "a sealed secret does not open with this vault key: back up with the key the bot uses ({variable} or "
            "its key file)",
            variable="VANIKEYS_VAULT_KEY",
        )
    )
    if url is not None:
        data = dest / PG_FILE
        try:  # the fingerprint must name a key that opens what the database holds
            sealed, _jobs, _problems = asyncio.run(_inspect(url, key, timeout))
        except VaultError:
            raise wrong_key from None
        _run_tool(["pg_dump", "--format=custom", "--no-owner", "--file", str(data), url], "pg_dump")
        version, rows = None, dict[str, int]()
        source = "postgresql"
    else:
        data = dest / SQLITE_FILE
        try:
            _sqlite_copy(Path(settings.db_path), data)
        except sqlite3.DatabaseError as exc:  # the live file: corrupt, unreadable, locked
            raise StorageError(describe_open_failure(Path(settings.db_path), exc)) from None
        version, rows, sealed = _sqlite_summary(data)
        try:  # the fingerprint must name a key that opens them
            opened, _jobs, _problems = asyncio.run(_inspect(data, key, timeout))
        except VaultError:
            raise wrong_key from None
        if opened != sealed:
            raise BackupError(
                _("opened {opened} of the {sealed} sealed secrets in the copy", opened=opened, sealed=sealed)
            )
        source = "sqlite"
    manifest = Manifest(
        created_at=time.time(),
        source=source,
        file=data.name,
        sha256=_file_sha256(data),
        vault_key_fingerprint=fingerprint(key),
        schema_version=version,
        rows=rows,
        sealed_secrets=sealed,
    )
    manifest = dataclasses.replace(manifest, hmac=backup_mac(manifest, data, key))
    _write(dest / FINGERPRINT_FILE, manifest.vault_key_fingerprint + "\n")
    _write(dest / MANIFEST_FILE, json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def read_manifest(src: Path) -> Manifest:
    """The manifest of the backup in `src`; BackupError if it is missing, unreadable or not a backup's."""
    try:
        data = json.loads((src / MANIFEST_FILE).read_text())
        manifest = Manifest(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise BackupError(
            _(
                "{src} is not a vanikeys backup ({file} unreadable: {error}): give the directory `vanikeys backup` "
                "wrote",
                src=src,
                file=MANIFEST_FILE,
                error=type(exc).__name__,
            )
        ) from None
    try:
        written = (src / FINGERPRINT_FILE).read_text().strip()
    except OSError:
        raise BackupError(
            _("{src} has no {file}: give the directory `vanikeys backup` wrote", src=src, file=FINGERPRINT_FILE)
        ) from None
    if written != manifest.vault_key_fingerprint:
        raise BackupError(
            _(
                "{src}: {file} and {manifest} disagree: the backup was altered",
                src=src,
                file=FINGERPRINT_FILE,
                manifest=MANIFEST_FILE,
            )
        )
    return manifest


@dataclass(frozen=True)
class Restored:
    """What a restore put where: the target, how many sealed secrets opened, and the row counts."""

    target: str
    source: str
    sealed_secrets_opened: int
    jobs_with_secrets: int
    rows: dict[str, int]


def check_key(manifest: Manifest, key: bytes) -> None:
    """Refuse (BackupError) a vault key other than the one the backup was made with, before anything is written."""
    given = fingerprint(key)
    if given != manifest.vault_key_fingerprint:
        raise BackupError(
            _(
                "this backup was sealed with another vault key (backup {backup}, given {given}): give the key the bot "
                "used when the backup was made; with this one no found key would open",
                backup=manifest.vault_key_fingerprint,
                given=given,
            )
        )


async def open_every_secret(db: Database, key: bytes) -> tuple[int, int]:
    """Open every sealed secret with the key (VaultError if one does not); returns (secrets, jobs)."""
    vault = Vault(db, key, grace_s=float("inf"))
    rows = await db.fetchall("SELECT DISTINCT job_id FROM vault WHERE ciphertext IS NOT NULL ORDER BY job_id")
    opened = 0
    for row in rows:
        opened += len(await vault.open_job(row["job_id"]))
    return opened, len(rows)


def check_mac(manifest: Manifest, data: Path, key: bytes) -> None:
    """Refuse (BackupError) a backup whose HMAC is missing or does not match under `key`: it may have been altered."""
    if not manifest.hmac:
        raise BackupError(
            _(
                "{backup} has no authentication code (made before backups were authenticated, or stripped of it): it "
                "cannot be told from a forged one; make a new backup of the live bot",
                backup=data.parent,
            )
        )
    if not hmac.compare_digest(manifest.hmac, backup_mac(manifest, data, key)):
        raise BackupError(
            _(
                "{backup} does not authenticate with this vault key: the backup was altered after it was made; "
                "restore another backup",
                backup=data.parent,
            )
        )


def restore(
    src: Path,
    key: bytes,
    *,
    target: Path | None = None,
    url: str | None = None,
    force: bool = False,
    connect_timeout_s: float = 30.0,
) -> Restored:
    """Restore the backup in `src` into a SQLite file (`target`) or a PostgreSQL database (`url`).

    Checked whole before anything is replaced: the checksum, the HMAC, and every sealed secret opening with `key`. A
    SQLite target in use by a running bot is refused unless `force`. BackupError says what is wrong.
    """
    manifest = read_manifest(src)
    check_key(manifest, key)  # before anything is written
    data = src / manifest.file
    if not data.is_file() or _file_sha256(data) != manifest.sha256:
        raise BackupError(
            _("{data} does not match the SHA-256 in {file}: the backup is damaged", data=data, file=MANIFEST_FILE)
        )
    check_mac(manifest, data, key)
    if manifest.source == "postgresql":
        if url is None:
            raise BackupError(
                _(
                    "this is a PostgreSQL backup: set {variable} to the postgresql:// URL to restore into",
                    variable="VANIKEYS_DB",
                )
            )
        if not force:
            _refuse_if_held(_redacted(url), asyncio.run(_postgres_holds(url, connect_timeout_s)))
        _run_tool(["pg_restore", "--clean", "--if-exists", "--no-owner", "--dbname", url, str(data)], "pg_restore")
        opened, jobs, problems = asyncio.run(_inspect(url, key, connect_timeout_s))
        _refuse_unaudited(
            problems,
            _("{where} now holds the restored copy, which does not audit", where=_redacted(url)),
        )
        return Restored(url.split("@")[-1], str(src), opened, jobs, {})
    if target is None:
        raise BackupError(_("say where to restore: --db PATH (or set {variable})", variable="VANIKEYS_DB"))
    if not force:
        _refuse_if_held(str(target), _sqlite_holds(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".restoring")
    staging.unlink(missing_ok=True)
    _sqlite_copy(data, staging)
    try:  # checked whole before it replaces anything
        opened, jobs, problems = asyncio.run(_inspect(staging, key, connect_timeout_s))
        if opened != manifest.sealed_secrets:
            raise BackupError(
                _(
                    "opened {opened} sealed secrets of the {sealed} the backup holds",
                    opened=opened,
                    sealed=manifest.sealed_secrets,
                )
            )
        _refuse_unaudited(problems, _("the backup does not audit"))
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    for leftover in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        leftover.unlink(missing_ok=True)
    os.replace(staging, target)
    _integrity, rows, _size = _sqlite_summary(target)
    return Restored(str(target), str(src), opened, jobs, rows)


def _refuse_unaudited(problems: list[str], what: str) -> None:
    """`what`: the copy that does not audit, as a clause ("the backup does not audit")."""
    if problems:
        raise BackupError(
            _(
                "{what}: balances that disagree with the ledger: {count} ({first}): do not start the bot on it; "
                "restore another backup",
                what=what,
                count=len(problems),
                first=problems[0],
            )
        )


def _refuse_if_held(where: str, held: dict[str, int]) -> None:
    """Refuse to overwrite a target that holds anything, naming what it holds."""
    if any(held.values()):
        what = ", ".join(_held(name, n) for name, n in held.items() if n)
        raise BackupError(
            _(
                "{where} is not empty: it holds {what}, which the restore would overwrite: restore into a new, empty "
                "database, or stop every bot process using it and add --force",
                where=where,
                what=what,
            )
        )


def _sqlite_holds(path: Path) -> dict[str, int]:
    """What an existing SQLite file holds (nothing when it does not exist or is empty)."""
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return {}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return {
                name: conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}").fetchone()[0]
                for name, table, where in _HELD
                if table in tables
            }
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupError(
            _(
                "{path} exists and cannot be read as a database ({error}): restore into a new path, or add --force "
                "to replace it",
                path=path,
                error=exc,
            )
        ) from None


async def _postgres_holds(url: str, connect_timeout_s: float) -> dict[str, int]:
    """What a PostgreSQL database holds, read without migrating or changing it."""
    import asyncpg

    try:
        conn = await asyncpg.connect(dsn=url, timeout=max(0.5, connect_timeout_s))
    except Exception as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise StorageError(
            _(
                "cannot use PostgreSQL at {where} to restore into ({error}): check {variable} (create the database "
                "with `createdb`)",
                where=_redacted(url),
                error=why,
                variable="VANIKEYS_DB",
            )
        ) from None
    try:
        held = {}
        for name, table, where in _HELD:
            if await conn.fetchval("SELECT to_regclass($1)", table) is not None:
                held[name] = int(await conn.fetchval(f"SELECT COUNT(*) FROM {table} WHERE {where}"))
        return held
    finally:
        await conn.close()


def _redacted(url: str) -> str:
    from bot.storage.postgres import redacted

    return redacted(url)


async def _inspect(target: Path | str, key: bytes, connect_timeout_s: float) -> tuple[int, int, list[str]]:
    """(sealed secrets opened, jobs holding them, balances that disagree with the ledger)."""
    db = await open_database(target, connect_timeout_s=connect_timeout_s)
    try:
        opened, jobs = await open_every_secret(db, key)
        problems = await Ledger(db, free_pulls_per_day=0, daily_spend_limit=0).audit()
        return opened, jobs, problems
    finally:
        await db.close()


def _run_tool(command: list[str], name: str) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(
            _(
                "{tool} is not installed: install the PostgreSQL client tools (same major version as the server)",
                tool=name,
            )
        )
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(_("{tool} failed (exit {code}): {error}", tool=name, code=done.returncode, error=last[:300]))


# --- the command line --------------------------------------------------------------------------------


def add_backup_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `backup` and `restore` to the subcommands."""
    backup_cmd = commands.add_parser(
        "backup",
        help=_("copy the database while the bot runs, with the vault key's fingerprint"),
        description=_(
            "A consistent copy of the bot's database (SQLite online backup, or pg_dump) in a new directory, "
            "with the vault key's fingerprint (not the key: keep the key safe separately)."
        ),
    )
    backup_cmd.add_argument("dest", metavar="DEST", help=_("a new (or empty) directory"))
    backup_cmd.add_argument("--json", action="store_true", help=_("print the manifest as JSON"))
    backup_cmd.set_defaults(func=cmd_backup)
    restore_cmd = commands.add_parser(
        "restore",
        help=_("restore a backup, refusing a vault key that does not match"),
        description=_(
            "Restore a `vanikeys backup` directory; refuses a vault key whose fingerprint does not match, "
            "then opens every sealed secret to prove the restore is whole."
        ),
    )
    restore_cmd.add_argument("src", metavar="SRC", help=_("the backup directory"))
    restore_cmd.add_argument(
        "--db", metavar="PATH", help=_("the SQLite file to create (default: {variable})", variable="VANIKEYS_DB")
    )
    restore_cmd.add_argument(
        "--vault-key-file",
        metavar="FILE",
        help=_("the vault key (default: {variable} or the bot's key file)", variable="VANIKEYS_VAULT_KEY"),
    )
    restore_cmd.add_argument(
        "--force",
        action="store_true",
        help=_("replace a database that holds data (SQLite or PostgreSQL; stop the bot first)"),
    )
    restore_cmd.add_argument("--json", action="store_true", help=_("print the result as JSON"))
    restore_cmd.set_defaults(func=cmd_restore)


def cmd_backup(args: argparse.Namespace) -> int:
    """Run `vanikeys backup DEST`: print the manifest (JSON with --json); 0 on success, BackupError otherwise."""
    try:
        with storage_faults_answered():
            manifest = backup(Settings.from_env(), Path(args.dest).expanduser())
    except (ConfigError, OSError, sqlite3.Error) as exc:
        raise BackupError(_("backup failed: {error}", error=in_current_locale(exc))) from None
    if args.json:
        print(json.dumps(asdict(manifest), indent=2))
    else:
        rows = ", ".join(f"{t}: {number(n)}" for t, n in manifest.rows.items()) or "pg_dump"
        print(
            _(
                "backed up {source} to {dest} ({rows}; sealed secrets: {sealed}); vault key fingerprint {fingerprint}",
                source=manifest.source,
                dest=f"{args.dest}/{manifest.file}",
                rows=rows,
                sealed=number(manifest.sealed_secrets),
                fingerprint=manifest.vault_key_fingerprint,
            )
        )
        print(_("keep the vault key itself somewhere else: without it no found key in this backup opens"))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Run `vanikeys restore SRC`: restore with the vault key from --vault-key-file or the settings; 0 on success."""
    try:
        settings = Settings.from_env()
        if args.vault_key_file:
            try:
                key = parse_vault_key(Path(args.vault_key_file).expanduser().read_text())
            except OSError as exc:
                raise BackupError(
                    _("cannot read {path}: {error}", path=args.vault_key_file, error=exc.strerror)
                ) from None
        else:
            key = existing_vault_key(settings)
        url = database_url(settings)
        target = Path(args.db).expanduser() if args.db else (None if url else Path(settings.db_path))
        with storage_faults_answered():
            result = restore(
                Path(args.src).expanduser(),
                key,
                target=target,
                url=None if args.db else url,
                force=args.force,
                connect_timeout_s=settings.db_connect_timeout_s,
            )
    except (ConfigError, VaultError, OSError, sqlite3.Error) as exc:
        raise BackupError(_("restore failed: {error}", error=in_current_locale(exc))) from None
    if args.json:
        print(json.dumps(asdict(result), indent=2))
    else:
        print(
            _(
                "restored {source} into {target}: sealed secrets that open with the key: {opened} (of {jobs} jobs)",
                source=result.source,
                target=result.target,
                opened=number(result.sealed_secrets_opened),
                jobs=number(result.jobs_with_secrets),
            )
        )
    return 0
