"""An inter-process lock for what test processes share (pytest-xdist workers, CLI subprocesses): a lock file.

    with file_lock(cache_dir() / "thing.lock"):
        if not done(): make()

fcntl.flock: the kernel drops the lock when its holder exits, however it exits, so a
killed worker never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
