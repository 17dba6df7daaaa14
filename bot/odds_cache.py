"""Odds for the bot without stalling it: cached, computed once per pattern, in capped worker processes.

The odds model is CPU work under the GIL (bounded: docs/odds.md gives the
figures). Computed on a thread of the bot's process, a burst of uncached
patterns from one user takes the interpreter away from everyone else's
commands. So an uncached pattern is computed in a small set of worker
processes (``VANIKEYS_ODDS_WORKERS``, default 1; 0 computes on a thread of the
bot's process instead), the result is kept in the process's bounded LRU
(`gpu_worker.odds.remember_odds`, so the job runner's own `odds()` calls hit
it too), and concurrent requests for the same pattern share one computation.

Each worker computes one pattern at a time under two caps: a wall-clock time
(``VANIKEYS_ODDS_TIME_CAP_S``) after which the bot kills it, and an address
space limit (``VANIKEYS_ODDS_MEMORY_MB``, RLIMIT_AS) inside it. A pattern that
trips either gets a one-line refusal (ServiceError "too_hard") and the worker
is replaced, so no pattern holds a worker, and the answers queued behind it,
for longer than the time cap. A worker that cannot be started makes odds fall
back to a thread rather than failing the command.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import logging
import os
import queue
import resource
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Literal

from bot.answers import ServiceError
from gpu_worker.formats import FORMATS
from gpu_worker.helper_processes import exit_with, helper_context
from gpu_worker.i18n import _, number
from gpu_worker.odds import Odds, cached_odds, odds, remember_odds
from gpu_worker.patterns import Pattern, parse_pattern

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 1
MAX_WORKERS = 8
# The model's worst case is 0.3 s of CPU (docs/odds.md); ten times that in wall-clock time leaves room for a
# loaded machine and still frees the worker within seconds.
DEFAULT_TIME_CAP_S = 3
# A warm worker's address space peaks at about 180 MB (numpy and the body tables included) and the model
# stays under 256 MB of RSS: 768 MB of address space is three times what it needs.
DEFAULT_MEMORY_MB = 768

# What a worker runs: (format_id, text, case, fuzzy) -> Odds. A module-level function, so a worker process
# can import it (tests pass their own).
Compute = Callable[[str, str, str, bool], Odds]


@dataclass(frozen=True)
class OddsCaps:
    """How long one pattern may hold a worker, and how much address space a worker may map."""

    time_s: float = DEFAULT_TIME_CAP_S
    memory_mb: int = DEFAULT_MEMORY_MB


def odds_workers() -> int:
    """How many odds worker processes to run (0: compute on a thread of this process)."""
    from bot.settings import ConfigError, load_settings

    try:
        return load_settings().odds_workers
    except ConfigError as exc:
        log.warning("%s; using %d", exc, DEFAULT_WORKERS)
        return DEFAULT_WORKERS


def odds_caps() -> OddsCaps:
    """The workers' caps from the settings (a bad value: the defaults, with a warning)."""
    from bot.settings import ConfigError, load_settings

    try:
        one = load_settings()
    except ConfigError as exc:
        log.warning("%s; using the default odds caps", exc)
        return OddsCaps()
    return OddsCaps(time_s=one.odds_time_cap_s, memory_mb=one.odds_memory_mb)


def compute_odds(format_id: str, text: str, case: str, fuzzy: bool) -> Odds:
    """In a worker process: parse the pattern again (cheap) and compute its odds."""
    return odds(parse_pattern(format_id, text, case=case, fuzzy=fuzzy))  # type: ignore[arg-type]


def _refusal(pattern: Pattern, why: Literal["error", "time", "memory", "died"], caps: OddsCaps) -> ServiceError:
    shown = pattern.text.strip()
    if why == "time":
        message = _(
            "the odds of '{pattern}' take longer than {seconds} s to work out: use fewer '?' or fewer terms",
            pattern=shown,
            seconds=number(caps.time_s),
        )
    elif why == "memory":
        message = _(
            "the odds of '{pattern}' need more than {megabytes} MB to work out: use fewer '?' or fewer terms",
            pattern=shown,
            megabytes=number(caps.memory_mb),
        )
    elif why == "died":
        message = _(
            "the odds of '{pattern}' could not be worked out (the odds worker died twice): "
            "use fewer '?' or fewer terms",
            pattern=shown,
        )
    else:
        message = _("the odds of '{pattern}' could not be worked out: use fewer '?' or fewer terms", pattern=shown)
    return ServiceError("too_hard", message)


