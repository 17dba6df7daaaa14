"""What operating costs at scale: a /metrics scrape, a backup and a restore of a database of a given size.

    python benchmarks/ops.py --accounts 20000 --jobs 50000

Builds a SQLite database through the bot's own storage layer (accounts,
ledger rows, jobs in every status, sealed secrets through the real Vault),
then times: metrics.scrape (gauges read from the database, the registry
rendered), backup.backup (online backup API, integrity check, every sealed
secret opened) and backup.restore (copy, every sealed secret opened again).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import (
    backup as backups,
    metrics,
)
from bot.config import Settings
from bot.storage import open_database
from bot.vault import Vault

STATUSES = ("delivered", "delivered", "delivered", "found", "refunded", "running")


async def build(path: Path, key: bytes, accounts: int, jobs: int) -> int:
    db = await open_database(path)
    vault = Vault(db, key, grace_s=86_400)
    now = time.time()
    sealed = 0
    async with db.transaction() as tx:
        for a in range(accounts):
            await tx.execute(
                "INSERT INTO accounts (platform, user_id, balance, debt, created_at) VALUES (?, ?, ?, ?, ?)",
                ("discord", str(a), 100 + a % 50, 5 if a % 97 == 0 else 0, now),
            )
            await tx.execute(
                "INSERT INTO ledger (idempotency_key, platform, user_id, kind, tokens, debt_change, "
                "balance_after, reason, day, created_at) VALUES (?, ?, ?, 'grant', ?, ?, ?, '', '2026-12-02', ?)",
                (f"seed:{a}", "discord", str(a), 100 + a % 50, 5 if a % 97 == 0 else 0, 100 + a % 50, now),
            )
        for j in range(jobs):
            status = STATUSES[j % len(STATUSES)]
            job_id = f"{j:016x}"
            await tx.execute(
                "INSERT INTO jobs (job_id, kind, platform, user_id, format, pattern, case_mode, fuzzy, count, budget, "
                "price, free_pulls, status, created_at, updated_at) VALUES (?, 'pull', 'discord', ?, 'btc', 'ab', "
                "'insensitive', 0, 1, 1000, 1, 0, ?, ?, ?)",
                (job_id, str(j % accounts), status, now, now),
            )
            if status in ("delivered", "found"):
                await vault.store(tx, job_id, 0, f"1Bench{j}", "private_key", secrets.randbelow(2**255) + 1)
                sealed += 1
    await db.close()
    return sealed


async def scrape_times(path: Path, repeat: int) -> list[float]:
    db = await open_database(path)
    try:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            await metrics.scrape(db)
            times.append(time.perf_counter() - started)
        return times
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    key = secrets.token_bytes(32)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db_path = root / "vanikeys.db"
        started = time.perf_counter()
        sealed = asyncio.run(build(db_path, key, args.accounts, args.jobs))
        print(
            f"built {args.accounts:,} accounts, {args.jobs:,} jobs, {sealed:,} sealed secrets, "
            f"{db_path.stat().st_size / 2**20:.1f} MiB in {time.perf_counter() - started:.1f} s"
        )
        times = asyncio.run(scrape_times(db_path, args.repeat))
        print(
            f"/metrics scrape: median {statistics.median(times) * 1000:.1f} ms, best {min(times) * 1000:.1f} ms "
            f"(of {args.repeat})"
        )
        settings = Settings(db_path=db_path, vault_key=key.hex())
        started = time.perf_counter()
        backups.backup(settings, root / "backup")
        print(f"backup (copy, integrity check, {sealed:,} secrets opened): {time.perf_counter() - started:.2f} s")
        started = time.perf_counter()
        restored = backups.restore(root / "backup", key, target=root / "restored" / "vanikeys.db")
        print(
            f"restore (checks, copy, {restored.sealed_secrets_opened:,} secrets opened): "
            f"{time.perf_counter() - started:.2f} s"
        )
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
