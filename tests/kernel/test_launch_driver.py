"""The one launch-plan driver (gpu_worker/grinders/launch.py) with a device that queues launches.

The cuda backend is KernelDriver over a device with two launch slots: each
request submits the next window before reading its own, a later request takes
a submitted launch whose window it asks for (with a minimum no lower), and a
launch nobody asks for still runs and moves the kept centres. None of that
needs a GPU to be checked: here the native build stands behind a device that
defers each launch until a result is read (in submission order, as a CUDA
stream runs them), and the answers must equal the python reference's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from gpu_worker.grinders.launch import KernelDriver
from gpu_worker.grinders.native import CAPACITY, STATE_ITEMS, NativeDevice
from gpu_worker.grinders.python import scan_range
from gpu_worker.job import GrindJob
from gpu_worker.kernel_plan import KernelCandidate, KernelPattern, ScanOut, ScanParams

from .test_native_vs_python import STARTS, _plan, assert_grinds_like_the_reference


@dataclass
class _Pending:
    slot: int
    params: ScanParams
    pattern: KernelPattern


class DeferredDevice:
    """The native build as a two-slot, in-order device: a launch runs only when a result needs it."""

    name = "deferred"
    slots = 2

    def __init__(self) -> None:
        self._native = NativeDevice(threads=2, capacity=CAPACITY, gpu_paths=False)
        self.description = "CPU x2 (deferred)"
        self.capacity = self._native.capacity
        self.group_size = self._native.group_size
        self._pending: list[_Pending] = []
        self._results: dict[int, tuple[ScanOut, list[KernelCandidate]]] = {}
        self.submitted = 0
        self.ran = 0
        self.read = 0

    def points_per_item(self, n_points: int) -> int:
        return self._native.points_per_item(n_points)

    def submit(self, slot: int, params: ScanParams, pattern: KernelPattern) -> None:
        self._run_through(slot)  # the slot's earlier launch finishes first, as cuda's event wait does
        copy = ScanParams.from_buffer_copy(params)
        self._pending.append(_Pending(slot, copy, pattern))
        self._results.pop(slot, None)
        self.submitted += 1

    def read_out(self, slot: int) -> ScanOut:
        self._run_through(slot)
        self.read += 1
        return self._results[slot][0]

    def read_candidates(self, slot: int, held: int) -> Sequence[KernelCandidate]:
        return self._results[slot][1][:held]

    def close(self) -> None:
        self._pending.clear()

    def _run_through(self, slot: int) -> None:
        while any(p.slot == slot for p in self._pending):
            launch = self._pending.pop(0)
            self._native.submit(0, launch.params, launch.pattern)
            out = ScanOut.from_buffer_copy(self._native.read_out(0))
            held = min(int(out.count), self.capacity)
            candidates = [KernelCandidate.from_buffer_copy(c) for c in self._native.read_candidates(0, held)]
            self._results[launch.slot] = (out, candidates)
            self.ran += 1


def _driver() -> tuple[KernelDriver, DeferredDevice]:
    device = DeferredDevice()
    return KernelDriver(device, STATE_ITEMS), device


def test_a_pulls_steps_are_answered_by_the_launch_queued_ahead() -> None:
    driver, device = _driver()
    plan = _plan("btc", "^Lo v", "insensitive", False, STARTS[2], top=30)
    for step in range(4):
        assert driver.scan(plan, 900 * step, 900) == scan_range(plan, 900 * step, 900), step
    # One launch per step plus the one queued after the last: each step after the first took its launch.
    assert (device.submitted, device.read) == (5, 4)


def test_a_higher_minimum_takes_the_queued_superset() -> None:
    driver, device = _driver()
    plan = _plan("trx", "ab", "insensitive", False, STARTS[1], top=100)
    assert driver.scan(plan, 0, 1200) == scan_range(plan, 0, 1200)
    raised = replace(plan, min_score=2)
    assert driver.scan(raised, 1200, 1200) == scan_range(raised, 1200, 1200)
    assert device.submitted == 3  # the raised request was answered by the launch queued with minimum 0
    lowered = replace(plan, min_score=1)  # the launch queued with minimum 2 cannot answer minimum 1
    assert driver.scan(lowered, 2400, 1200) == scan_range(lowered, 2400, 1200)
    assert device.submitted == 5


def test_stale_queued_launches_still_move_the_kept_centres() -> None:
    """Jumps back and forth: each queued window goes unread, yet ran (and moved the centres) before the next."""
    driver, device = _driver()
    plan = _plan("eth", "^be e", "insensitive", False, STARTS[3], top=30)
    for first in (0, 5000, 601, 601, 3000):
        assert driver.scan(plan, first, 700) == scan_range(plan, first, 700), first
    assert device.ran > device.read  # the unread launches ran
    split = _plan("did", "^Mx y", "insensitive", False, STARTS[2], split=True)
    for first in (0, 700, 50):
        assert driver.scan(split, first, 700) == scan_range(split, first, 700)


def test_a_whole_job_through_the_queueing_driver() -> None:
    driver, _ = _driver()
    job = GrindJob.parse({"v": 1, "format": "btc", "pattern": "^Ab", "case": "insensitive", "budget": 12_000, "top": 3})
    assert_grinds_like_the_reference(driver, job)


def test_native_backend_is_the_driver_over_its_device() -> None:
    from gpu_worker.grinders.native import NativeBackend

    backend = NativeBackend(threads=1)
    assert isinstance(backend, KernelDriver) and backend.kernel.slots == 1
    assert (backend.name, backend.device, backend.capacity) == ("native", "CPU x1 (native)", CAPACITY)
