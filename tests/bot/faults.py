"""Faults made real for tests: files this process cannot read or write even as root, a disk that fills up,
a grinder that fails when told to, and a bot process that dies at a named fault point (bot/faults.py)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bot.faults import FAULT_POINTS
from bot.grinding import GrindingError
from gpu_worker.job import GrindJob, GrindResult

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def without_file_privileges() -> None:
    """preexec_fn: as root, drop the capabilities that ignore file modes, so chmod means what it says."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def crash_at(point: str) -> dict[str, str]:
    """The environment that makes a bot process exit abruptly (bot.faults.CRASH_EXIT_CODE) at `point`."""
    if point not in FAULT_POINTS:
        raise ValueError(f"{point!r} is not a fault point: one of {', '.join(FAULT_POINTS)}")
    return {"VANIKEYS_CRASH_AT": point}


def small_disk_unavailable() -> str | None:
    """Why a small real filesystem cannot be mounted here (None: it can)."""
    if os.geteuid() != 0:
        return "mounting a small tmpfs (a disk that fills up) needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    return None


@contextlib.contextmanager
def small_disk(megabytes: int = 4) -> Iterator[Path]:
    """A real tmpfs of `megabytes`, unmounted after."""
    where = Path(tempfile.mkdtemp(prefix="vanikeys-disk-"))
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(where)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)
        shutil.rmtree(where, ignore_errors=True)


def fill(disk: Path) -> Path:
    """Fill the disk to the last byte with one file; delete it to free the space again."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 16, 1 << 10, 1):
            chunk = b"\0" * size
            try:
                while os.write(fd, chunk):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


class GatedGrinder:
    """A GrindingClient whose jobs wait for `release`, then fail (so the job is refunded)."""

    backend = "gated"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.waiting = asyncio.Event()

    async def submit(self, job: GrindJob) -> str:
        return "gated-" + secrets.token_hex(4)

    async def wait(self, job_id: str, job: GrindJob, on_progress=None) -> GrindResult:
        self.waiting.set()
        await self.release.wait()
        raise GrindingError("failed", "the grinder failed on purpose")

    async def cancel(self, job_id: str) -> None:
        return None

    async def run_order(self, *args, **kwargs):
        raise GrindingError("failed", "orders are not gated")

    async def close(self) -> None:
        return None


class StorageFaults:
    """A real store (SQLite or PostgreSQL) made to fail on purpose, at a chosen commit point.

    `after_commits(n)`: the n-th transaction from now commits, and then its caller is told the storage failed
    (as when a connection is lost while COMMIT travels: the commit stands, the answer never came back); from
    then on every transaction (and every read, unless `reads_fail=False`) fails as on a store that went away, until
    `heal()`. `reads_fail=False`: reads still answer (as on a full disk). `commits` counts the transactions
    committed since the last `after_commits` or `count()`.
    """

    def __init__(self, db: object) -> None:
        self._transaction = db.transaction  # type: ignore[attr-defined]
        self._fetchone = db.fetchone  # type: ignore[attr-defined]
        self._fetchall = db.fetchall  # type: ignore[attr-defined]
        db.transaction = self.transaction  # type: ignore[attr-defined]
        db.fetchone = self.fetchone  # type: ignore[attr-defined]
        db.fetchall = self.fetchall  # type: ignore[attr-defined]
        self.commits = 0
        self.fail_at: int | None = None
        self.down = False
        self.reads_down = True

    def count(self) -> None:
        self.commits, self.fail_at = 0, None

    def after_commits(self, n: int, *, reads_fail: bool = True) -> None:
        self.commits, self.fail_at, self.reads_down = 0, n, reads_fail

    def heal(self) -> None:
        self.down, self.fail_at = False, None

    def _refuse(self) -> None:
        from bot.storage import StorageUnavailable

        raise StorageUnavailable("injected: the storage went away")

    @contextlib.asynccontextmanager
    async def transaction(self):
        from bot.storage import StorageUnavailable

        if self.down:
            self._refuse()
        async with self._transaction() as tx:
            yield tx
        self.commits += 1
        if self.fail_at is not None and self.commits == self.fail_at:
            self.down = True
            raise StorageUnavailable("injected: the connection was lost as the commit went through")

    async def fetchone(self, sql: str, params=()):
        if self.down and self.reads_down:
            self._refuse()
        return await self._fetchone(sql, params)

    async def fetchall(self, sql: str, params=()):
        if self.down and self.reads_down:
            self._refuse()
        return await self._fetchall(sql, params)
