"""The reference backend: coincurve, the formats module and the one scorer.

Nothing clever, so that it can be read and trusted, but no needless work
either: it walks consecutive points by point addition (one coincurve combine
per point, no scalar multiplication per key), takes the six keys of each point
from its affine x and y with Python ints (gpu_worker/keyspace.py), encodes
each with gpu_worker.formats and scores it with gpu_worker.patterns.score.
Every other backend must agree with it key for key. Large scans are split
across one process pool per backend instance.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import weakref
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, nullcontext

import coincurve

from ..formats import CURVE_ORDER, FIELD_PRIME
from ..helper_processes import exit_with, helper_context
from ..keyspace import BETA, Candidate
from ..patterns import score
from .base import ScanPlan, best_candidates

BETA_SQUARED = BETA * BETA % FIELD_PRIME
GENERATOR = coincurve.PublicKey.from_secret((1).to_bytes(32, "big"))

# Below this many keys a piece of a scan is not worth a pool round trip (a few
# hundredths of a second of work against about a millisecond of overhead).
MIN_KEYS_PER_PROCESS = 2000


def start_point(plan: ScanPlan, point_index: int) -> coincurve.PublicKey:
    """(start + j)·G, or Q + (start + j)·G in split-key mode: the one scalar multiplication per scan."""
    scalar = (plan.start_scalar + point_index) % CURVE_ORDER
    walked = coincurve.PublicKey.from_secret(scalar.to_bytes(32, "big"))
    if plan.split_point is None:
        return walked
    qx, qy = plan.split_point
    split = coincurve.PublicKey(b"\x04" + qx.to_bytes(32, "big") + qy.to_bytes(32, "big"))
    return coincurve.PublicKey.combine_keys([split, walked])


def scan_range(plan: ScanPlan, first_key: int, n_keys: int) -> list[Candidate]:
    """The Backend.scan contract, in this process."""
    pattern = plan.pattern
    threshold = plan.min_score
    limit = plan.max_candidates
    if n_keys <= 0 or threshold > pattern.max_score:
        return []
    per_point = plan.keys_per_point
    split = plan.split
    end = first_key + n_keys
    first_point, last_point = first_key // per_point, (end - 1) // per_point
    prefix_len = len(plan.format.prefix)
    identifier_from_point = plan.format.identifier_from_point
    p = FIELD_PRIME
    found: list[Candidate] = []
    point = start_point(plan, first_point)
    for j in range(first_point, last_point + 1):
        x, y = point.point()
        if split:
            variants: tuple[tuple[int, int], ...] = ((x, y),)
        else:
            neg_y = p - y
            beta_x = x * BETA % p
            beta2_x = x * BETA_SQUARED % p
            variants = ((x, y), (x, neg_y), (beta_x, y), (beta_x, neg_y), (beta2_x, y), (beta2_x, neg_y))
        base = j * per_point
        for v in range(max(first_key, base) - base, min(end, base + per_point) - base):
            key_score = score(pattern, identifier_from_point(*variants[v])[prefix_len:])
            if key_score >= threshold:
                found.append(Candidate(base + v, key_score))
                if len(found) >= 2 * limit + 64:
                    found = best_candidates(found, limit)
                    # Keys come in rising index order: a later key must now beat the K-th best outright.
                    threshold = found[-1].score + 1
        if j != last_point:
            point = coincurve.PublicKey.combine_keys([point, GENERATOR])
    return best_candidates(found, limit)


def _worker_setup(parent_pid: int) -> None:
    # Ctrl-C is the parent's to handle (it cancels the scan and shuts the pool down). Ignore it first, then
    # unblock: one pressed while this process started (held back by the mask it started with) is discarded.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    exit_with(parent_pid)  # a parent killed outright cannot shut its pool down: don't grind on for nobody


@contextmanager
def _sigint_held_while_workers_start() -> Iterator[None]:
    """Hold Ctrl-C back (blocked, not ignored) while a fresh pool starts its workers; it arrives once they have.

    Workers start with Ctrl-C blocked (the fork server's mask, or the caller's where they are spawned:
    gpu_worker/helper_processes.py), so a Ctrl-C pressed while they start stays pending in them until
    `_worker_setup` ignores it (which discards it) and unblocks: they print nothing. The caller
    gets the same Ctrl-C as soon as the window closes. (Ignoring it here instead lost it: a slow start under
    load swallowed the Ctrl-C and the grind went on.) Only the main thread takes Ctrl-C; elsewhere (the bot's
    worker threads) there is no terminal to press it in.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class PythonBackend:
    """The pure-Python backend: scans on this process, or split across a process pool for large ranges.

    The pool is made on the first scan large enough to split, shared by threads, and shut down by `close`
    (or when the backend is collected); a scan below MIN_KEYS_PER_PROCESS per process runs in the caller.
    """

    name = "python"

    def __init__(self, processes: int | None = None) -> None:
        self.processes = max(1, processes if processes is not None else (os.cpu_count() or 1))
        self.device = f"CPU x{self.processes} (python)"
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize[[ProcessPoolExecutor], PythonBackend] | None = None

    def scan(self, plan: ScanPlan, first_key: int, n_keys: int) -> list[Candidate]:
        """Backend.scan: the qualifying keys of [first_key, first_key + n_keys), at most plan.max_candidates, best
        first.

        Blocks until every piece is done; if one raises, the pieces not started are cancelled and it re-raises.
        """
        pieces = min(self.processes, n_keys // MIN_KEYS_PER_PROCESS)
        if pieces <= 1:
            return scan_range(plan, first_key, n_keys)
        pool, fresh = self._ensure_pool()
        futures: list[Future[list[Candidate]]] = []
        # A fresh pool starts its workers on these submits (only then).
        with _sigint_held_while_workers_start() if fresh else nullcontext():
            for first, count in split_range(first_key, n_keys, pieces, plan.keys_per_point):
                futures.append(pool.submit(scan_range, plan, first, count))
        try:
            found = [c for future in futures for c in future.result()]
        finally:
            for future in futures:
                future.cancel()
        return best_candidates(found, plan.max_candidates)

    def _ensure_pool(self) -> tuple[ProcessPoolExecutor, bool]:
        """The pool, and whether it was just made (its workers start on the first submits)."""
        with self._lock:  # sessions may share one backend from several threads
            if self._pool is not None:
                return self._pool, False
            self._pool = ProcessPoolExecutor(
                max_workers=self.processes,
                mp_context=helper_context(__name__),
                initializer=_worker_setup,
                initargs=(os.getpid(),),
            )
            self._finalizer = weakref.finalize(self, _shut_down, self._pool)
            return self._pool, True

    def close(self) -> None:
        """Shut the process pool down (if one was made): queued pieces are cancelled, workers finish or are
        terminated."""
        with self._lock:
            finalizer, self._pool, self._finalizer = self._finalizer, None, None
        if finalizer is not None:
            finalizer()

    def __enter__(self) -> PythonBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _shut_down(pool: ProcessPoolExecutor, grace_s: float = 5.0) -> None:
    """Cancel what has not started, let running pieces finish, and make sure every worker is gone."""
    workers = list((pool._processes or {}).values())  # the executor has no public handle on them
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        worker.join(grace_s)
        if worker.is_alive():
            worker.terminate()
            worker.join()


def split_range(first_key: int, n_keys: int, pieces: int, per_point: int) -> list[tuple[int, int]]:
    """Cut [first_key, first_key + n_keys) into about equal runs, cut at point boundaries."""
    end = first_key + n_keys
    cuts = [first_key]
    for i in range(1, pieces):
        cut = (first_key + n_keys * i // pieces) // per_point * per_point
        if cuts[-1] < cut < end:
            cuts.append(cut)
    cuts.append(end)
    return [(a, b - a) for a, b in itertools.pairwise(cuts)]


def load_backend() -> PythonBackend:
    """A PythonBackend with a process per CPU core (VANIKEYS_CPU_CORES, else every core); always available."""
    from ..settings import worker_setting

    cores = worker_setting("cpu_cores")
    return PythonBackend(cores if isinstance(cores, int) else None)
