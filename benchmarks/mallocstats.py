"""Where the load benchmark's bot keeps its memory, sampled cheaply enough to run through a normal soak.

When VANIKEYS_LOAD_MALLOC_STATS names a file (load.py --malloc-stats FILE), benchmarks/load_bot.py starts a
daemon thread that appends one JSON line every VANIKEYS_LOAD_MALLOC_STATS_EVERY seconds (default 15):

- rss_anon_mb / rss_file_mb: the process's resident memory, anonymous and file-backed (/proc/self/status);
- py_blocks: memory blocks the interpreter has allocated (sys.getallocatedblocks(): objects and buffers);
- glibc mallinfo2(), over all arenas: in_use_mb (uordblks: handed out by malloc, Python's small-object
  arenas excluded, which are mmap'd directly), free_held_mb (fordblks: freed but kept by malloc, the
  fragmentation a long-running process accumulates), mmapped_mb (hblkhd: large blocks mapped one by one),
  arena_mb (arena: the heap space malloc took from the system);
- asyncio_tasks: tasks alive.

Nothing here walks the interpreter's objects (unsafe from a second thread; see benchmarks/memtrace.py).
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import sys
import threading
import time
from pathlib import Path

ENV_FILE = "VANIKEYS_LOAD_MALLOC_STATS"
ENV_EVERY = "VANIKEYS_LOAD_MALLOC_STATS_EVERY"
MB = 1024 * 1024


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _mallinfo2() -> _Mallinfo2 | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        function = libc.mallinfo2
    except (OSError, AttributeError):  # not glibc, or glibc before 2.33
        return None
    function.restype = _Mallinfo2
    return function()


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def sample(started: float) -> dict[str, float]:
    row: dict[str, float] = {
        "t": round(time.monotonic() - started, 1),
        "rss_anon_mb": round(_status_kb("RssAnon") / 1024, 2),
        "rss_file_mb": round(_status_kb("RssFile") / 1024, 2),
        "py_blocks": sys.getallocatedblocks(),
        "asyncio_tasks": len(asyncio.tasks._all_tasks),
    }
    info = _mallinfo2()
    if info is not None:
        row.update(
            in_use_mb=round(info.uordblks / MB, 2),
            free_held_mb=round(info.fordblks / MB, 2),
            mmapped_mb=round(info.hblkhd / MB, 2),
            arena_mb=round(info.arena / MB, 2),
        )
    return row


def start_from_environment() -> bool:
    target = os.environ.get(ENV_FILE, "")
    if not target:
        return False
    every = float(os.environ.get(ENV_EVERY, "15"))
    started = time.monotonic()

    def loop() -> None:
        with open(target, "a", buffering=1) as out:
            while True:
                out.write(json.dumps(sample(started)) + "\n")
                time.sleep(every)

    threading.Thread(target=loop, name="mallocstats", daemon=True).start()
    return True
