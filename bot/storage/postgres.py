"""PostgreSQL through asyncpg: a pool, the same migrations translated, and the same money rules across processes.

Transactions run at READ COMMITTED, where every statement sees the rows
committed before it began and an UPDATE re-checks its WHERE clause against
the newest version of a row once its lock is free. The money rules rest on
that: the ledger locks the account row first (its upsert), so everything it
reads about that account afterwards is current and no other process can
change it until commit; job transitions are compare-and-set updates on the
state they leave; idempotency keys are unique constraints.

Faults: a server that cannot be reached at start is retried with backoff for
a bounded time, then StorageError names the server and what to check; one
lost under a command raises StorageUnavailable (the command is answered "try
again shortly") and the pool reconnects on a later command once it is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import asyncpg

from bot import logs
from bot.storage.base import Database, PostgresIntegrityError, Row, StorageError, StorageUnavailable, Tx
from bot.storage.migrations import apply_migrations
from bot.storage.sql import to_postgres
from gpu_worker.i18n import N_, _
from gpu_worker.localized import Localized, phrase

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # A pool lends a proxy of one of its connections; both answer the same calls.
    _Connection = asyncpg.Connection | PoolConnectionProxy

log = logging.getLogger(__name__)
# asyncpg's pool logs each failed reconnection with a traceback: those join the storage episode instead.
logging.getLogger("asyncpg.pool").addFilter(logs.EpisodeFilter(logs.STORAGE))

MIGRATION_LOCK = 0x76616E69  # pg_advisory_xact_lock key: processes starting together migrate one at a time
CONNECT_TIMEOUT_S = 5.0  # one connection attempt
POOL_SIZE = 10
# SQLSTATE classes that mean "the server, not our SQL": connection (08), rollback (40: serialization,
# deadlock), resources (53: disk full, too many connections), operator intervention (57: shutdown).
_TRANSIENT_CLASSES = ("08", "40", "53", "57")
# Faults that retrying the same URL will not cure: wrong password, no such role or database.
_FATAL_AT_START = (
    asyncpg.InvalidPasswordError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
)


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is a fault of the connection or server (retry later), not of the statement."""
    if isinstance(exc, (OSError, asyncio.TimeoutError, asyncpg.InterfaceError, asyncpg.InternalClientError)):
        return True
    state = getattr(exc, "sqlstate", None)
    return isinstance(exc, asyncpg.PostgresError) and isinstance(state, str) and state[:2] in _TRANSIENT_CLASSES


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise PostgresIntegrityError(str(exc)) from exc
    except Exception as exc:
        if is_transient(exc):
            logs.STORAGE.failed(exc)
            raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from exc
        raise


def _rowcount(status: str) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


def _numeric(text: str) -> int | float:
    """SUM over BIGINT is NUMERIC in Postgres; SQLite gives an int: give ints too (floats where fractional)."""
    try:
        return int(text)
    except ValueError:
        return float(text)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("numeric", encoder=str, decoder=_numeric, schema="pg_catalog", format="text")


