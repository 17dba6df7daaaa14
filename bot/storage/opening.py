"""Open the store a target names (a postgresql:// URL, or a SQLite file path), and answer an operator command's
storage fault in one line.

Every operator command that opens storage (`admin`, `backup`, `restore`, `costs`, `vault`, `doctor`) opens it
with `open_configured` (the configured store, within VANIKEYS_DB_CONNECT_TIMEOUT_S) and runs inside
`storage_faults_answered`: an unreachable server, a missing database, a refused role, a corrupt or unreadable
file, or a store lost mid-command becomes one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.answers import ServiceError
from bot.storage.base import Database, StorageError, StorageUnavailable, is_postgres_url
from gpu_worker.i18n import _
from gpu_worker.localized import Localized, in_current_locale

if TYPE_CHECKING:
    from bot.config import Settings

FAULT_EXIT_CODE = 2


async def open_database(target: str | Path, *, connect_timeout_s: float = 30.0, **_: Any) -> Database:
    """The store `target` names (postgresql:// URL or SQLite path), connected and migrated.

    StorageError names what to fix when it cannot be opened; other keyword options are ignored.
    """
    if is_postgres_url(str(target)):
        from bot.storage.postgres import PostgresDatabase

        return await PostgresDatabase.connect(str(target), connect_timeout_s=connect_timeout_s)
    from bot.storage.sqlite import SqliteDatabase

    return await SqliteDatabase.connect(Path(target))


async def open_configured(settings: Settings, target: str | Path | None = None) -> Database:
    """The store VANIKEYS_DB names (or `target`), waiting for an unreachable server no longer than the
    configured VANIKEYS_DB_CONNECT_TIMEOUT_S. An operator command never creates the bot's SQLite file."""
    target = settings.database if target is None else target
    if not is_postgres_url(str(target)) and not Path(target).exists():
        raise StorageError(
            Localized(
                lambda: _(
                    "no database at {target}: set {variable} to the bot's database",
                    target=target,
                    variable="VANIKEYS_DB",
                )
            )
        )
    return await open_database(target, connect_timeout_s=settings.db_connect_timeout_s)


def fault_line(exc: BaseException) -> str | None:
    """One line for a storage fault met by an operator command; None when `exc` is not one."""
    if isinstance(exc, StorageError):
        return in_current_locale(exc)
    if isinstance(exc, StorageUnavailable):
        return _(
            "the database failed under this command ({why}): nothing this command changes is half-done; "
            "check the storage, then run the command again",
            why=exc.why,
        )
    if isinstance(exc, ServiceError) and exc.code == "vault_key":  # bot.vault's VaultError (a floor above)
        return in_current_locale(exc)
    return None


@contextmanager
def storage_faults_answered(prog: str = "vanikeys") -> Iterator[None]:
    """Around an operator command: a storage fault is one line on stderr and exit status 2 (SystemExit)."""
    try:
        yield
    except Exception as exc:
        line = fault_line(exc)
        if line is None:
            raise
        print(f"{prog}: error: {' '.join(line.split())}", file=sys.stderr)
        raise SystemExit(FAULT_EXIT_CODE) from None
