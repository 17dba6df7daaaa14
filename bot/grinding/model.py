"""The values the grinding client hands up to the service: progress, order state, outcomes, failures."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

from gpu_worker.job import GrindHit, GrindResult

FailureCode = Literal[
    "rejected",  # the worker refused the job as invalid: resubmitting the same job cannot help
    "failed",  # the worker or RunPod reported FAILED
    "timed_out",  # RunPod's TIMED_OUT, or the job outlived its ttl while we waited
    "cancelled",  # cancelled by someone other than this client's caller
    "lost",  # the backend no longer knows the job (result expired, local worker gone with a restart)
    "worker_fault",  # the worker returned garbage or a key that does not verify
    "unavailable",  # the backend could not be reached after retries
    "order_failed",  # an order gave up: too many failed chunks, or its key budget ran out
]

# What people are told a failure was (bot/grinding/failures.py has each kind's sentence).
FailureKind = Literal[
    "no_match",  # an order checked its whole key budget without an exact match
    "refused",  # the grinder refused the job as invalid
    "grinder_failed",  # the grinder (or enough of an order's chunks) failed
    "timed_out",  # the job ran past its time limit
    "cancelled",  # the job was cancelled on the provider
    "lost",  # the provider no longer knew the job
    "unavailable",  # no grinder could be reached
    "not_verified",  # the grinder's answer did not check out (a key that does not verify, or a replay)
]


class GrindingError(Exception):
    """A job or order that did not produce a verified result. The message is for operators and the log: people
    are told the failure's kind (bot/grinding/failures.py), which `kind` names when the code alone does not."""

    def __init__(self, code: FailureCode, message: str, *, kind: FailureKind | None = None) -> None:
        super().__init__(message)
        self.code: FailureCode = code
        self.message = message
        self.kind = kind

    @property
    def retryable(self) -> bool:
        """Whether another provider may succeed where this one failed (all but "rejected")."""
        return self.code != "rejected"

    def __repr__(self) -> str:
        return f"GrindingError({self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class GrindProgress:
    """One job's progress as a worker reports it (no secrets: counts and a score only)."""

    checked: int
    rate: float  # keys per second
    best_score: int | None = None
    elapsed_s: float | None = None  # the worker's seconds since the job started, where it reports them


@dataclass(frozen=True)
class Billed:
    """What a provider charges for one job: its own figure where it reports one, else our estimate."""

    gpu_s: float  # seconds billed for the job's run (RunPod's executionTime, the box's own ledger)
    estimated: bool = False  # True: the provider reported nothing; gpu_s is the bot's upper-bound estimate


@dataclass(frozen=True)
class RunningChunk:
    """A chunk job in flight: its backend job id and what it was asked to do (to verify its answer)."""

    job_id: str
    budget: int
    time_limit_s: float


@dataclass(frozen=True)
class OrderState:
    """What a restarted bot needs to carry an order on: persist it (to_json) whenever progress is reported."""

    checked: int = 0  # keys checked by chunks that finished
    elapsed_s: float = 0.0  # worker seconds of finished chunks
    chunks_done: int = 0
    failures: int = 0
    running: tuple[RunningChunk, ...] = ()

    def to_json(self) -> str:
        """The state as JSON text, for the job row."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> OrderState:
        """The state `to_json` wrote; KeyError or ValueError for text it did not write."""
        data = json.loads(text)
        return cls(
            checked=int(data["checked"]),
            elapsed_s=float(data["elapsed_s"]),
            chunks_done=int(data["chunks_done"]),
            failures=int(data["failures"]),
            running=tuple(
                RunningChunk(job_id=str(c["job_id"]), budget=int(c["budget"]), time_limit_s=float(c["time_limit_s"]))
                for c in data["running"]
            ),
        )


@dataclass(frozen=True)
class OrderProgress:
    """An order's progress as the front ends show it: keys checked, rate, expected keys, time to go."""

    checked: int  # finished chunks plus what running chunks last reported
    rate: float  # keys per second across all running chunks
    expected_keys: float
    eta_s: float | None  # time to the expected number of keys at the current rate; None before a rate is known
    chunks_running: int
    state: OrderState = field(repr=False)


@dataclass(frozen=True)
class OrderOutcome:
    """A found order: the verified winning chunk result and the hit to deliver."""

    result: GrindResult
    hit: GrindHit
    checked: int  # keys checked by every chunk of the order
    chunks: int

    def __repr__(self) -> str:
        return f"OrderOutcome(identifier={self.hit.identifier!r}, checked={self.checked}, chunks={self.chunks})"


@dataclass(frozen=True)
class OrderPolicy:
    """How orders are split into chunk jobs and when an order gives up (and is refunded)."""

    chunk_seconds: float = 60.0  # GPU time one chunk aims for
    initial_rate: float = 2e9  # keys/s assumed until a chunk reports its own
    max_parallel: int = 4
    max_failures: int = 3  # failed or timed-out chunks an order survives; one more and it fails
    max_expected_multiple: float = 20.0  # give up (and refund) after this many times the expected keys: P(miss) = e^-20
    max_lost: int = 50  # chunks that vanished (expired, cancelled by others) an order grinds again before it gives up
    max_outage_s: float = 1800.0  # how long an order waits out a provider it cannot reach before it refunds

    def __post_init__(self) -> None:
        if self.chunk_seconds <= 0 or self.initial_rate <= 0 or self.max_parallel < 1 or self.max_failures < 0:
            raise ValueError("order policy values must be positive")


ProgressCallback = Callable[[GrindProgress], Awaitable[None] | None]
OrderProgressCallback = Callable[[OrderProgress], Awaitable[None] | None]
