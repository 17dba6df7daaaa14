"""What the bot spends on a result besides grinding: the odds model, and sealing secrets through RunPod.

    .venv/bin/python benchmarks/result_path.py [--repeat 5]

- odds: `gpu_worker.odds.odds` for patterns from one term to eight, cache cleared
  before each timing (the service runs it in a thread; a repeat pattern is cached).
- sealing: one hit sealed by the worker and opened by the bot (gpu_worker/sealing.py),
  per hit, over a 10-pull's worth of hits.
Each figure is the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

from gpu_worker.grinders import grind
from gpu_worker.job import GrindJob
from gpu_worker.odds import clear_odds_cache, odds
from gpu_worker.patterns import parse_pattern
from gpu_worker.sealing import ResultSealer, seal_result

ODDS_CASES = [
    ("btc", "^Love"),
    ("btc", "vani keys"),
    ("eth", "^dead beef cafe babe"),
    ("btc", "GO BE AWE SOME MOON LAMBO HODL WAGMI"),
    ("eth", "^dead beef cafe babe f00d 1234 5678 9abc"),
    ("did", "ab cd ef gh ij km np qr"),
]


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, best of {args.repeat}")

    print(f"{'format':<6} {'pattern':<42} {'odds()':>10}")
    for format_id, text in ODDS_CASES:
        pattern = parse_pattern(format_id, text)

        def fresh_odds() -> None:
            clear_odds_cache()
            odds(pattern)  # noqa: B023 - called within this iteration only

        print(f"{format_id:<6} {text:<42} {best_of(args.repeat, fresh_odds) * 1e3:>8.1f} ms")

    job = GrindJob.parse({"v": 1, "format": "btc", "pattern": "ab", "budget": 2000, "top": 10})
    result = grind(job, "python")
    sealer = ResultSealer.generate()
    hits = len(result.results)
    took = best_of(args.repeat, lambda: sealer.open_result(seal_result(result, sealer.public_hex)))
    print(f"sealing: {took / hits * 1e6:.0f} us per hit, seal + open ({hits} hits)")


if __name__ == "__main__":
    main()
