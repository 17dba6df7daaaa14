"""Pulls per second through the default `local` backend (bot/grinding/local_backend.py).

    .venv/bin/python benchmarks/local_pulls.py [--grinder python] [--budget 3000] [--pulls 12] [--workers N]

Submits --pulls single pulls at once and then one 10-pull job, through the client the bot uses,
and prints pulls per second and the 10-pull's wall time. Run it on a commit before issue 17.5
(a fresh process per job, one at a time) and after (a pool of worker processes kept alive, one
per core) to compare; the first timing includes starting the workers, so a warm-up round runs first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.grinding import make_client
from gpu_worker.job import GrindJob


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grinder", default="python")
    parser.add_argument("--budget", type=int, default=3000, help="keys per pull")
    parser.add_argument("--pulls", type=int, default=12, help="single pulls submitted at once")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="max_parallel of the client")
    args = parser.parse_args()
    pull = GrindJob.parse({"v": 1, "format": "btc", "pattern": "ab", "budget": args.budget})
    client = make_client("local", grinder=args.grinder, max_parallel=args.workers)
    print(
        f"# {platform.machine()} cpus={os.cpu_count()} grinder={args.grinder} workers={args.workers} "
        f"budget={args.budget}"
    )
    try:
        warm = [await client.submit(pull) for _ in range(args.workers)]
        await asyncio.gather(*(client.wait(i, pull) for i in warm))
        started = time.perf_counter()
        ids = [await client.submit(pull) for _ in range(args.pulls)]
        await asyncio.gather(*(client.wait(i, pull) for i in ids))
        took = time.perf_counter() - started
        print(f"{args.pulls} pulls at once: {took:.2f} s, {args.pulls / took:.1f} pulls/s")
        try:
            ten = pull.model_copy(update={"pulls": 10})
            started = time.perf_counter()
            await client.wait(await client.submit(ten), ten)
            print(f"one 10-pull job: {time.perf_counter() - started:.2f} s")
        except Exception as exc:  # a client from before 10-pull jobs existed
            print(f"one 10-pull job: not supported here ({type(exc).__name__})")
            started = time.perf_counter()
            ids = [await client.submit(pull) for _ in range(10)]
            await asyncio.gather(*(client.wait(i, pull) for i in ids))
            print(f"10-pull as ten jobs: {time.perf_counter() - started:.2f} s")
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