async def _reset(conn: asyncpg.Connection) -> None:
    """On release to the pool. We keep no session state (no LISTEN, cursors, session locks or SETs), so the
    default reset query (a round trip on every release) is only needed for a transaction left open."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


_INT_TYPES = ("int2", "int4", "int8")
_FLOAT_TYPES = ("float4", "float8", "numeric")


def _coerce(value: Any, type_name: str) -> Any:
    """A value SQLite would have taken for this column, in the type Postgres declared for the parameter."""
    if value is None:
        return None
    if type_name in _INT_TYPES:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool):
            return int(value)
    if type_name in _FLOAT_TYPES and isinstance(value, (str, int)) and not isinstance(value, bool):
        return float(value)
    if type_name in ("text", "varchar", "bpchar") and not isinstance(value, str):
        return str(int(value)) if isinstance(value, bool) else str(value)
    if type_name == "bool" and isinstance(value, int):
        return bool(value)
    return value


async def _run(conn: _Connection, method: str, sql: str, params: Iterable[Any]) -> Any:
    query, args = to_postgres(sql), tuple(params)
    call: Callable[..., Awaitable[Any]] = getattr(conn, method)
    try:
        return await call(query, *args)
    except asyncpg.DataError as exc:
        # Raised while encoding, before anything was sent: the transaction is intact. SQLite is lax
        # about types (an int for a TEXT column); give Postgres what its parameter types ask for.
        if "invalid input for query argument" not in str(exc):
            raise
        statement = await conn.prepare(query)
        types = [p.name for p in statement.get_parameters()]
        return await call(query, *(_coerce(v, t) for v, t in zip(args, types, strict=True)))


class PostgresDatabase(Database):
    """The PostgreSQL store: a connection pool; statements in SQLite style are translated (bot/storage/sql.py).

    Server and connection faults surface as StorageUnavailable, constraint violations as PostgresIntegrityError.
    """

    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self.url = url
        self.description = redacted(url)

    @classmethod
    async def connect(
        cls, url: str, *, connect_timeout_s: float = 30.0, pool_size: int = POOL_SIZE
    ) -> PostgresDatabase:
        """Connect (retrying with backoff for up to connect_timeout_s while the server is unreachable) and migrate."""
        where = redacted(url)
        deadline = time.monotonic() + connect_timeout_s
        delay = 0.2
        while True:
            try:
                pool = await asyncpg.create_pool(
                    dsn=url,
                    min_size=1,
                    max_size=pool_size,
                    init=_init_connection,
                    reset=_reset,
                    timeout=min(CONNECT_TIMEOUT_S, max(0.5, deadline - time.monotonic())),
                )
                break
            except _FATAL_AT_START as exc:
                raise StorageError(
                    phrase(
                        N_(
                            "PostgreSQL at {where} refused us ({error}): fix the user, password or database name in "
                            "{variable} (create the database with `createdb`)"
                        ),
                        where=where,
                        error=str(exc),
                        variable="VANIKEYS_DB",
                    )
                ) from None
            except Exception as exc:
                if not is_transient(exc):
                    raise StorageError(
                        phrase(
                            N_("cannot use PostgreSQL at {where} ({error}): check {variable}"),
                            where=where,
                            error=": ".join((type(exc).__name__, str(exc))),
                            variable="VANIKEYS_DB",
                        )
                    ) from None
                left = deadline - time.monotonic()
                if left <= 0:
                    why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                    raise StorageError(
                        phrase(
                            N_(
                                "cannot reach PostgreSQL at {where} after {seconds} s ({error}): start the server or "
                                "fix the host and port in {variable}"
                            ),
                            where=where,
                            seconds=format(connect_timeout_s, "g"),
                            error=why,
                            variable="VANIKEYS_DB",
                        )
                    ) from None
                log.info("PostgreSQL at %s not reachable yet (%s); retrying", where, type(exc).__name__)
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, 2.0)
        db = cls(pool, url)
        try:
            await db._migrate()
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, StorageUnavailable):
                lost = exc.why
                raise StorageError(
                    Localized(
                        lambda: _(
                            "PostgreSQL at {where} went away while migrating ({error}): start again once it is up",
                            where=where,
                            error=lost,
                        )
                    )
                ) from None
            raise
        return db

    async def close(self) -> None:
        """Close the pool, waiting up to 10 s for borrowed connections; then terminate it."""
        try:
            await asyncio.wait_for(self._pool.close(), timeout=10)
        except (TimeoutError, OSError, asyncpg.InterfaceError):
            self._pool.terminate()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A transaction on one pooled connection: commit on success, roll back on any exception."""
        with _translated():
            conn = await self._pool.acquire()
        try:
            with _translated():
                transaction = conn.transaction()
                await transaction.start()
            try:
                yield PostgresTx(conn)
            except BaseException:
                try:
                    await transaction.rollback()
                except Exception:
                    pass  # a lost connection rolled back already; the pool discards it
                raise
            with _translated():
                await transaction.commit()
            logs.STORAGE.cleared()  # the server answered (a pooled connection alone says nothing)
        finally:
            try:
                await self._pool.release(conn)
            except Exception:
                pass

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        """Every row `sql` answers, on a pooled connection outside any transaction."""
        with _translated():
            async with self._pool.acquire() as conn:
                rows = list(await _run(conn, "fetch", sql, params))
        logs.STORAGE.cleared()
        return rows

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        """The first row `sql` answers, or None, on a pooled connection outside any transaction."""
        with _translated():
            async with self._pool.acquire() as conn:
                row = await _run(conn, "fetchrow", sql, params)
        logs.STORAGE.cleared()
        return row

    async def _migrate(self) -> None:
        async with self.transaction() as tx:
            await tx.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            await apply_migrations(tx)


class PostgresTx(Tx):
    """The statements of one PostgreSQL transaction, on the connection it holds."""

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        with _translated():
            return _rowcount(await _run(self._conn, "execute", sql, params))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        """The first row `sql` answers, or None."""
        with _translated():
            return await _run(self._conn, "fetchrow", sql, params)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        """Every row `sql` answers."""
        with _translated():
            return list(await _run(self._conn, "fetch", sql, params))
