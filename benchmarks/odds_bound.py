"""The odds model's cost bound: CPU time and memory over a fixed adversarial set plus ordinary patterns.

    python benchmarks/odds_bound.py                 # p50 / p99 / max CPU ms and peak RSS, this tree
    python benchmarks/odds_bound.py --before REV    # also the issue's three patterns on REV (capped)
    python benchmarks/odds_bound.py --sample 30000  # also the named patterns against sampled bodies

The adversarial set is fixed (seeded): long runs of '?', many short terms,
fuzzy and exact-case mixes, anchors, in all four formats, plus the patterns
that once took seconds. Each pattern is computed cold (the model's pattern
cache cleared; the per-format body tables warm, as in a running odds worker),
timed in this process's CPU time (the dev box is shared: wall time says more
about the neighbours). Peak RSS is the process's high-water mark after the
whole set, beside its RSS once warm. --before runs REV's gpu_worker (from `git
archive`) on the issue's three patterns, one subprocess each, under a 60 s
timeout and a 3 GB address-space cap.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gpu_worker.errors import VanikeysError  # noqa: E402
from gpu_worker.formats import FORMATS, get_format  # noqa: E402
from gpu_worker.patterns import MAX_PATTERN_LENGTH, MAX_TERMS, Pattern, parse_pattern  # noqa: E402

Case = tuple[str, str, str, bool]  # format, text, case ("insensitive" | "exact"), fuzzy

# The three (13 s, 27 s, over 68 s and 5.4 GB before the fix) and their relatives.
NAMED: list[Case] = [
    ("btc", "a?????????????b ??????????????c", "insensitive", False),
    ("eth", "a??????????????b ???????????????c", "insensitive", False),
    ("eth", "a?????????????????b ?????????????????c", "insensitive", False),
    ("did", "a????????????????????b a????????????????????b", "insensitive", False),
    ("eth", "a????b a????b a????b a????b a????b a????b", "insensitive", False),
    ("btc", "GO BE AWE SOME MOON LAMBO HODL WAGMI", "insensitive", True),
    ("did", "Lo?e Lo?e Lo?e Lo?e Lo?e Lo?e Lo?e Lo?e", "insensitive", True),
    ("did", "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTU", "exact", False),
    ("btc", "a??? b??? c??? d??? e??? f??? g??? h???", "insensitive", False),
    ("trx", "aaaaaaaaaaaaaaaa aaaaaaaaaaaaaaaa", "insensitive", False),
]

ORDINARY: list[Case] = [
    ("btc", "^Love", "insensitive", False),
    ("btc", "^1Love", "exact", False),
    ("btc", "go go", "insensitive", False),
    ("btc", "GO BE AWE SOME", "insensitive", False),
    ("btc", "Love$", "insensitive", True),
    ("eth", "^dead", "insensitive", False),
    ("eth", "dead beef", "insensitive", False),
    ("eth", "^c0ffee 1337$", "insensitive", True),
    ("trx", "^TVani", "insensitive", False),
    ("trx", "moon", "insensitive", True),
    ("did", "^zQ3shVani", "insensitive", False),
    ("did", "vani keys", "insensitive", False),
]


def adversarial(seed: int = 20261206, count: int = 400) -> list[Case]:
    """`count` accepted patterns built to be expensive, the same ones every run."""
    rng = random.Random(seed)
    cases: list[Case] = []
    while len(cases) < count:
        format_id = rng.choice(sorted(FORMATS))
        alphabet = get_format(format_id).alphabet
        few = rng.choice([2, 3, 10, len(alphabet)])  # few distinct characters: repeats, self-overlapping terms
        shape = rng.choice(["runs", "many", "mixed"])
        if shape == "runs":  # long '?' runs inside terms
            terms = [
                "".join(rng.choice(alphabet[:few]) + "?" * rng.randint(3, 20) + rng.choice(alphabet[:few]))
                for _ in range(rng.randint(1, 3))
            ]
        elif shape == "many":  # many short terms
            terms = [
                "".join(rng.choice(alphabet[:few] + "?") for _ in range(rng.randint(1, 5)))
                for _ in range(rng.randint(4, MAX_TERMS))
            ]
        else:
            wild = rng.choice([0.0, 0.3, 0.7])
            terms = [
                "".join(
                    "?" if rng.random() < wild else rng.choice(alphabet[:few])
                    for _ in range(rng.choice([1, 3, 6, 12, 20]))
                )
                for _ in range(rng.randint(1, 4))
            ]
        text = ("^" if rng.random() < 0.25 else "") + " ".join(terms) + ("$" if rng.random() < 0.25 else "")
        case = (format_id, text[:MAX_PATTERN_LENGTH].strip(), rng.choice(["insensitive", "exact"]), rng.random() < 0.4)
        if parsed(case) is not None:
            cases.append(case)
    return cases


def parsed(case: Case) -> Pattern | None:
    format_id, text, case_mode, fuzzy = case
    try:
        return parse_pattern(format_id, text, case=case_mode, fuzzy=fuzzy)  # type: ignore[arg-type]
    except VanikeysError:
        return None


def cpu_ms(pattern: Pattern) -> float:
    """CPU milliseconds of one cold computation (this process)."""
    from gpu_worker.odds import clear_odds_cache, odds

    clear_odds_cache()
    began = time.process_time()
    odds(pattern)
    return (time.process_time() - began) * 1000


def warm_up() -> None:
    from gpu_worker.odds import odds

    for format_id in FORMATS:
        odds(parse_pattern(format_id, "ab"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_set(label: str, cases: list[Case]) -> list[tuple[float, Case]]:
    timed = [(cpu_ms(p), c) for c in cases if (p := parsed(c)) is not None]
    times = [t for t, _ in timed]
    print(
        f"{label:<28} {len(times):>5} {statistics.median(times):>8.1f} {percentile(times, 0.99):>8.1f} "
        f"{max(times):>8.1f}"
    )
    return timed


def before(rev: str) -> None:
    """The issue's three patterns on REV's model, each in a capped subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", rev, "gpu_worker"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        script = (
            "import sys, time, resource\n"
            "from gpu_worker.patterns import parse_pattern\n"
            "from gpu_worker.odds import odds\n"
            "odds(parse_pattern(sys.argv[1], 'ab'))\n"
            "p = parse_pattern(sys.argv[1], sys.argv[2])\n"
            "t = time.process_time(); odds(p)\n"
            "print(f'{(time.process_time() - t) * 1000:.0f} '\n"
            "      f'{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}')\n"
        )

        def cap() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

        print(f"\n{rev} (60 s timeout, 3 GB address space):")
        for format_id, text, _, _ in NAMED[:3]:
            try:
                done = subprocess.run(
                    [sys.executable, "-c", script, format_id, text],
                    check=False,
                    cwd=tmp,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    preexec_fn=cap,
                    env={"PYTHONPATH": tmp, "PATH": "/usr/bin"},
                )
                figures = done.stdout.split()
                line = (
                    f"{float(figures[0]):>10.0f} ms CPU, peak RSS {figures[1]} MB"
                    if done.returncode == 0
                    else f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
                )
            except subprocess.TimeoutExpired:
                line = "did not finish in 60 s"
            print(f"  {format_id} {text!r}: {line}")


