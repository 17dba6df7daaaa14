"""What every grinder backend implements, and the session that drives one through a job.

A backend only scans: given a compiled plan and a range of key indices (the
enumeration of gpu_worker/keyspace.py), it reports the keys that score at least
`plan.min_score`. Everything else (the budget, stopping at a full match,
keeping the top K, the time limit, verification) lives here, once, so that the
python, native and cuda backends cannot disagree about it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from ..errors import VanikeysError
from ..formats import CURVE_ORDER, AddressFormat
from ..job import GrindHit, GrindJob, GrindResult
from ..keyspace import Candidate, draw_start_scalar, keys_per_point, secret_for

if TYPE_CHECKING:
    from ..patterns import Pattern

BackendName = Literal["auto", "python", "native", "cuda"]
BACKEND_NAMES: tuple[BackendName, ...] = ("auto", "python", "native", "cuda")


@dataclass(frozen=True)
class ScanPlan:
    """A job compiled for scanning: everything a backend needs, nothing it must not see.

    `split_point` is the person's public key Q as an affine (x, y) in split-key
    mode (the walk is Q + (start + i)·G, variant 0 only), else None.
    `min_score` may exceed `pattern.max_score`: then nothing can qualify and a
    scan returns no candidates.
    """

    format: AddressFormat
    pattern: Pattern
    start_scalar: int
    split_point: tuple[int, int] | None
    min_score: int
    max_candidates: int

    @property
    def split(self) -> bool:
        """True in split-key mode: the walk is offsets from the person's public key, variant 0 only."""
        return self.split_point is not None

    @property
    def keys_per_point(self) -> int:
        """Keys one curve point of the walk yields: 6 variants, or 1 in split-key mode."""
        return keys_per_point(self.split)

    @classmethod
    def from_job(cls, job: GrindJob, start_scalar: int) -> ScanPlan:
        """The plan for `job` walking from `start_scalar`, with min_score 0 and max_candidates the job's top K."""
        split = job.split_point
        return cls(
            format=job.address_format,
            pattern=job.compiled(),
            start_scalar=start_scalar,
            split_point=None if split is None else split.point(),
            min_score=0,
            max_candidates=job.top,
        )


@runtime_checkable
class Backend(Protocol):
    """What a grinder backend implements: `scan` a range of key indices, then `close`.

    `name` and `device` are what a result reports as its backend and device.
    """

    name: str  # "python" | "native" | "cuda"
    device: str  # "CPU x2 (python)", "NVIDIA H100 80GB HBM3", ...

    def scan(self, plan: ScanPlan, first_key: int, n_keys: int) -> list[Candidate]:
        """Every key index in [first_key, first_key + n_keys) scoring >= plan.min_score.

        When more than plan.max_candidates qualify, only the best of them, by
        (score desc, key index asc). Order of the returned list does not matter.
        """
        ...

    def close(self) -> None:
        """Release processes, device memory, ... The backend is not used afterwards."""
        ...


def best_candidates(found: list[Candidate], limit: int) -> list[Candidate]:
    """The `limit` best by (score desc, key index asc): the one ranking every backend uses."""
    return sorted(found, key=lambda c: c.rank)[:limit]


@dataclass(frozen=True)
class GrindProgress:
    """A session's progress as its callback sees it: keys covered of the budget, time, best score so far."""

    checked: int
    budget: int
    elapsed_s: float
    best_score: int | None
    max_score: int

    @property
    def keys_per_s(self) -> float:
        """Keys covered per second so far; 0.0 before any time has passed."""
        return self.checked / self.elapsed_s if self.elapsed_s > 0 else 0.0


ProgressCallback = Callable[[GrindProgress], None]