def _serve(connection: Connection, parent: int, memory_mb: int, compute: Compute) -> None:
    """A worker's life: let go of the bot's terminal, die with the bot, cap its memory, answer one pattern at a time.

    A worker inherits the bot's stdin, stdout and stderr: if the bot died
    abruptly (a crash, SIGKILL) a worker still holding them would keep a pipe to a
    supervisor open, and would wait forever for a request nobody sends.
    """
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    exit_with(parent)
    for format_id in FORMATS:  # the body tables, before the first request needs them
        odds(parse_pattern(format_id, "ab"))
    limit = memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    connection.send(("ready", None))
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        try:
            connection.send(("ok", compute(*request)))
        except MemoryError:
            connection.send(("memory", None))
            return  # what failed to allocate may have left the heap fragmented: a fresh worker replaces this one
        except Exception as exc:  # the bot shows it as a one-line refusal, the worker goes on
            connection.send(("error", f"{type(exc).__name__}: {exc}"))


START_TIMEOUT_S = 120  # a cold start imports numpy and builds the body tables: seconds on a loaded machine
WAIT_POLL_S = 0.1  # how often a request waiting for a busy worker looks for a freed slot
MAX_WAITING = 64  # uncached patterns in flight at once (each waits on a thread; more queue behind them)


class _Worker:
    """One worker process and the pipe to it; `call` blocks (run it on a thread)."""

    def __init__(self, caps: OddsCaps, compute: Compute) -> None:
        context = helper_context(__name__)
        self.connection, theirs = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_serve, args=(theirs, os.getpid(), caps.memory_mb, compute), daemon=True, name="vanikeys-odds"
        )
        self.process.start()
        theirs.close()
        if not self.connection.poll(START_TIMEOUT_S):
            self.kill()
            raise OSError("the odds worker did not start")
        try:
            self.connection.recv()
        except EOFError:
            self.kill()
            raise OSError("the odds worker died while starting") from None

    def call(self, request: tuple[str, str, str, bool], time_s: float) -> tuple[str, object]:
        """("ok", Odds), ("error", text), ("memory", None), ("time", None) or ("died", None)."""
        try:
            self.connection.send(request)
            if not self.connection.poll(time_s):
                return ("time", None)
            return self.connection.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError):
            return ("died", None)

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.connection.close()


