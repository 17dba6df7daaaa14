"""Keys per second of the python reference backend, per format: one process and all cores.

    .venv/bin/python benchmarks/python_backend.py [--seconds 3] [--formats btc,eth]

Each figure scans consecutive keys from a fresh random start with a pattern
that never fully matches (so no early exit), the way a pull does. The
all-cores figure excludes the process pool's start-up (a one-off per backend).
Each figure is the best of --repeat runs: other work on the machine only slows a run down.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from gpu_worker.formats import FORMATS
from gpu_worker.grinders import ScanPlan
from gpu_worker.grinders.python import PythonBackend, scan_range
from gpu_worker.job import GrindJob
from gpu_worker.keyspace import draw_start_scalar

PATTERNS = {"btc": "VaniKeys", "did": "VaniKeys", "trx": "VaniKeys", "eth": "c0ffee"}


def plan_for(format_id: str) -> ScanPlan:
    job = GrindJob.parse({"v": 1, "format": format_id, "pattern": PATTERNS[format_id], "budget": 1 << 40})
    return ScanPlan.from_job(job, draw_start_scalar())


def one_process_rate(plan: ScanPlan, seconds: float) -> float:
    n_keys, took = 600, 0.0
    while took < seconds:
        began = time.perf_counter()
        scan_range(plan, 0, n_keys)
        took = time.perf_counter() - began
        if took < seconds:
            n_keys = int(n_keys * min(8.0, 1.2 * seconds / max(took, 1e-3)))
    return n_keys / took


def all_cores_rate(backend: PythonBackend, plan: ScanPlan, n_keys: int) -> float:
    began = time.perf_counter()
    backend.scan(plan, 0, n_keys)
    return n_keys / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each measurement")
    parser.add_argument(
        "--repeat", type=int, default=3, help="measurements per figure; the best is printed (a shared box is noisy)"
    )
    parser.add_argument("--formats", default=",".join(sorted(FORMATS)), help="comma-separated format ids")
    args = parser.parse_args()
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    cores = os.cpu_count() or 1
    print(f"python backend · {platform.machine()} · {cores} cores · Python {platform.python_version()}")
    print(f"{'format':<7}{'1 process':>16}{f'{cores} processes':>18}")
    with PythonBackend() as backend:
        for format_id in formats:
            plan = plan_for(format_id)
            backend.scan(plan, 0, 20_000 * cores)  # start the pool and warm each worker outside the measurement
            single = max(one_process_rate(plan, args.seconds) for _ in range(args.repeat))
            pooled = max(all_cores_rate(backend, plan, int(single * args.seconds * cores)) for _ in range(args.repeat))
            print(f"{format_id:<7}{single:>9,.0f} keys/s{pooled:>11,.0f} keys/s")


if __name__ == "__main__":
    main()
