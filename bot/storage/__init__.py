"""One SQLite file through aiosqlite: WAL, a busy timeout, migrations, and serialised transactions.

Within a process every statement goes through one connection, guarded by an
asyncio lock, so coroutines never interleave inside a transaction. Across
processes, writes start with BEGIN IMMEDIATE (the write lock is taken up
front) and the busy timeout makes a second process wait its turn instead of
failing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.storage.migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 30_000


class Database:
    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        path = Path(path)
        if path.parent != Path(""):
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = FULL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA secure_delete = ON")  # purged vault rows leave no bytes behind
        db = cls(conn, path)
        await db._migrate()
        return db

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A write transaction: BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on any exception."""
        async with self._lock:
            try:
                await self._finish("BEGIN IMMEDIATE")
                yield Tx(self._conn)
                await self._finish("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    await self._finish("ROLLBACK")
                raise

    async def _finish(self, statement: str) -> None:
        """Run a transaction boundary to completion even if our task is cancelled meanwhile.

        aiosqlite runs statements on its own thread: a cancelled await does not
        stop the statement, it only stops us waiting for it. Were BEGIN or
        ROLLBACK abandoned that way, the lock would be released while the shared
        connection sits inside a transaction, and the next BEGIN would fail.
        The cancellation is re-raised once the statement is done, so that
        `connection.in_transaction` is true exactly when a ROLLBACK is owed.
        """
        step = asyncio.ensure_future(self._conn.execute(statement))
        cancelled = False
        while not step.done():
            try:
                await asyncio.shield(step)
            except asyncio.CancelledError:
                if step.cancelled():
                    raise
                cancelled = True
        await (await step).close()
        if cancelled:
            raise asyncio.CancelledError

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._lock:
            async with self._conn.execute(sql, tuple(params)) as cursor:
                return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self._lock:
            async with self._conn.execute(sql, tuple(params)) as cursor:
                return await cursor.fetchone()

    async def _migrate(self) -> None:
        async with self.transaction() as tx:
            await tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = await tx.fetchone("SELECT MAX(version) AS v FROM schema_version")
            current = row["v"] if row and row["v"] is not None else 0
            for version, statements in enumerate(MIGRATIONS, start=1):
                if version <= current:
                    continue
                for statement in statements:
                    await tx.execute(statement)
                await tx.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    @property
    def schema_version(self) -> int:
        return len(MIGRATIONS)


class Tx:
    """The statements of one open transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        async with self._conn.execute(sql, tuple(params)) as cursor:
            return cursor.rowcount

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self._conn.execute(sql, tuple(params)) as cursor:
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._conn.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())
