"""Checks on this machine: storage (reachable, migrations current), the vault key, free disk, the clock.

Storage is read without changing it: SQLite opened read-only, PostgreSQL with
plain SELECTs (the bot itself migrates at start).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from bot.doctor.model import Context, Finding, fail, ok, skip, warn
from bot.storage.migrations import MIGRATIONS
from gpu_worker.i18n import N_, _

BACKUP_FIRST = N_("back up first with `vanikeys backup DEST`")


async def _query(ctx: Context, sql: str) -> list[tuple[Any, ...]]:
    settings = ctx.settings
    if settings.is_postgres:
        import asyncpg

        connection = await asyncpg.connect(settings.db, timeout=min(ctx.timeout_s, settings.db_connect_timeout_s or 5))
        try:
            return [tuple(row) for row in await connection.fetch(sql)]
        finally:
            await connection.close()
    path = Path(settings.db).expanduser()

    def run() -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=ctx.timeout_s)
        try:
            return list(connection.execute(sql).fetchall())
        finally:
            connection.close()

    return await asyncio.to_thread(run)


def _where(ctx: Context) -> str:
    if ctx.settings.is_postgres:
        from bot.storage.postgres import redacted

        return redacted(ctx.settings.db)
    return str(Path(ctx.settings.db).expanduser())


async def storage(ctx: Context) -> list[Finding]:
    """Check the database opens and is migrated: a schema newer than this code fails, an older one warns."""
    where = _where(ctx)
    if not ctx.settings.is_postgres and not Path(ctx.settings.db).expanduser().exists():
        return [
            warn(
                N_("storage"),
                _("no database at {where} yet", where=where),
                _(
                    "the bot creates it at its first start; or set {variable} to the existing file",
                    variable="VANIKEYS_DB",
                ),
            )
        ]
    try:
        rows = await _query(ctx, "SELECT MAX(version) FROM schema_version")
    except Exception as exc:  # any fault of the store is one line
        return [
            fail(
                N_("storage"),
                _("cannot read {where}: {error}", where=where, error=": ".join((type(exc).__name__, _first_line(exc)))),
                _(
                    "check {variable} (the file's permissions, or the PostgreSQL server, user and password)",
                    variable="VANIKEYS_DB",
                ),
            )
        ]
    current, newest = int(rows[0][0] or 0) if rows else 0, len(MIGRATIONS)
    if current > newest:
        return [
            fail(
                N_("storage"),
                _(
                    "{where} is at schema {current}, newer than this code's {newest}",
                    where=where,
                    current=current,
                    newest=newest,
                ),
                _("run the newer VaniKeys that migrated it, or restore a backup made for this version"),
            )
        ]
    if current < newest:
        return [
            warn(
                N_("storage"),
                _("{where} is at schema {current} of {newest}", where=where, current=current, newest=newest),
                _(
                    "the bot applies the {count} new migration(s) at its next start: {backup_first}",
                    count=newest - current,
                    backup_first=_(BACKUP_FIRST),
                ),
            )
        ]
    return [
        ok(N_("storage"), _("{where} reachable, migrations current (schema {current})", where=where, current=current))
    ]


async def vault_key(ctx: Context) -> list[Finding]:
    """Check the vault key is set or its file readable, and that it is the key the database records."""
    from bot.vault import VaultError, fingerprint, parse_vault_key, read_key_file

    settings = ctx.settings
    key_file = _key_file(ctx)
    source = "VANIKEYS_VAULT_KEY" if settings.vault_key else _("the key file {path}", path=key_file)
    try:
        key = parse_vault_key(settings.vault_key) if settings.vault_key else read_key_file(key_file)
    except VaultError as exc:
        return [
            fail(
                N_("vault key"),
                exc.message,
                _(
                    "set {variable} or {file_variable} to the key the secrets were sealed with",
                    variable="VANIKEYS_VAULT_KEY",
                    file_variable="VANIKEYS_VAULT_KEY_FILE",
                ),
            )
        ]
    try:
        sealed = {
            fp: n
            for fp, n in await _query(
                ctx, "SELECT key_fingerprint, COUNT(*) FROM vault WHERE ciphertext IS NOT NULL GROUP BY key_fingerprint"
            )
        }
        recorded_rows = await _query(ctx, "SELECT value FROM vault_meta WHERE name = 'key_fingerprint'")
    except Exception:  # no database yet, or not readable: the storage line says which
        sealed, recorded_rows = {}, []
    recorded = recorded_rows[0][0] if recorded_rows else None
    waiting = sum(sealed.values())
    if key is None:
        if waiting or recorded:
            return [
                fail(
                    N_("vault key"),
                    _(
                        "{source} is missing and the database records key {recorded} "
                        "({waiting} undelivered secret(s) sealed)",
                        source=source,
                        recorded=recorded or "?",
                        waiting=waiting,
                    ),
                    _("restore the key file from backup, or set {variable} to that key", variable="VANIKEYS_VAULT_KEY"),
                )
            ]
        return [
            warn(
                N_("vault key"),
                _("{source} does not exist yet", source=source),
                _(
                    "the bot creates it at its first start (SQLite); on PostgreSQL set {variable}",
                    variable="VANIKEYS_VAULT_KEY",
                ),
            )
        ]
    mine = fingerprint(key)
    foreign = sorted(fp for fp in sealed if fp is not None and fp != mine)
    if foreign or (recorded is not None and recorded != mine):
        return [
            fail(
                N_("vault key"),
                _(
                    "{source} (key {mine}) is not the key the database records ({recorded})",
                    source=source,
                    mine=mine,
                    recorded=", ".join(foreign) or recorded,
                ),
                _("restore that key, or re-seal with `vanikeys vault rotate --old OLD --new NEW`"),
            )
        ]
    return [
        ok(
            N_("vault key"),
            _("{source} present, fingerprint {mine} matches the database", source=source, mine=mine)
            if recorded
            else _("{source} present, fingerprint {mine} (no key recorded yet)", source=source, mine=mine),
        )
    ]


def _key_file(ctx: Context) -> Path:
    from bot.config import Settings

    return Settings.from_settings(ctx.settings).resolved_vault_key_file


async def free_disk(ctx: Context) -> list[Finding]:
    """Check the free space where the database lives against the configured minimum."""
    where = Path(".") if ctx.settings.is_postgres else Path(ctx.settings.db).expanduser().resolve().parent
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    shown = _("{gib} GiB free at {where}", gib=format(free / (1 << 30), ".1f"), where=where.resolve())
    if free < ctx.min_free_bytes:
        return [
            fail(
                N_("free disk"),
                _("only {shown}", shown=shown),
                _(
                    "free space there: the database and its WAL need room to write (at least {gib} GiB)",
                    gib=format(ctx.min_free_bytes / (1 << 30), ".1f"),
                ),
            )
        ]
    return [ok(N_("free disk"), shown)]


async def clock_skew(ctx: Context) -> list[Finding]:
    """Compare this clock with the Date of the services that answered; fail past the allowed skew."""
    if not ctx.server_dates:
        return [skip(N_("clock skew"), _("no remote service answered to compare with"))]
    service, theirs, ours = max(ctx.server_dates, key=lambda d: abs(d[1] - d[2]))
    skew = ours - theirs
    seconds = f"{abs(skew):.0f}"
    shown = (
        _("{seconds} s ahead of {service}", seconds=seconds, service=service)
        if skew > 0
        else _("{seconds} s behind {service}", seconds=seconds, service=service)
    )
    if abs(skew) > ctx.max_clock_skew_s:
        return [
            fail(
                N_("clock skew"),
                _("this clock is {shown}", shown=shown),
                _(
                    "sync the clock (e.g. `timedatectl set-ntp true`): Stripe refuses webhooks signed more than "
                    "300 s off, and streak days and seasons follow this clock"
                ),
            )
        ]
    return [
        ok(
            N_("clock skew"),
            _(
                "within {seconds} s of {count} service(s) ({shown})",
                seconds=format(ctx.max_clock_skew_s, ".0f"),
                count=len({d[0] for d in ctx.server_dates}),
                shown=shown,
            ),
        )
    ]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]
