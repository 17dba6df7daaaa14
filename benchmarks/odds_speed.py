"""Odds model latency: the worst patterns the parser accepts, per pattern, cold cache.

    python benchmarks/odds_speed.py                 # this tree
    python benchmarks/odds_speed.py --before REV    # also REV's model, same run, side by side
    python benchmarks/odds_speed.py --random 300    # plus random accepted patterns: the slowest found
    python benchmarks/odds_speed.py --loop          # the bot's event loop during a burst: thread vs process

Each figure is the median of --repeat cold computations (the model's pattern
cache cleared; the per-format body tables stay warm, as in a running bot), in
milliseconds of this process's CPU time (the dev box is shared: wall time
there says more about the neighbours than about the model; it is printed too). --before runs REV's gpu_worker
(extracted with `git archive`) in a subprocess on the same machine, interleaved with this tree's runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (format, pattern, options): many terms, long terms, fuzzy, '?', anchored both ends, all four formats.
WORST_CASES: list[tuple[str, str, dict]] = [
    ("btc", "abcd efgh ijkm nopq", {}),
    ("btc", "ab cd ef gh jk mn pq rs", {}),
    ("btc", "abcdefgh ijkmnopq rstuvwxy zABCDEFG", {}),
    ("btc", "abcdefghijkmnopqrstuvwxyzABCDEFG", {}),
    ("btc", "^abc defg hijk mnop$", {}),
    ("btc", "Love Love Love Love", {"fuzzy": True}),
    ("btc", "a?c? e?g? i?k? m?o?", {}),
    ("btc", "abcd abcd abcd abcd abcd abcd abcd abcd", {}),
    ("btc", "ZZZZ zzzz ZZZZ zzzz", {"case": "exact"}),
    ("btc", "GO BE AWE SOME MOON LAMBO HODL WAGMI", {}),
    ("eth", "dead beef cafe babe", {}),
    ("eth", "dead beef cafe babe dead beef cafe babe", {}),
    ("eth", "0123456789abcdef0123456789abcdef01234567", {}),
    ("eth", "^de?d be?f ca?e ba?e$", {}),
    ("eth", "1eet 5a1e 7ea5 0b0e", {"fuzzy": True}),
    ("eth", "^dead beef cafe babe f00d 1234 5678 9abc", {}),
    ("did", "abcdefghijk mnopqrstuvw xyzABCDEFGH JKLMNPQRSTU", {}),
    ("did", "^zQ3shabcd efgh ijkm nopq$", {}),
    ("did", "abcd efgh ijkm nopq rstu vwxy zABC DEFG", {}),
    ("did", "ab cd ef gh ij km np qr", {}),
    ("trx", "^TAbcd efgh ijkm nopq$", {}),
    ("trx", "abcd efgh ijkm nopq", {}),
    ("trx", "go go go go go go go go", {"fuzzy": True}),
]


def _measure(cases: list[tuple[str, str, dict]], repeat: int) -> list[tuple[float, float]]:
    """Median cold (CPU ms, wall ms) of each case, with whatever gpu_worker is on sys.path."""
    from gpu_worker import odds as odds_module
    from gpu_worker.patterns import parse_pattern

    out = []
    for format_id, text, options in cases:
        pattern = parse_pattern(format_id, text, **options)
        for warm in ("^a", "ab"):  # the body tables, built once per format in a running bot
            odds_module.odds(parse_pattern(format_id, warm))
        clear = getattr(odds_module, "clear_odds_cache", None) or odds_module._odds.cache_clear  # older trees
        cpu, wall = [], []
        for _ in range(repeat):
            clear()
            start, start_cpu = time.perf_counter(), time.process_time()
            odds_module.odds(pattern)
            cpu.append((time.process_time() - start_cpu) * 1000)
            wall.append((time.perf_counter() - start) * 1000)
        out.append((statistics.median(cpu), statistics.median(wall)))
    return out


def _random_cases(count: int, seed: int) -> list[tuple[str, str, dict]]:
    """Random patterns the parser accepts, biased to the expensive end (long, many terms, fuzzy, '?')."""
    from gpu_worker.errors import VanikeysError
    from gpu_worker.formats import get_format
    from gpu_worker.patterns import MAX_TERMS, parse_pattern
    from gpu_worker.positions import max_body_length

    rng = random.Random(seed)
    cases: list[tuple[str, str, dict]] = []
    while len(cases) < count:
        format_id = rng.choice(["btc", "eth", "did", "trx"])
        alphabet = get_format(format_id).alphabet
        terms = rng.randint(1, MAX_TERMS)
        budget = rng.randint(terms, max_body_length(format_id) - 4)
        lengths = [1] * terms
        for _ in range(budget - terms):
            lengths[rng.randrange(terms)] += 1
        pool = alphabet if rng.random() < 0.5 else "".join(rng.sample(alphabet, 4))  # repeats make it harder
        words = ["".join("?" if rng.random() < 0.1 else rng.choice(pool) for _ in range(n)) for n in lengths]
        text = ("^" if rng.random() < 0.3 else "") + " ".join(words) + ("$" if rng.random() < 0.3 else "")
        options = {"fuzzy": rng.random() < 0.3}
        try:
            parse_pattern(format_id, text, **options)
        except VanikeysError:
            continue
        cases.append((format_id, text, options))
    return cases


def _run_before(rev: str, cases: list[tuple[str, str, dict]], repeat: int) -> list[tuple[float, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "archive", rev, "gpu_worker"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        code = (
            "import json, sys\n"
            f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
            "from odds_speed import _measure\n"
            "cases = json.loads(sys.stdin.read())\n"
            f"print(json.dumps(_measure([tuple(c) for c in cases], {repeat})))\n"
        )
        env = {**os.environ, "PYTHONPATH": tmp}
        done = subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(cases),
            env=env,
            cwd=tmp,
            check=True,
            capture_output=True,
            text=True,
        )
        return [tuple(x) for x in json.loads(done.stdout)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="also measure this git revision's odds model (e.g. main)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--random", type=int, default=0, help="also time this many random accepted patterns")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--loop", action="store_true", help="measure the bot's event loop during a burst instead")
    args = parser.parse_args()
    if args.loop:
        loop_main()
        return
    sys.path.insert(0, str(ROOT))
    cases = list(WORST_CASES)
    after = _measure(cases, args.repeat)
    before = _run_before(args.before, cases, args.repeat) if args.before else None
    head = f"{'format':6} {'pattern':48} {'options':18} {'cpu ms':>7} {'wall ms':>8}"
    if before:
        head += f" {'before cpu':>10} {'wall':>8} {'speed-up':>8}"
    print(head)
    for i, (format_id, text, options) in enumerate(cases):
        line = f"{format_id:6} {text:48} {json.dumps(options):18} {after[i][0]:7.1f} {after[i][1]:8.1f}"
        if before:
            line += f" {before[i][0]:10.1f} {before[i][1]:8.1f} {before[i][0] / after[i][0]:7.1f}x"
        print(line)
    print(
        f"worst: {max(c for c, _ in after):.1f} ms CPU"
        + (f" (before: {max(c for c, _ in before):.1f} ms)" if before else "")
    )
    if args.random:
        randoms = _random_cases(args.random, args.seed)
        timed = sorted(zip(_measure(randoms, 1), randoms, strict=False), reverse=True)
        print(
            f"\n{args.random} random accepted patterns (seed {args.seed}): "
            f"median {statistics.median(t[0] for t, _ in timed):.1f} ms CPU, "
            f"over 100 ms: {sum(t[0] > 100 for t, _ in timed)}, slowest:"
        )
        for (cpu, wall), (format_id, text, options) in timed[:5]:
            print(f"{format_id:6} {text:48} {json.dumps(options):18} {cpu:7.1f} {wall:8.1f}")


async def _loop_stall(workers: int, patterns: list[tuple[str, str, dict]]) -> tuple[float, float, float]:
    """(worst event-loop lag ms, worst cached /odds latency ms, all uncached done s) while a burst computes."""
    import asyncio

    from bot.odds_cache import OddsCache
    from gpu_worker import odds as odds_module
    from gpu_worker.patterns import parse_pattern

    cache = OddsCache(workers)
    await cache.get(parse_pattern("btc", "^a"))  # start the pool (and warm this process's tables)
    odds_module.clear_odds_cache()
    cached = parse_pattern("btc", "^Lo")
    await cache.get(cached)
    lags: list[float] = []
    latencies: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append((time.perf_counter() - start - 0.005) * 1000)

    async def other_user() -> None:
        while not done:
            start = time.perf_counter()
            await cache.get(cached)
            await asyncio.sleep(0)  # a command's own work would go here
            latencies.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(ticker()), asyncio.create_task(other_user())]
    start = time.perf_counter()
    await asyncio.gather(*(cache.get(parse_pattern(f, t, **o)) for f, t, o in patterns))
    elapsed = time.perf_counter() - start
    done = True
    await asyncio.gather(*tasks)
    cache.close()
    return max(lags), max(latencies), elapsed


def loop_main() -> None:
    """--loop: one user's burst of uncached hard patterns; how long does the event loop stall, thread vs process."""
    import asyncio

    sys.path.insert(0, str(ROOT))
    burst = WORST_CASES[:12]
    print(
        f"burst of {len(burst)} uncached hard patterns; a ticker every 5 ms and another user's cached /odds meanwhile"
    )
    print(f"{'where odds run':28} {'worst loop lag ms':>18} {'worst cached /odds ms':>22} {'burst done s':>13}")
    for label, workers in (("thread (VANIKEYS_ODDS_WORKERS=0)", 0), ("1 worker process (default)", 1)):
        lag, p50, elapsed = asyncio.run(_loop_stall(workers, burst))
        print(f"{label:28} {lag:18.1f} {p50:22.2f} {elapsed:13.2f}")


if __name__ == "__main__":
    main()
