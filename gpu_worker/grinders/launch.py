"""One launch-plan driver for every build of the kernel (native, cuda).

The builds of gpu_worker/kernels/grind.cu differ only in how a launch reaches
the code and how its results come back: that part is a `KernelDevice`
(native.py: a shared library called through ctypes; cuda.py: a cubin on a CUDA
stream). The rest is `KernelDriver`, once: the launch window and its walk
safety, the launch parameters, the item centres kept from one launch to the
next (`WalkState`), the exact candidate contract (`scan_plan`), and, on a
device with more than one launch slot, the next window queued before this
one's results are read.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..kernel_plan import (
    ERROR_DEGENERATE,
    KernelCandidate,
    KernelPattern,
    LaunchResult,
    ScanOut,
    ScanParams,
    ScanWindow,
    WalkState,
    launch_params,
    scan_plan,
    walk_is_safe,
)
from ..keyspace import Candidate
from .base import ScanPlan


class KernelDevice(Protocol):
    """Where a build of the kernel runs: launch, wait, copy back.

    A device has `slots` launch slots. With one, `submit` may run the launch to
    the end before it returns; with more, launches run in the order submitted
    and the driver queues the next window into a free slot before reading a
    slot's results. A slot's results are read at most once, after its `submit`;
    a slot may be submitted again without its results having been read.
    """

    name: str  # the backend's name: "native" | "cuda"
    description: str  # Backend.device: "CPU x2 (native)", "NVIDIA H100 80GB HBM3", ...
    capacity: int  # candidate slots per launch
    group_size: int  # points per batch inversion
    slots: int

    def points_per_item(self, n_points: int) -> int:
        """Points per work item for a launch of n_points: a multiple of group_size."""
        ...

    def submit(self, slot: int, params: ScanParams, pattern: KernelPattern) -> None:
        """Start one launch in `slot` (once any earlier use of the slot has finished)."""
        ...

    def read_out(self, slot: int) -> ScanOut:
        """Wait for the slot's launch and return its count, error bits and histogram."""
        ...

    def read_candidates(self, slot: int, held: int) -> Sequence[KernelCandidate]:
        """The slot's first `held` candidates (held <= capacity), after read_out."""
        ...

    def close(self) -> None:
        """Release the device's buffers; nothing is submitted afterwards."""
        ...


@dataclass(frozen=True)
class _Queued:
    """A submitted launch: what it scans, so a later request can take its results."""

    walk: tuple[object, ...]  # the plan without its minimum score
    first_key: int
    n_keys: int
    min_score: int
    window: ScanWindow


class KernelDriver:
    """A Backend for any build of the kernel: the launch plan driven once over a KernelDevice."""

    def __init__(self, kernel: KernelDevice, state_items: int) -> None:
        self.kernel = kernel
        self.name = kernel.name
        self.device = kernel.description
        self.capacity = kernel.capacity
        self._walk = WalkState(state_items)
        self._queued: list[_Queued | None] = [None] * kernel.slots
        self._next_slot = 0
        self._lock = threading.Lock()  # one scan at a time owns the slots and the kept centres

    def scan(self, plan: ScanPlan, first_key: int, n_keys: int) -> list[Candidate]:
        """Backend.scan: every key in the range scoring >= plan.min_score (the best max_candidates)."""
        with self._lock:
            return scan_plan(plan, first_key, n_keys, self._launch, self.capacity)

    def close(self) -> None:
        """Backend.close: the device's buffers go; the driver is not used afterwards."""
        self._queued = [None] * len(self._queued)
        self.kernel.close()

    def _launch(
        self, plan: ScanPlan, pattern: KernelPattern, first_key: int, n_keys: int, min_score: int
    ) -> LaunchResult:
        walk = (plan.format.id, plan.pattern, plan.start_scalar, plan.split_point, plan.max_candidates)
        slot = next((s for s, q in enumerate(self._queued) if _takes(q, walk, first_key, n_keys, min_score)), None)
        if slot is None:
            slot = self._submit(plan, pattern, walk, first_key, n_keys, min_score)
            if slot is None:
                return LaunchResult([], 0, (), degenerate=True)
        for other in range(len(self._queued)):  # anything else submitted is stale now
            if other != slot:
                self._queued[other] = None
        if len(self._queued) > 1:
            # A pull's next step (step sizes settle on a power of two) goes in before this one is read.
            self._submit(plan, pattern, walk, first_key + n_keys, n_keys, min_score, avoid=slot)
        result = self._collect(slot, min_score)
        if result.degenerate:  # kept centres may be stale: a launch queued behind it resumed from them
            self._walk.forget()
            self._queued = [None] * len(self._queued)
        return result

    def _submit(
        self,
        plan: ScanPlan,
        pattern: KernelPattern,
        walk: tuple[object, ...],
        first_key: int,
        n_keys: int,
        min_score: int,
        avoid: int | None = None,
    ) -> int | None:
        """Submit one launch into a slot (returned), or None when its walk is not safe."""
        window = ScanWindow.of(first_key, n_keys, plan.keys_per_point)
        points_per_item = self.kernel.points_per_item(window.n_points)
        if not walk_is_safe(plan.start_scalar, window, points_per_item):
            return None
        slot = self._next_slot if self._next_slot != avoid else (self._next_slot + 1) % len(self._queued)
        self._next_slot = (slot + 1) % len(self._queued)
        params = launch_params(
            plan.format,
            plan.start_scalar,
            plan.split_point,
            window,
            group_size=self.kernel.group_size,
            points_per_item=points_per_item,
            min_score=min_score,
            max_candidates=plan.max_candidates,
            capacity=self.capacity,
        )
        self._walk.prepare(params, plan.start_scalar, plan.split_point, window)
        self._queued[slot] = None
        try:
            self.kernel.submit(slot, params, pattern)
        except BaseException:
            self._walk.forget()  # the launch may not have run: its centres were not kept
            raise
        self._queued[slot] = _Queued(walk, first_key, n_keys, min_score, window)
        return slot

    def _collect(self, slot: int, min_score: int) -> LaunchResult:
        """A submitted launch's results, for a request whose minimum is at least the launch's."""
        queued, self._queued[slot] = self._queued[slot], None
        assert queued is not None
        out = self.kernel.read_out(slot)
        degenerate = bool(out.error & ERROR_DEGENERATE)
        if out.count > self.capacity or degenerate:
            return LaunchResult([], out.count, tuple(out.hist), degenerate=degenerate)
        candidates = self.kernel.read_candidates(slot, int(out.count))
        # A launch submitted with a lower minimum reports a superset: keep what this request asks.
        found = [Candidate(queued.window.key_index(c.key), c.score) for c in candidates if c.score >= min_score]
        histogram = tuple(n if score >= min_score else 0 for score, n in enumerate(out.hist))
        return LaunchResult(found, len(found), histogram, degenerate=False)


def _takes(queued: _Queued | None, walk: tuple[object, ...], first_key: int, n_keys: int, min_score: int) -> bool:
    """Does a submitted launch answer this request? Same walk and window, a minimum no higher."""
    return (
        queued is not None
        and queued.walk == walk
        and queued.first_key == first_key
        and queued.n_keys == n_keys
        and queued.min_score <= min_score
    )