def sampled_errors(bodies_per_format: int) -> None:
    """The named patterns' odds against sampled bodies: the worst relative error over well-sampled scores."""
    from gpu_worker.odds import odds
    from gpu_worker.odds.sampling import against_sample, sampled_body

    rng = random.Random(7)
    bodies: dict[str, list[str]] = {}
    print(f"\nagainst {bodies_per_format:,} sampled bodies per format (scores expected at least 1,000 times):")
    for case in NAMED:
        pattern = parsed(case)
        assert pattern is not None
        if case[0] not in bodies:
            bodies[case[0]] = [sampled_body(case[0], rng) for _ in range(bodies_per_format)]
        rows = against_sample(pattern, odds(pattern), bodies[case[0]], at_least=1000)
        worst = max(rows, key=lambda r: abs(r.error))
        print(
            f"  {case[0]} {case[1]!r}: {len(rows)} scores, worst {worst.error:+.1%} at score {worst.score} "
            f"(noise about {1 / worst.expected**0.5:.1%})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=400, help="adversarial patterns (default 400)")
    parser.add_argument("--before", metavar="REV", help="also the issue's three patterns on REV's model")
    parser.add_argument(
        "--sample",
        type=int,
        default=0,
        metavar="N",
        help="also check the named patterns against N sampled bodies per format",
    )
    args = parser.parse_args()
    with open("/proc/loadavg") as load:
        print(f"load average {load.read().split()[0]} on {len(__import__('os').sched_getaffinity(0))} cores")
    warm_up()
    warm = rss_mb()
    print(f"{'set':<28} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}   (CPU time per cold computation)")
    named = run_set("named (the issue's and kin)", NAMED)
    ordinary = run_set("ordinary", ORDINARY)
    generated = run_set("adversarial (seeded)", adversarial(count=args.count))
    everything = named + ordinary + generated
    run_set_summary = [t for t, _ in everything]
    print(
        f"{'all':<28} {len(run_set_summary):>5} {statistics.median(run_set_summary):>8.1f} "
        f"{percentile(run_set_summary, 0.99):>8.1f} {max(run_set_summary):>8.1f}"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RSS once warm {warm:.0f} MB, peak over the whole run {peak:.0f} MB")
    print("slowest:")
    for t, (format_id, text, case, fuzzy) in sorted(everything, reverse=True)[:5]:
        print(f"  {t:7.1f} ms  {format_id} {text!r} {case}{' fuzzy' if fuzzy else ''}")
    if args.sample:
        sampled_errors(args.sample)
    if args.before:
        before(args.before)


if __name__ == "__main__":
    main()