class OddsCache:
    """`await get(pattern)`: the pattern's odds, computed at most once at a time, never on the event loop."""

    def __init__(
        self, workers: int | None = None, caps: OddsCaps | None = None, compute: Compute = compute_odds
    ) -> None:
        self.workers = odds_workers() if workers is None else workers
        self.caps = odds_caps() if caps is None else caps
        self._compute_fn = compute
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()  # the warmest worker first
        self._live: set[_Worker] = set()
        self._slots = 0  # workers running or starting
        self._lock = threading.Lock()
        self._pending: dict[Pattern, asyncio.Future[Odds]] = {}
        self.computed = 0  # uncached patterns computed (for tests and the benchmark)
        self.replaced = 0  # workers killed for a cap (or found dead) and replaced
        self._waiters = ThreadPoolExecutor(MAX_WAITING, thread_name_prefix="odds-wait")

    async def get(self, pattern: Pattern) -> Odds:
        """The pattern's odds; ServiceError("too_hard") if computing them trips a worker's cap."""
        known = cached_odds(pattern)
        if known is not None:
            return known
        pending = self._pending.get(pattern)
        if pending is None:
            pending = asyncio.ensure_future(self._compute(pattern))
            self._pending[pattern] = pending
            pending.add_done_callback(lambda _: self._pending.pop(pattern, None))
        return await asyncio.shield(pending)

    def worker_pids(self) -> list[int]:
        """The live worker processes (for tests and operators)."""
        with self._lock:
            return [w.process.pid for w in self._live if w.process.pid is not None]

    async def _compute(self, pattern: Pattern) -> Odds:
        self.computed += 1
        if self.workers <= 0:
            result = await asyncio.to_thread(odds, pattern)
        else:
            # A thread of its own per request, not the loop's default executor: a request waiting for a busy
            # worker must not hold a thread that the rest of the bot's to_thread calls need.
            # in this task's context: a refusal is written in the language of the person who asked
            in_context = contextvars.copy_context().run
            result = await asyncio.get_running_loop().run_in_executor(
                self._waiters, in_context, self._in_worker, pattern
            )
        remember_odds(pattern, result)
        return result

    def _in_worker(self, pattern: Pattern) -> Odds:
        """On a thread: take a worker (waiting for one if all are busy), compute, give it back or replace it."""
        case = "insensitive" if pattern.case_insensitive else "exact"
        for _attempt in range(2):  # a worker killed from outside gets one retry on a fresh one
            worker = self._take()
            if worker is None:
                return odds(pattern)
            outcome, value = worker.call((pattern.format_id, pattern.text, case, pattern.fuzzy), self.caps.time_s)
            if outcome == "ok":
                self._idle.put(worker)
                return value  # type: ignore[return-value]
            if outcome == "error":
                self._idle.put(worker)
                log.warning("odds of %r failed in the worker: %s", pattern.text, value)
                raise _refusal(pattern, "error", self.caps)
            self._replace(worker, outcome)
            if outcome == "time":
                raise _refusal(pattern, "time", self.caps)
            if outcome == "memory":
                raise _refusal(pattern, "memory", self.caps)
        raise _refusal(pattern, "died", self.caps)

    def _take(self) -> _Worker | None:
        """An idle worker, a new one if fewer than `workers` run, else the next one freed (within the time cap)."""
        while True:
            with self._lock:
                try:
                    return self._idle.get_nowait()
                except queue.Empty:
                    pass
                start = self._slots < self.workers
                if start:
                    self._slots += 1
            if start:
                try:
                    worker = _Worker(self.caps, self._compute_fn)
                except OSError as exc:
                    with self._lock:
                        self._slots -= 1
                    log.warning("could not start an odds worker process (%s): odds run on a thread", exc)
                    return None
                with self._lock:
                    self._live.add(worker)
                _WORKERS.add(worker)
                return worker
            try:
                return self._idle.get(timeout=WAIT_POLL_S)
            except queue.Empty:
                continue  # a worker may have been replaced meanwhile: its slot is free to start

    def _replace(self, worker: _Worker, why: str) -> None:
        """Kill a worker that tripped a cap (or died); its slot is free for the next request to start a fresh one."""
        reason = {
            "time": f"over its {self.caps.time_s:g} s time cap",
            "memory": f"over its {self.caps.memory_mb} MB cap",
        }
        log.warning("odds worker %s %s: replacing it", worker.process.pid, reason.get(why, "died"))
        self.replaced += 1
        worker.kill()
        _WORKERS.discard(worker)
        with self._lock:
            if worker in self._live:  # not if close() got there first
                self._live.discard(worker)
                self._slots -= 1

    def close(self) -> None:
        """Stop the worker processes (idempotent; a later `get` starts them again)."""
        with self._lock:
            workers, self._live = list(self._live), set()
            self._slots = 0
            while not self._idle.empty():
                self._idle.get_nowait()
        for worker in workers:
            _WORKERS.discard(worker)
            worker.kill()


_WORKERS: set[_Worker] = set()


@atexit.register
def _stop_workers() -> None:
    for worker in list(_WORKERS):
        worker.kill()


_shared: OddsCache | None = None


def shared_odds_cache() -> OddsCache:
    """The process's one OddsCache (one set of workers however many services a process builds, as tests do)."""
    global _shared
    if _shared is None:
        _shared = OddsCache()
    return _shared
