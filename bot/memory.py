"""Hand memory the bot has freed back to the system, so a long-running bot's RSS levels off.

glibc's malloc keeps freed memory in its arenas (one per thread that met contention: the database thread,
the executors' threads, the event loop) and returns it only from the top of a heap. Freed chunks in the
middle stay resident, so under steady load a bot's RSS crept up by about a megabyte a minute while the
memory actually in use stayed flat (benchmarks/mallocstats.py: `in_use_mb` flat, `free_held_mb` rising).
`malloc_trim(0)` gives those free pages back (it walks every arena); the bot calls it every
VANIKEYS_MEMORY_TRIM_S seconds (default 60; 0: never). Elsewhere than glibc there is nothing to call.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable
from functools import cache

log = logging.getLogger(__name__)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


def can_trim() -> bool:
    return _malloc_trim() is not None


def release_free_memory() -> bool:
    """Return the allocator's free pages to the system; True when some were returned."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


async def trim_forever(every_s: float, release: Callable[[], bool] = release_free_memory) -> None:
    """Every `every_s` seconds, give freed memory back (milliseconds of the event loop's time each)."""
    if every_s <= 0 or not can_trim():
        return
    while True:
        await asyncio.sleep(every_s)
        started = time.perf_counter()
        released = release()
        log.debug("malloc_trim: %s in %.1f ms", "released" if released else "nothing", 1000 * (time.perf_counter() - started))
