"""One SQLite file through aiosqlite: WAL, a busy timeout, migrations, and serialised transactions.

Within a process every statement goes through one connection, guarded by an
asyncio lock, so coroutines never interleave inside a transaction. Across
processes, writes start with BEGIN IMMEDIATE (the write lock is taken up
front) and the busy timeout makes a second process wait its turn instead of
failing.

A file that cannot be opened (a directory, unreadable, read-only, corrupt, a
full disk) raises StorageError with one line naming the file and the fix,
and the connection's thread is stopped, so the process can exit. The same
faults met under a command raise StorageUnavailable: the command is
answered, the transaction rolled back, and the next command tries again.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot import logs
from bot.storage.base import Database, Row, StorageError, StorageUnavailable, Tx
from bot.storage.migrations import apply_migrations
from gpu_worker.i18n import _
from gpu_worker.localized import Localized

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000

# Messages of faults in the file or the disk under it, as opposed to faults in our SQL.
_FAULTS = (
    "disk is full",
    "readonly",
    "read-only",
    "disk i/o error",
    "unable to open",
    "database is locked",
    "malformed",
    "not a database",
    "no such file",
    "out of memory",
)


def is_storage_fault(exc: BaseException) -> bool:
    """Whether `exc` is a fault of the file (full, read-only, locked, corrupt, I/O), not of the statement."""
    return (
        isinstance(exc, sqlite3.DatabaseError)
        and not isinstance(exc, sqlite3.IntegrityError)
        and any(fault in str(exc).lower() for fault in _FAULTS)
    )


@contextmanager
def _faults_answered() -> Iterator[None]:
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if is_storage_fault(exc):
            logs.STORAGE.failed(exc)
            raise StorageUnavailable(str(exc)) from exc
        raise


def describe_open_failure(path: Path, exc: BaseException) -> Localized:
    """One line: what is wrong with the database file and what to do about it (in the reader's language)."""
    text = str(exc).lower()
    folder = path.parent if str(path.parent) else Path(".")
    db = "VANIKEYS_DB"
    if "not a database" in text or "malformed" in text:
        return Localized(
            lambda: _(
                "the database {path} is corrupt (not a readable SQLite database): restore it from a backup, "
                "or move it aside to start an empty one, or set {variable} to another file",
                path=path,
                variable=db,
            )
        )
    if "disk is full" in text or "no space" in text:
        return Localized(
            lambda: _("the disk holding the database {path} is full: free some space, then start again", path=path)
        )
    if path.exists() and not os.access(path, os.R_OK):
        return Localized(
            lambda: _(
                "cannot read the database {path} (permission denied): let this user read and write it, or set "
                "{variable}",
                path=path,
                variable=db,
            )
        )
    if (
        "readonly" in text
        or "read-only" in text
        or (path.exists() and not os.access(path, os.W_OK))
        or not os.access(folder, os.W_OK)
    ):
        return Localized(
            lambda: _(
                "the database {path} is read-only here: make the file and its folder writable by this user "
                "(SQLite writes a -wal file beside it), or set {variable} to a writable path",
                path=path,
                variable=db,
            )
        )
    said = str(exc)
    return Localized(
        lambda: _(
            "cannot open the database {path} ({error}): check the path and its folder, or set {variable}",
            path=path,
            error=said,
            variable=db,
        )
    )


async def _thread_gone(conn: aiosqlite.Connection) -> None:
    """aiosqlite stops its thread after a failed connect without waiting: wait here, so the thread never
    reports back to an event loop that has closed (a traceback at exit)."""
    thread = getattr(conn, "_thread", None)
    if thread is not None and thread.is_alive():
        await asyncio.to_thread(thread.join, 5.0)


class SqliteDatabase(Database):
    """The SQLite store: one connection, its calls serialised by a lock; file faults become StorageUnavailable."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path
        self.description = str(path)

    @classmethod
    async def connect(cls, path: Path | str) -> SqliteDatabase:
        """Open (creating if needed) the database file at `path` and migrate it.

        StorageError names what to fix: a directory given, a folder that cannot be made, a file that is not a database.
        """
        path = Path(path)
        if path.is_dir():
            raise StorageError(
                Localized(
                    lambda: _(
                        "{setting} is a directory: set it to a file path such as {example}",
                        setting=f"VANIKEYS_DB={path}",
                        example=path / "vanikeys.db",
                    )
                )
            )
        try:
            if path.parent != Path(""):
                path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            why = exc.strerror
            raise StorageError(
                Localized(
                    lambda: _(
                        "cannot create the folder {folder} for the database ({error}): create it or set {variable} "
                        "to a writable path",
                        folder=path.parent,
                        error=why,
                        variable="VANIKEYS_DB",
                    )
                )
            ) from None
        pending = aiosqlite.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn: aiosqlite.Connection | None = None
        try:
            try:
                conn = await pending
            except BaseException:
                await _thread_gone(pending)
                raise
            conn.row_factory = sqlite3.Row
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = FULL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA secure_delete = ON")  # purged vault rows leave no bytes behind
            db = cls(conn, path)
            await db._migrate()
            return db
        except (sqlite3.DatabaseError, StorageUnavailable, OSError) as exc:
            cause = exc.__cause__ if isinstance(exc, StorageUnavailable) and exc.__cause__ else exc
            if conn is not None:
                await conn.close()  # its thread would otherwise keep the process alive
            raise StorageError(describe_open_failure(path, cause)) from None
        except BaseException:
            if conn is not None:
                await conn.close()
            raise

    async def close(self) -> None:
        """Close the connection after any call in progress."""
        async with self._lock:
            await self._conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A write transaction: BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on any exception."""
        async with self._lock:
            try:
                with _faults_answered():
                    if self._conn.in_transaction:  # a ROLLBACK that failed last time (disk full): finish it now
                        await self._finish("ROLLBACK")
                    await self._finish("BEGIN IMMEDIATE")
                tx = SqliteTx(self._conn)
                yield tx
                with _faults_answered():
                    await self._finish("COMMIT")
                if tx.wrote:  # reads succeed on a full disk: only a committed write says the fault is over
                    logs.STORAGE.cleared()
            except BaseException:
                if self._conn.in_transaction:
                    try:
                        await self._finish("ROLLBACK")
                    except sqlite3.DatabaseError:
                        pass  # retried before the next transaction; the original error is what matters
                raise

    async def _finish(self, statement: str) -> None:
        """Run a transaction boundary to completion even if our task is cancelled meanwhile (`_to_the_end`):
        were BEGIN or ROLLBACK abandoned, the lock would be released while the shared connection sits inside a
        transaction, and the next BEGIN would fail. So `connection.in_transaction` is true exactly when a
        ROLLBACK is owed."""
        await _to_the_end(_execute(self._conn, statement, ()))

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        """Every row `sql` answers, outside any transaction."""
        async with self._lock:
            with _faults_answered():
                return await _to_the_end(_fetchall(self._conn, sql, tuple(params)))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        """The first row `sql` answers, or None, outside any transaction."""
        async with self._lock:
            with _faults_answered():
                return await _to_the_end(_fetchone(self._conn, sql, tuple(params)))

    async def _migrate(self) -> None:
        async with self.transaction() as tx:
            await apply_migrations(tx)

    async def page_count(self) -> int:
        """The database file's size in pages."""
        async with self._lock, self._conn.execute("PRAGMA page_count") as cursor:
            row = await cursor.fetchone()
            assert row is not None  # PRAGMA page_count always answers one row
            return int(row[0])


class SqliteTx(Tx):
    """The statements of one SQLite write transaction; `wrote` says whether any statement changed a row."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self.wrote = False

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        with _faults_answered():
            changed = await _to_the_end(_execute(self._conn, sql, tuple(params)))
        self.wrote = self.wrote or changed > 0
        return changed

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        """The first row `sql` answers, or None."""
        with _faults_answered():
            return await _to_the_end(_fetchone(self._conn, sql, tuple(params)))

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        """Every row `sql` answers."""
        with _faults_answered():
            return await _to_the_end(_fetchall(self._conn, sql, tuple(params)))


# One statement on the shared connection, run to its end: stepped, read and its cursor closed, even when the task
# awaiting it is cancelled meanwhile. aiosqlite runs statements on its own thread, so a cancelled await does not
# stop a statement, it only stops us waiting for it; a statement abandoned that way stays in progress on the
# connection after the lock is released, and the next COMMIT fails ("SQL statements in progress": seen at a
# shutdown that cancelled the jobs' tasks mid-read).


async def _to_the_end(work: Awaitable[T]) -> T:
    """Await `work` to completion even if our task is cancelled meanwhile; the cancellation is re-raised after."""
    step = asyncio.ensure_future(work)
    cancelled = False
    while not step.done():
        try:
            await asyncio.shield(step)
        except asyncio.CancelledError:
            if step.cancelled():
                raise
            cancelled = True
    result = step.result()
    if cancelled:
        raise asyncio.CancelledError
    return result


async def _execute(conn: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> int:
    async with conn.execute(sql, params) as cursor:
        return cursor.rowcount


async def _fetchone(conn: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> Row | None:
    async with conn.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def _fetchall(conn: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> list[Row]:
    async with conn.execute(sql, params) as cursor:
        return list(await cursor.fetchall())
