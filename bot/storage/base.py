"""The one storage interface both stores implement, and the errors every caller may meet.

Callers use only `transaction()` (a `Tx` with `execute`, `fetchone`, `fetchall`)
and the database's own `fetchone` / `fetchall` for reads outside a transaction.
SQL is written once, SQLite-style (`?` placeholders, INTEGER/TEXT/REAL/BLOB);
the PostgreSQL store translates it (bot/storage/sql.py).

Rows are read by column name (`row["balance"]`); both stores' rows also
support `keys()` and position.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

from bot.answers import ServiceError
from gpu_worker.localized import Localized

Row = Any  # sqlite3.Row or asyncpg.Record: both read by column name

# The one exception type to catch for a broken constraint (unique key, CHECK) on either store.
IntegrityError = sqlite3.IntegrityError


def is_postgres_url(target: object) -> bool:
    """Whether `target` is a postgres:// or postgresql:// URL (anything else is a SQLite path)."""
    return isinstance(target, str) and target.split("://", 1)[0] in ("postgres", "postgresql")


class PostgresIntegrityError(sqlite3.IntegrityError):
    """A PostgreSQL constraint violation, catchable as bot.storage.IntegrityError."""


class StorageError(Exception):
    """The database cannot be opened or used as configured. The message is one line naming what to fix.

    `str()` is English (logs); a `Localized` message is written again in the reader's language where the command
    line prints it (`in_current_locale`, gpu_worker/localized.py)."""

    def __init__(self, message: str | Localized) -> None:
        super().__init__(str(message))
        self.localized = message if isinstance(message, Localized) else None


class StorageUnavailable(ServiceError):
    """The database failed under a command (unreachable, full, read-only, busy): the command is answered
    "try again shortly", the front end keeps running, and nothing half-done is committed."""

    def __init__(self, why: str) -> None:
        super().__init__(
            "storage_unavailable",
            "the bot's database is unavailable right now: nothing was charged or changed by this "
            "command; try again shortly",
        )
        self.why = why


class Tx(ABC):
    """The statements of one open transaction."""

    @abstractmethod
    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""

    @abstractmethod
    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        """The first row `sql` answers with `params` bound, or None."""

    @abstractmethod
    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        """Every row `sql` answers with `params` bound."""


class Database(ABC):
    """A store: `await open_database(target)` (bot/storage/opening.py) with a SQLite path or a postgresql:// URL."""

    dialect: str  # "sqlite" | "postgresql"
    description: str  # for messages: the file, or the server without its password

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A write transaction: commit on success, roll back on any exception. Within it, every row a
        statement changes stays locked against other processes until the end."""

    @abstractmethod
    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        """Every row `sql` answers, outside any transaction; StorageUnavailable when the store fails under it."""

    @abstractmethod
    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        """The first row `sql` answers, or None, outside any transaction; StorageUnavailable when the store fails."""

    @abstractmethod
    async def close(self) -> None:
        """Close the store's connections; no call may follow."""
