"""Pull latency through the RunPod client and the loopback emulator, with a realistic queue delay.

    .venv/bin/python benchmarks/pull_latency.py [--pulls 10] [--queue-delay 0.25]

The emulator (tests/worker/runpod_emulator.py) runs the real handler on the python backend; a pull
job of `--budget` keys stands in for a GPU pull of ~0.1 s. `--queue-delay` is the time a job waits
for a warm worker (RunPod reports it as delayTime; a warm FlashBoot endpoint shows ~0.1-0.5 s).

Compared, in one run:
- poll 2 s: /run, then /status every 2 s (backing off to 10 s while queued) -- the client before issue 12;
- poll 1 s: the same every second;
- fast polling: /run, then /status from 50 ms, 15% longer each time (the client since issue 22; /runsync,
  used between the two, lost finished jobs whose held answer dropped);
- 10-pull as ten jobs vs one job of ten pulls (fast polling).
Each figure is the median wall time from submit to a verified result.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.grinding.runpod_api import RetryPolicy, RunpodApi
from bot.grinding.runpod_backend import RunpodGrindingClient
from gpu_worker.grinders import get_backend
from gpu_worker.job import GrindJob
from tests.worker.runpod_emulator import RunpodEmulator

KEY, ENDPOINT = "bench-key", "bench-endpoint"


async def timed_pulls(
    emu: RunpodEmulator, job: GrindJob, runs: int, *, jobs_per_pull: int = 1, **client_settings: float
) -> float:
    api = RunpodApi(KEY, ENDPOINT, base_url=emu.base_url, retry=RetryPolicy(attempts=3, base_delay_s=0.05))
    client = RunpodGrindingClient(api, **client_settings)  # type: ignore[arg-type]
    times = []
    try:
        for _ in range(runs):
            started = time.perf_counter()
            ids = await asyncio.gather(*(client.submit(job) for _ in range(jobs_per_pull)))
            await asyncio.gather(*(client.wait(i, job) for i in ids))
            times.append(time.perf_counter() - started)
    finally:
        await client.close()
    return statistics.median(times)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pulls", type=int, default=10, help="pulls timed per case")
    parser.add_argument("--queue-delay", type=float, default=0.25, help="seconds a job waits for a worker")
    parser.add_argument("--budget", type=int, default=2000, help="keys per pull")
    args = parser.parse_args()
    backend = get_backend("python")
    emu = RunpodEmulator(
        api_key=KEY, endpoint_id=ENDPOINT, backend=backend, queue_delay_s=args.queue_delay, progress_interval_s=0.5
    )
    await emu.start()
    one = GrindJob.parse({"v": 1, "format": "btc", "pattern": "ab", "budget": args.budget})
    ten = one.model_copy(update={"pulls": 10})
    print(
        f"# {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} python backend, "
        f"queue delay {args.queue_delay:g} s, budget {args.budget} keys, median of {args.pulls}"
    )
    try:
        cases = [
            (
                "pull, /run + poll 2 s (before)",
                one,
                1,
                {"poll_interval_s": 2.0, "first_poll_s": 2.0, "poll_growth": 1.0},
            ),
            ("pull, /run + poll 1 s", one, 1, {"poll_interval_s": 1.0, "first_poll_s": 1.0, "poll_growth": 1.0}),
            ("pull, /run + fast polling (now)", one, 1, {}),
            (
                "10-pull as ten jobs, poll 2 s (before)",
                one,
                10,
                {"poll_interval_s": 2.0, "first_poll_s": 2.0, "poll_growth": 1.0},
            ),
            ("10-pull as one job, fast polling (now)", ten, 1, {}),
        ]
        for name, job, jobs_per_pull, settings in cases:
            median = await timed_pulls(emu, job, args.pulls, jobs_per_pull=jobs_per_pull, **settings)
            print(f"{name:42s} {median * 1000:8.0f} ms")
    finally:
        await emu.stop()
        backend.close()


if __name__ == "__main__":
    asyncio.run(main())