class GrindSession:
    """One job on one backend, advanced in bounded steps so async callers can await between them."""

    def __init__(self, job: GrindJob, backend: Backend, *, start_scalar: int | None = None) -> None:
        self.job = job
        self.backend = backend
        self.pattern = job.compiled()
        split = job.split_pubkey is not None
        points_needed = -(-job.budget // keys_per_point(split))
        if start_scalar is None:
            start_scalar = draw_start_scalar()
        elif not 1 <= start_scalar < CURVE_ORDER - points_needed:
            # Only tests pass a start; it must not let the walk wrap past n.
            raise ValueError("start_scalar must be in [1, n - points walked)")
        self._start_scalar = start_scalar
        self._plan = ScanPlan.from_job(job, start_scalar)
        # checked: keys of the budget covered, what a pull's result reports (a pull is `budget` keys).
        # hashed: the part of it a backend actually derived and scored. Once the top K are all full
        # matches nothing can beat them, and the rest of the budget is counted without being hashed.
        self.checked = 0
        self.hashed = 0
        self._best: list[Candidate] = []
        self._found_full = False
        self._timed_out = False
        self._started = time.monotonic()

    @property
    def done(self) -> bool:
        """True once the budget is covered, a full match has ended a stop="full" job, or the time limit has passed."""
        # stop="budget" checks the whole budget even once the top K are full matches: a pull is
        # `budget` keys on every backend, so a worker's count of keys per pull can be checked exactly
        # (bot/grinding/verification.py); only stop="full" or the time limit ends a session early.
        return self.checked >= self.job.budget or self._found_full or self._timed_out

    @property
    def found_full(self) -> bool:
        """True once a stop="full" job has found a key scoring the pattern's maximum."""
        return self._found_full

    @property
    def best(self) -> list[Candidate]:
        """A copy of the best candidates so far, best first (at most the job's top K)."""
        return list(self._best)

    @property
    def elapsed_s(self) -> float:
        """Seconds since the session was created (monotonic clock)."""
        return time.monotonic() - self._started

    def progress(self) -> GrindProgress:
        """A snapshot of the session now, for a progress callback."""
        return GrindProgress(
            checked=self.checked,
            budget=self.job.budget,
            elapsed_s=self.elapsed_s,
            best_score=self._best[0].score if self._best else None,
            max_score=self.pattern.max_score,
        )

    def _min_score(self) -> int:
        # Scanning goes up in key index, so once the top K is full a later key
        # must score strictly higher to displace anything (ties go to the lower index).
        if len(self._best) < self.job.top:
            return 0
        return self._best[-1].score + 1

    def step(self, max_keys: int) -> None:
        """Scan up to max_keys more keys (fewer at the end of the budget)."""
        if max_keys <= 0:
            raise ValueError("max_keys must be positive")
        if self.done:
            return
        first = self.checked
        n_keys = min(max_keys, self.job.budget - first)
        plan = replace(self._plan, min_score=self._min_score())
        full_score = self.pattern.max_score
        if plan.min_score > full_score:  # nothing can qualify: covered, not hashed
            self.checked = first + n_keys
            return
        found = self._checked_scan(plan, first, n_keys)
        if self.job.stop == "full":
            full_at = min((c.key_index for c in found if c.score == full_score), default=None)
            if full_at is not None:
                if len(found) >= plan.max_candidates and any(c.key_index > full_at for c in found):
                    # Keys past the match may have crowded better earlier ones out of the
                    # top K: look again at just the keys up to the match.
                    found = self._checked_scan(plan, first, full_at - first + 1)
                found = [c for c in found if c.key_index <= full_at]
                self._found_full = True
                n_keys = full_at - first + 1
        self._best = best_candidates(self._best + found, self.job.top)
        self.checked = first + n_keys
        self.hashed += n_keys
        if self.elapsed_s >= self.job.time_limit_s:
            self._timed_out = True

    def _checked_scan(self, plan: ScanPlan, first: int, n_keys: int) -> list[Candidate]:
        found = self.backend.scan(plan, first, n_keys)
        in_scan = all(
            first <= c.key_index < first + n_keys and plan.min_score <= c.score <= self.pattern.max_score for c in found
        )
        if not in_scan or len({c.key_index for c in found}) != len(found):
            raise VanikeysError(
                "verification_failed",
                f"the {self.backend.name} backend reported keys it was not asked for: use --backend python",
            )
        if len(found) > plan.max_candidates:
            found = best_candidates(found, plan.max_candidates)
        return found

    def result(self) -> GrindResult:
        """The result object of docs/design.md; every hit re-derived and re-scored first."""
        return GrindResult(
            checked=self.checked,
            elapsed_s=round(self.elapsed_s, 6),
            backend=self.backend.name,
            device=self.backend.device,
            results=[self._verified_hit(c) for c in self._best],
        )

    def _verified_hit(self, candidate: Candidate) -> GrindHit:
        from ..verify import derive_identifier, verify_hit

        split = self._plan.split
        secret = secret_for(self._start_scalar, candidate.key_index, split)
        hit = GrindHit(
            secret=f"{secret:064x}",
            secret_kind="offset" if split else "private_key",
            identifier=derive_identifier(self.job, secret),
            score=candidate.score,
            full=candidate.score == self.pattern.max_score,
        )
        verify_hit(self.job, hit)
        return hit


def get_backend(name: str = "auto") -> Backend:
    """A ready backend by name; "auto" takes cuda if CuPy sees a GPU, then native, then python.

    native and cuda live in gpu_worker.grinders.native / .cuda, imported only
    when asked for; each exposes `load_backend() -> Backend`, raising
    VanikeysError("backend_unavailable") when it cannot run here.
    """
    if name not in BACKEND_NAMES:
        raise VanikeysError("backend_unavailable", f"unknown backend {name!r}: use one of {', '.join(BACKEND_NAMES)}")
    if name == "auto":
        for candidate in ("cuda", "native"):
            try:
                return _load(candidate)
            except VanikeysError:
                continue
        return _load("python")
    return _load(name)


def _load(name: str) -> Backend:
    import importlib

    module_name = f"{__package__}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise VanikeysError(
                "backend_unavailable",
                f"the {name} backend needs {exc.name}, which is not installed: use --backend python",
            ) from None
        raise VanikeysError(
            "backend_unavailable", f"the {name} backend is not built in: use --backend python"
        ) from None
    backend: Backend = module.load_backend()
    return backend


FIRST_STEP_KEYS = 4096


def timed_step(session: GrindSession, size: int, *, target_s: float = 0.25, cap: int = 1 << 32) -> int:
    """Run one step of `size` keys; return the size that should take about target_s next.

    Callers loop `size = timed_step(session, size)` until session.done, which
    keeps progress reports (and awaits between steps) regular on any backend.
    Sizes are powers of two, so a steady pull asks for the same size step after step:
    the cuda backend queues the next step's launch before it reads this one's results.
    """
    began = time.monotonic()
    session.step(size)
    took = time.monotonic() - began
    grown = size * 4
    if took <= 0:
        return min(grown, cap)
    wanted = max(1024, min(cap, grown, int(size * target_s / took)))
    return 1 << (wanted.bit_length() - 1)


def grind(
    job: GrindJob,
    backend: Backend | str = "auto",
    *,
    progress: ProgressCallback | None = None,
    start_scalar: int | None = None,
) -> GrindResult:
    """Run a job to the end on one backend (start_scalar: tests only)."""
    owned = isinstance(backend, str)
    engine = get_backend(backend) if isinstance(backend, str) else backend
    try:
        session = GrindSession(job, engine, start_scalar=start_scalar)
        size = FIRST_STEP_KEYS
        while not session.done:
            size = timed_step(session, size)
            if progress is not None:
                progress(session.progress())
        return session.result()
    finally:
        if owned:
            engine.close()
