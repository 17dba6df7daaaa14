"""Open the store a target names: a postgresql:// URL, or a SQLite file path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.storage.base import Database


async def open_database(target: str | Path, *, connect_timeout_s: float = 30.0, **_: Any) -> Database:
    from bot.storage.postgres import is_postgres_url

    if is_postgres_url(str(target)):
        from bot.storage.postgres import PostgresDatabase

        return await PostgresDatabase.connect(str(target), connect_timeout_s=connect_timeout_s)
    from bot.storage.sqlite import SqliteDatabase

    return await SqliteDatabase.connect(Path(target))
