"""Odds for the bot without stalling it: cached, computed once per pattern, off the event loop's interpreter.

The odds model is CPU work under the GIL (tens of ms for the hardest
patterns; it was seconds). Computed on a thread of the bot's process, a burst
of uncached patterns from one user takes the interpreter away from everyone
else's commands. So an uncached pattern is computed in a small pool of worker
processes (``VANIKEYS_ODDS_WORKERS``, default 1; 0 computes on a thread of the
bot's process instead), the result is kept in the process's bounded LRU
(`gpu_worker.odds.remember_odds`, so the job runner's own `odds()` calls hit
it too), and concurrent requests for the same pattern share one computation.

A broken pool (a worker killed) is replaced once per failure; if it cannot be
started, odds fall back to a thread rather than failing the command.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from gpu_worker.formats import FORMATS
from gpu_worker.odds import Odds, cached_odds, odds, remember_odds
from gpu_worker.patterns import Pattern, parse_pattern

log = logging.getLogger(__name__)

WORKERS_ENV = "VANIKEYS_ODDS_WORKERS"
DEFAULT_WORKERS = 1
MAX_WORKERS = 8


def odds_workers() -> int:
    """How many odds worker processes to run (0: compute on a thread of this process)."""
    from bot.settings import ConfigError, load_settings

    try:
        return load_settings().odds_workers
    except ConfigError as exc:
        log.warning("%s; using %d", exc, DEFAULT_WORKERS)
        return DEFAULT_WORKERS


def _compute(format_id: str, text: str, case: str, fuzzy: bool) -> Odds:
    """In a worker process: parse the pattern again (cheap) and compute its odds."""
    return odds(parse_pattern(format_id, text, case=case, fuzzy=fuzzy))  # type: ignore[arg-type]


def _start_worker(parent: int) -> None:
    """Worker start: let go of the bot's terminal, die with the bot, build the body tables before they are needed.

    A spawned worker inherits the bot's stdin, stdout and stderr: if the bot died
    abruptly (a crash, SIGKILL) a worker still holding them would keep a pipe to a
    supervisor open, and would wait forever on a queue nobody writes.
    """
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="odds-orphan-watch").start()
    for format_id in FORMATS:
        odds(parse_pattern(format_id, "ab"))


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_S)
    os._exit(0)


ORPHAN_CHECK_S = 0.5


class OddsCache:
    """`await get(pattern)`: the pattern's odds, computed at most once at a time, never on the event loop."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = odds_workers() if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._pending: dict[Pattern, asyncio.Future[Odds]] = {}
        self.computed = 0  # uncached patterns computed (for tests and the benchmark)

    async def get(self, pattern: Pattern) -> Odds:
        known = cached_odds(pattern)
        if known is not None:
            return known
        pending = self._pending.get(pattern)
        if pending is None:
            pending = asyncio.ensure_future(self._compute(pattern))
            self._pending[pattern] = pending
            pending.add_done_callback(lambda _: self._pending.pop(pattern, None))
        return await asyncio.shield(pending)

    async def _compute(self, pattern: Pattern) -> Odds:
        self.computed += 1
        loop = asyncio.get_running_loop()
        pool = self._executor()
        if pool is None:
            result = await asyncio.to_thread(odds, pattern)
        else:
            case = "insensitive" if pattern.case_insensitive else "exact"
            try:
                result = await loop.run_in_executor(pool, _compute, pattern.format_id, pattern.text, case, pattern.fuzzy)
            except BrokenProcessPool:
                log.warning("the odds worker process died; starting a new one")
                self._discard(pool)
                result = await asyncio.to_thread(odds, pattern)
        remember_odds(pattern, result)
        return result

    def _executor(self) -> Executor | None:
        if self.workers <= 0:
            return None
        with self._pool_lock:
            if self._pool is None:
                try:
                    # spawn, not fork: the bot's process has threads (aiosqlite, the grinders' pool).
                    self._pool = ProcessPoolExecutor(
                        self.workers,
                        mp_context=multiprocessing.get_context("spawn"),
                        initializer=_start_worker,
                        initargs=(os.getpid(),),
                    )
                except OSError as exc:
                    log.warning("could not start odds worker processes (%s): odds run on a thread", exc)
                    self.workers = 0
                    return None
                _POOLS.add(self._pool)
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._pool_lock:
            if self._pool is pool:
                self._pool = None
        _POOLS.discard(pool)
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the worker processes (idempotent; a later `get` starts them again)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            _POOLS.discard(pool)
            pool.shutdown(wait=True, cancel_futures=True)


_POOLS: set[ProcessPoolExecutor] = set()


@atexit.register
def _shutdown_pools() -> None:
    for pool in list(_POOLS):
        pool.shutdown(wait=True, cancel_futures=True)


_shared: OddsCache | None = None


def shared_odds_cache() -> OddsCache:
    """The process's one OddsCache (one worker pool however many services a process builds, as tests do)."""
    global _shared
    if _shared is None:
        _shared = OddsCache()
    return _shared
