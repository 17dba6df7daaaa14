"""The storage layer under cancellation: a cancelled writer never leaves the shared connection mid-transaction."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.storage import Database


async def _slow_writer(db: Database, started: asyncio.Event) -> None:
    async with db.transaction() as tx:
        started.set()
        await tx.execute("INSERT INTO scratch (n) VALUES (1)")
        await asyncio.sleep(10)


@pytest.fixture
async def db(db_target: str | Path):
    database = await Database.open(db_target)
    async with database.transaction() as tx:
        await tx.execute("CREATE TABLE scratch (n INTEGER NOT NULL)")
    yield database
    await database.close()


async def test_cancelling_writers_at_every_step_leaves_no_open_transaction(db: Database) -> None:
    # Cancel after 0, 1, 2, ... event-loop turns, so that some cancellations land
    # while BEGIN runs on aiosqlite's thread, some inside the body and some in ROLLBACK.
    for turns in range(40):
        writer = asyncio.create_task(_slow_writer(db, asyncio.Event()))
        for _ in range(turns):
            await asyncio.sleep(0)
        writer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writer
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO scratch (n) VALUES (2)")
    row = await db.fetchone("SELECT COUNT(*) AS ones FROM scratch WHERE n = 1")
    assert row is not None and row["ones"] == 0, "a cancelled transaction's writes were committed"
    row = await db.fetchone("SELECT COUNT(*) AS twos FROM scratch WHERE n = 2")
    assert row is not None and row["twos"] == 40

