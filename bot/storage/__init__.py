"""Storage: one interface (base.py), two stores: SQLite (sqlite.py, the embedded default) and
PostgreSQL (postgres.py, `VANIKEYS_DB=postgresql://…`, shared by several processes).

    db = await open_database("vanikeys.db")            # or "postgresql://user:pass@host/db"
    async with db.transaction() as tx:
        await tx.execute("UPDATE … WHERE x = ?", (x,))
"""

from bot.storage.base import (
    Database,
    IntegrityError,
    Row,
    StorageError,
    StorageUnavailable,
    Tx,
)
from bot.storage.opening import open_database

__all__ = ["Database", "IntegrityError", "Row", "StorageError", "StorageUnavailable", "Tx", "open_database"]
