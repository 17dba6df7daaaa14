"""Side by side with VanitySearch's CPU build: keys per CPU second on the same btc patterns.

    /work/venv/bin/python benchmarks/peer_vanitysearch.py [--seconds 20] [--rounds 2] [--threads 1,2]

VanitySearch (GPL-3.0) is built from a source snapshot (the peers/ folder of
the shared checkout beside the repository) into a cache directory outside the
repository (~/.cache/vanikeys-peers, or $VANIKEYS_PEERS) twice: with its stock
Makefile (g++ -O2 -mssse3) and tuned (-O3 -march=native, the flags our native
build uses), only for this comparison: nothing of it is part of VaniKeys.

Each point (pattern pair, thread count) runs the three programs for --seconds
in interleaved rounds (ours, stock, tuned, then tuned, stock, ours, ...): the
ratios of one point come from one run at one load. Both count
six keys per curve point, each hashed. VanitySearch prints its running total
of keys every 2 s; we read it together with the process's CPU time from
/proc, after a warm-up sample. Ours runs an "order" scan (every key checked
against the full pattern: the minimum score is the pattern's length, as when
an order looks for an exact match, and as VanitySearch searches) through the
native backend in a child process, measured the same way. On a shared machine
keys per CPU second is the fairer figure (a busy neighbour steals wall time,
not CPU time); wall-clock keys/s are printed too. Ratios first.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PEERS_SOURCE = REPO.parent / "shared" / "peers" / "VanitySearch-src.tar.gz"
FALLBACK_SOURCE = Path("/work/shared/peers/VanitySearch-src.tar.gz")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# (label, our pattern, our case, VanitySearch arguments)
POINTS = [
    ("^Vanik exact case", "^Vanik", "exact", ["1Vanik"]),
    ("^Vanik case-insensitive", "^Vanik", "insensitive", ["-c", "1Vanik"]),
    ("vanikey unanchored", "vanikey", "insensitive", ["-c", "1*vanikey*"]),
]

_TOTAL = re.compile(r"\[Total 2\^([0-9.]+)\]")


@dataclass(frozen=True)
class Run:
    keys: float
    wall_s: float
    cpu_s: float

    @property
    def per_cpu_s(self) -> float:
        return self.keys / self.cpu_s

    @property
    def per_wall_s(self) -> float:
        return self.keys / self.wall_s


def peers_dir() -> Path:
    return Path(os.environ.get("VANIKEYS_PEERS", Path.home() / ".cache" / "vanikeys-peers"))


# VanitySearch's Makefile flags (CXXFLAGS of its CPU build), and the tuned build's.
BUILDS = {
    "stock": None,
    "tuned": "-m64 -O3 -march=native -Wno-write-strings -I.",
}


def build_vanitysearch(flavour: str = "stock") -> Path:
    """The VanitySearch binary of one build flavour, extracted and built on first use."""
    home = peers_dir() / ("VanitySearch" if flavour == "stock" else f"VanitySearch-{flavour}")
    binary = home / "VanitySearch"
    if binary.exists():
        return binary
    source = PEERS_SOURCE if PEERS_SOURCE.exists() else FALLBACK_SOURCE
    if not source.exists():
        sys.exit(f"VanitySearch source not found at {PEERS_SOURCE}: nothing to compare against")
    unpacked = peers_dir() / f".unpack-{flavour}"
    shutil.rmtree(unpacked, ignore_errors=True)
    unpacked.mkdir(parents=True)
    with tarfile.open(source) as archive:
        archive.extractall(unpacked, filter="data")
    shutil.rmtree(home, ignore_errors=True)
    (unpacked / "VanitySearch").rename(home)
    unpacked.rmdir()
    flags = BUILDS[flavour]
    print(f"building VanitySearch ({flavour}) in {home} (make -j2) ...", file=sys.stderr)
    subprocess.run(
        ["make", "-j2", *([f"CXXFLAGS={flags}"] if flags else [])], cwd=home, check=True, stdout=subprocess.DEVNULL
    )
    return binary


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def run_vanitysearch(binary: Path, args: list[str], threads: int, seconds: float) -> Run:
    """Keys counted between the first progress line and the last one within `seconds`."""
    proc = subprocess.Popen(
        [str(binary), "-t", str(threads), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=binary.parent
    )
    samples: list[tuple[float, float, float]] = []  # (wall, keys, cpu)

    def read() -> None:
        assert proc.stdout is not None
        buffer = b""
        while chunk := proc.stdout.read1(4096):
            buffer += chunk
            *lines, buffer = re.split(rb"[\r\n]", buffer)
            for line in lines:
                found = _TOTAL.search(line.decode(errors="replace"))
                if found:
                    samples.append((time.monotonic(), 2 ** float(found.group(1)), _cpu_seconds(proc.pid)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + seconds + 8.0  # its first line comes about 2 s after the threads start
    try:
        while time.monotonic() < deadline and not (len(samples) >= 2 and samples[-1][0] - samples[0][0] >= seconds):
            time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
        reader.join(timeout=5)
    if len(samples) < 2:
        raise RuntimeError("VanitySearch printed no progress")
    (w0, k0, c0), (w1, k1, c1) = samples[0], samples[-1]
    return Run(k1 - k0, w1 - w0, c1 - c0)


def run_ours(pattern: str, case: str, threads: int, seconds: float) -> Run:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--ours-worker",
        json.dumps([pattern, case, threads, seconds]),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=REPO, check=False, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    if done.returncode != 0:
        raise RuntimeError(f"our scan failed:\n{done.stderr[-2000:]}")
    keys, wall, cpu = json.loads(done.stdout.strip().splitlines()[-1])
    return Run(keys, wall, cpu)


def ours_worker(pattern: str, case: str, threads: int, seconds: float) -> None:
    """In a child process: native scans in order mode; prints [keys, wall_s, cpu_s] after a warm-up."""
    from dataclasses import replace

    sys.path.insert(0, str(REPO))
    from gpu_worker.grinders.base import ScanPlan
    from gpu_worker.grinders.native import NativeBackend
    from gpu_worker.job import GrindJob
    from gpu_worker.keyspace import draw_start_scalar

    job = GrindJob.parse({"v": 1, "format": "btc", "pattern": pattern, "case": case, "budget": 1 << 50})
    plan = ScanPlan.from_job(job, draw_start_scalar())
    plan = replace(plan, min_score=plan.pattern.max_score)
    backend = NativeBackend(threads=threads)
    step = 6 * 2048 * 64 * threads  # whole work items (2,048 points), 64 per thread
    first = 0
    backend.scan(plan, first, step)  # warm-up
    first += step
    wall0, cpu0, keys = time.monotonic(), time.process_time(), 0
    while time.monotonic() - wall0 < seconds:
        backend.scan(plan, first, step)
        first += step
        keys += step
    print(json.dumps([keys, time.monotonic() - wall0, time.process_time() - cpu0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run (default 20)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved runs of each program per point (default 2)")
    parser.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    parser.add_argument("--only", help="run only the points whose label contains this text")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--ours-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ours_worker:
        ours_worker(*json.loads(args.ours_worker))
        return
    os.environ.setdefault("VANIKEYS_CACHE", str(REPO / ".vanikeys"))
    binaries = {flavour: build_vanitysearch(flavour) for flavour in BUILDS}
    threads_list = [int(t) for t in args.threads.split(",")]
    rows = []
    for label, pattern, case, peer_args in POINTS:
        if args.only and args.only not in label:
            continue
        for threads in threads_list:
            runs: dict[str, list[Run]] = {"ours": [], **{flavour: [] for flavour in BUILDS}}
            for round_no in range(args.rounds):
                order = list(runs) if round_no % 2 == 0 else list(reversed(runs))
                for who in order:
                    if who == "ours":
                        runs[who].append(run_ours(pattern, case, threads, args.seconds))
                    else:
                        runs[who].append(run_vanitysearch(binaries[who], peer_args, threads, args.seconds))
            row = _row(label, pattern, case, " ".join(peer_args), threads, runs)
            rows.append(row)
            print(
                f"  measured {label}, {threads} thread(s): ours/VanitySearch per CPU s "
                + ", ".join(f"{flavour} {row[flavour]['ratio_cpu']:.2f}" for flavour in BUILDS)
                + f" (load average {row['load_average']:.1f})",
                file=sys.stderr,
                flush=True,
            )
    _print_table(rows, args)
    if args.json:
        Path(args.json).write_text(json.dumps({"load_average": os.getloadavg(), "rows": rows}, indent=2))


def _rate(runs: list[Run], attribute: str) -> float:
    return sum(getattr(r, attribute) for r in runs) / len(runs)


def _row(label: str, pattern: str, case: str, peer: str, threads: int, runs: dict[str, list[Run]]) -> dict:
    ours_cpu, ours_wall = _rate(runs["ours"], "per_cpu_s"), _rate(runs["ours"], "per_wall_s")
    row: dict = {
        "label": label,
        "ours": f"{pattern}" + (" --exact-case" if case == "exact" else ""),
        "vanitysearch": peer,
        "threads": threads,
        "load_average": os.getloadavg()[0],
        "ours_per_cpu_s": ours_cpu,
        "ours_per_wall_s": ours_wall,
        "ours_runs": [r.__dict__ for r in runs["ours"]],
    }
    for flavour in BUILDS:
        theirs_cpu, theirs_wall = _rate(runs[flavour], "per_cpu_s"), _rate(runs[flavour], "per_wall_s")
        row[flavour] = {
            "ratio_cpu": ours_cpu / theirs_cpu,
            "ratio_wall": ours_wall / theirs_wall,
            "per_cpu_s": theirs_cpu,
            "per_wall_s": theirs_wall,
            "runs": [r.__dict__ for r in runs[flavour]],
        }
    return row


def _print_table(rows: list[dict], args: argparse.Namespace) -> None:
    print(
        f"# ours (native) vs VanitySearch CPU builds (stock: its Makefile; tuned: -O3 -march=native), btc; "
        f"{args.rounds} interleaved runs of {args.seconds:g} s each; load average now {os.getloadavg()[0]:.1f}"
    )
    print(
        "| ours | VanitySearch | threads | ours ÷ tuned, per CPU s | ours ÷ stock, per CPU s | ours ÷ tuned, wall "
        "| ours M keys/CPU s | tuned M keys/CPU s | stock M keys/CPU s | load |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        tuned, stock = r["tuned"], r["stock"]
        print(
            f"| `{r['ours']}` | `{r['vanitysearch']}` | {r['threads']} | **{tuned['ratio_cpu']:.2f}** "
            f"| {stock['ratio_cpu']:.2f} | {tuned['ratio_wall']:.2f} | {r['ours_per_cpu_s'] / 1e6:.2f} "
            f"| {tuned['per_cpu_s'] / 1e6:.2f} | {stock['per_cpu_s'] / 1e6:.2f} | {r['load_average']:.1f} |"
        )


if __name__ == "__main__":
    main()
