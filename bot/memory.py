"""Fewer malloc arenas for the bot, so freed memory is reused instead of piling up as a slowly rising RSS.

glibc's malloc gives each thread that allocates its own arena, up to 8 per core (16 on the 2-core box). The
bot's threads (the database thread, the grind and card executors, the odds thread) each free into their own
arena, and memory freed in one arena is not reused by another: under steady load the bot's RSS rose about
0.8 MB a minute while malloc's in-use memory stayed flat and its "free but held" memory rose
(benchmarks/mallocstats.py). `malloc_trim` did not help (the free memory is in small pieces between live
blocks); two arenas (glibc's MALLOC_ARENA_MAX=2, the usual setting for long-running Python services) held
less of it. `limit_malloc_arenas` sets that limit from inside the process, before its threads start; the
MALLOC_ARENA_MAX environment variable, when set, wins. Elsewhere than glibc there is nothing to set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

from gpu_worker.config_fields import load_one

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(count: int) -> bool:
    """At most `count` malloc arenas from now on (0: glibc's default); True when the limit was set."""
    from bot.settings import VanikeysSettings

    if count <= 0 or load_one(VanikeysSettings, "malloc_arena_max"):  # glibc reads the real environment only
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_ARENA_MAX, count))
    if not done:
        log.warning("malloc arenas not limited to %d (mallopt refused)", count)
    return done
