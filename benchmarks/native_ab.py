"""A/B of builds of the native kernel in one process: keys per CPU second, scans alternated.

    /work/venv/bin/python benchmarks/native_ab.py A.so,B.so[,C.so...] PATTERN CASE FORMAT ROUNDS [THREADS]

Each library (a build of gpu_worker/kernels/native_driver.cpp: the cached one under
$VANIKEYS_CACHE, or one compiled by hand from a modified copy with native.compile_command's
flags) is loaded into the same process and driven by its own NativeBackend. Every round
scans the next 6 x 8,192 x 8 x THREADS keys of an order-mode plan (the minimum score is the
pattern's length) on each build, the order reversed every other round (A B, B A, ...), so
a neighbour's load falls on both alike. Printed: each build's median and best rate and their
ratios to the first build's. On a shared machine the spread between scans is several
percent: read the ratios of medians and of best-ofs together.
"""

from __future__ import annotations

import ctypes
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpu_worker.grinders import native
from gpu_worker.grinders.base import ScanPlan
from gpu_worker.job import GrindJob


def _backend(path: str, threads: int) -> native.NativeBackend:
    lib = ctypes.CDLL(path)
    lib.vk_native_scan.argtypes = [
        ctypes.POINTER(native.KernelPattern),
        ctypes.POINTER(native.ScanParams),
        ctypes.POINTER(native.Affine),
        ctypes.POINTER(native.KernelCandidate),
        ctypes.POINTER(native.ScanOut),
        ctypes.c_int,
        ctypes.POINTER(native.Affine),
    ]
    lib.vk_native_scan.restype = ctypes.c_int
    loader = native.load_library
    native.load_library = lambda gpu_paths=False: lib  # type: ignore[assignment]
    try:
        return native.NativeBackend(threads=threads)
    finally:
        native.load_library = loader


def main() -> None:
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    libs = sys.argv[1].split(",")
    pattern, case, format_id, rounds = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    backends = [_backend(path, threads) for path in libs]
    job = GrindJob.parse({"v": 1, "format": format_id, "pattern": pattern, "case": case, "budget": 1 << 50})
    plan = replace(ScanPlan.from_job(job, 0x123456789ABCDEF), min_score=job.compiled().max_score)
    step = 6 * 8192 * 8 * threads
    first = [step] * len(backends)
    for backend in backends:
        backend.scan(plan, 0, step)  # warm-up: first centres, caches
    rates: list[list[float]] = [[] for _ in backends]
    for round_no in range(rounds):
        order = list(range(len(backends)))
        for i in order if round_no % 2 == 0 else reversed(order):
            began = time.process_time()
            backends[i].scan(plan, first[i], step)
            first[i] += step
            rates[i].append(step / (time.process_time() - began) / 1e6)
    medians = [sorted(r)[len(r) // 2] for r in rates]
    best = [max(r) for r in rates]
    for path, median, top in zip(libs, medians, best, strict=True):
        print(f"{Path(path).name}: median {median:.2f}, best {top:.2f} M keys per CPU s")
    print(
        "ratios to the first build, medians: "
        + " ".join(f"{m / medians[0]:.3f}" for m in medians)
        + "; best-of: "
        + " ".join(f"{b / best[0]:.3f}" for b in best)
    )


if __name__ == "__main__":
    main()
