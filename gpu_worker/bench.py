"""`vanikeys bench`: keys per second per backend and format, after warm-up.

    vanikeys bench [--backend B] [--format F] [--pattern P] [--seconds S] [--json]

For every format it measures an anchored prefix ("^Vani", "^dead") and an
unanchored two-term pattern ("vani keys", "dead beef"), or just --pattern.
Each measurement is what a pull does: pull jobs (top 1, a fresh random start
each, the pull budget of that backend) run back to back through the grinder
session for S seconds after a warm-up, with the real minimum-score filter (a
key must beat the best found so far, so an anchored prefix is mostly rejected
from its hash alone) and each result re-derived and verified as a pull's is.
keys/s = keys hashed / wall-clock seconds, beside keys per CPU-second (the
process's CPU time: every thread of a native run, the host's share of a cuda
one). Only keys a backend actually hashed count: once a pull's best is a full
match nothing can beat it, and the rest of its budget is counted for the pull
but not hashed (`GrindSession.hashed`); a row where that happened says so
("stopped early": its pulls hashed only part of their budgets). An order's chunks are the same job shape with
stop=full (top 1: the same filter, ending at the first full match), so one
figure serves both ("pull/order" in the table). python is measured on one core
(its scan_range in this process); native on one core and on all cores, so
that the two compare per core in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import cast

from .cli import bench_seconds
from .errors import VanikeysError
from .formats import FORMATS
from .grinders.base import FIRST_STEP_KEYS, GrindSession, ScanPlan, timed_step
from .i18n import N_, _, fixed, number, percent
from .job import GrindJob
from .keyspace import Candidate

ANCHORED = {"btc": "^Vani", "did": "^Vani", "trx": "^Vani", "eth": "^dead"}
TWO_TERMS = {"btc": "vani keys", "did": "vani keys", "trx": "vani keys", "eth": "dead beef"}
BACKENDS = ("python", "native", "cuda")

Scan = Callable[[ScanPlan, int, int], list[Candidate]]


@dataclass(frozen=True)
class Measurement:
    """One backend's run on one format: keys hashed in `seconds` of wall-clock time, and what it cost in CPU."""

    backend: str
    device: str
    cores: int  # CPU cores used (0 for a GPU)
    format: str
    pattern: str
    keys: int  # keys hashed
    seconds: float  # wall-clock
    mode: str = "pull/order"  # what was run: pull jobs through the grinder session
    pulls: int = 0  # pull jobs finished within the time (the last one may be cut short)
    cpu_seconds: float = 0.0  # this process's CPU time over the same span (all its threads)
    covered: int = 0  # keys of the pulls' budgets covered: hashed, plus those skipped after a full match
    early: int = 0  # pulls that stopped hashing early (a full match: the rest of the budget skipped)

    @property
    def keys_per_s(self) -> float:
        """Keys hashed per wall-clock second."""
        return self.keys / self.seconds

    @property
    def keys_per_cpu_s(self) -> float:
        """Keys hashed per CPU second; 0.0 when no CPU time was measured (a GPU run)."""
        return self.keys / self.cpu_seconds if self.cpu_seconds > 0 else 0.0

    @property
    def stopped_early(self) -> bool:
        """Whether any job stopped before its budget (a full match ends a job early)."""
        return self.early > 0

    def note(self) -> str:
        """What the row's figure does not show: pulls that stopped hashing early."""
        if not self.early:
            return ""
        return _(
            "stopped early: {early} of {pulls} pulls found a full match, {share} of the budget hashed",
            early=self.early,
            pulls=self.pulls,
            share=percent(self.keys / max(self.covered, 1), 0),
        )

    def as_dict(self) -> dict[str, object]:
        """The fields plus the derived rates, JSON-ready (rates rounded to 0.1)."""
        return {
            **asdict(self),
            "keys_per_s": round(self.keys_per_s, 1),
            "keys_per_cpu_s": round(self.keys_per_cpu_s, 1),
            "stopped_early": self.stopped_early,
        }


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `bench` (keys per second per backend and format) to the `vanikeys` subcommands."""
    bench = commands.add_parser(
        "bench",
        help=_("measure keys per second per backend and format"),
        description=_("Keys per second per backend and format, after warm-up."),
    )
    bench.add_argument(
        "--backend", choices=("all", *BACKENDS), default="all", help=_("which backend (default: every one available)")
    )
    bench.add_argument("--format", choices=("all", *FORMATS), default="all", help=_("which format (default: all four)"))
    bench.add_argument(
        "--pattern", help=_("measure this pattern only (default: an anchored prefix and a two-term pattern)")
    )
    bench.add_argument("--seconds", type=bench_seconds, default=2.0, help=_("seconds per measurement (default 2)"))
    bench.add_argument("--json", action="store_true", help=_("print the figures as JSON (English, for scripts)"))
    bench.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    """Run `vanikeys bench`: print the report (JSON with --json) and return the exit code, 0 on success.

    VanikeysError("bad_job") when --seconds is not in (0, 600].
    """
    if not 0 < args.seconds <= 600:
        raise VanikeysError(
            "bad_job",
            _(
                "--seconds {seconds} is out of range: give more than 0 and at most 600",
                seconds=format(args.seconds, "g"),
            ),
        )
    formats = list(FORMATS) if args.format == "all" else [args.format]
    backends = list(BACKENDS) if args.backend == "all" else [args.backend]
    report = run_bench(
        backends, formats, args.pattern, args.seconds, explicit=args.backend != "all", log=None if args.json else print
    )
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


def run_bench(
    backends: list[str],
    formats: list[str],
    pattern: str | None,
    seconds: float,
    *,
    explicit: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict[str, object]:
    """Measure every (backend, format, pattern); returns the JSON report (figures and per-core ratios)."""
    say = log or (lambda _line: None)
    cores = os.cpu_count() or 1
    machine = f"{platform.machine()} {platform.processor() or ''}".strip()
    say(
        _(
            "vanikeys bench: {machine}, {cores} cores, {seconds} s per figure",
            machine=machine,
            cores=cores,
            seconds=format(seconds, "g"),
        )
    )
    runners = _runners(backends, cores, explicit, say)
    measurements: list[Measurement] = []
    # The columns' widths fit their headings in any language; the figures are right-aligned under them.
    headings = [_(heading) for heading, _width in COLUMNS]
    widths = [max(width, len(heading)) for heading, (_heading, width) in zip(headings, COLUMNS, strict=True)]
    say(" ".join(f"{h:<{w}}" if i < 5 else f"{h:>{w}}" for i, (h, w) in enumerate(zip(headings, widths, strict=True))))
    for format_id in formats:
        patterns = [pattern] if pattern else [ANCHORED[format_id], TWO_TERMS[format_id]]
        for text in patterns:
            for name, device, used_cores, scan in runners:
                job = GrindJob.parse(
                    {
                        "v": 1,
                        "format": format_id,
                        "pattern": text,
                        "budget": PULL_BUDGET[name],
                        "stop": "budget",
                        "top": 1,
                    }
                )
                m = measure(scan, job, seconds, name, device, used_cores)
                measurements.append(m)
                per_core = number(round(m.keys_per_s / m.cores)) if m.cores else "-"
                note = f"  ({m.note()})" if m.early else ""
                cells = (m.backend, m.device[:28], m.format, m.pattern, m.mode)
                figures = (number(round(m.keys_per_s)), per_core, number(round(m.keys_per_cpu_s)))
                say(
                    " ".join(
                        [f"{c:<{w}}" for c, w in zip(cells, widths[:5], strict=True)]
                        + [f"{f:>{w}}" for f, w in zip(figures, widths[5:], strict=True)]
                    )
                    + note
                )
    ratios = per_core_ratios(measurements)
    for line in ratios:
        say(
            _(
                "native vs python per core, {format} {pattern}: {ratio}x",
                format=line["format"],
                pattern=repr(line["pattern"]),
                ratio=fixed(cast(float, line["ratio"]), 1),
            )
        )
    return {
        "machine": {"arch": platform.machine(), "cores": cores, "python": platform.python_version()},
        "seconds_per_figure": seconds,
        "figures": [m.as_dict() for m in measurements],
        "native_vs_python_per_core": ratios,
    }


def _runners(
    backends: list[str], cores: int, explicit: bool, say: Callable[[str], None]
) -> list[tuple[str, str, int, Scan]]:
    runners: list[tuple[str, str, int, Scan]] = []
    for name in backends:
        if name == "python":
            from .grinders.python import scan_range

            runners.append(("python", "CPU x1 (python)", 1, scan_range))
            continue
        try:
            if name == "native":
                from .grinders.native import NativeBackend

                for threads in sorted({1, cores}):
                    backend = NativeBackend(threads=threads)
                    runners.append(("native", backend.device, threads, backend.scan))
            else:
                from .grinders.cuda import load_backend

                gpu = load_backend()
                runners.append(("cuda", gpu.device, 0, gpu.scan))
        except VanikeysError as exc:
            if explicit:
                raise
            say(_("({backend} skipped: {why})", backend=name, why=exc))
    return runners


# The report's columns: heading and least width (backend, device, format, pattern, mode; then the figures).
COLUMNS = (
    (N_("backend"), 8),
    (N_("device"), 28),
    (N_("format"), 6),
    (N_("pattern"), 12),
    (N_("mode"), 10),
    (N_("keys/s"), 14),
    (N_("per core"), 12),
    (N_("keys/CPU-s"), 12),
)

# Keys per pull per backend: the bot's GPU default, and about a second's work on a CPU.
PULL_BUDGET = {"cuda": 1 << 28, "native": 1 << 22, "python": 1 << 15}


@dataclass
class _ScanOnly:
    """A scan function as the grinder session's backend."""

    name: str
    device: str
    scan: Scan

    def close(self) -> None:
        pass


def measure(scan: Scan, job: GrindJob, seconds: float, name: str, device: str, cores: int) -> Measurement:
    """Keys per second of one backend running pulls of `job` back to back for `seconds`
    (after a warm-up step: builds, caches, first-touch)."""
    backend = _ScanOnly(name, device, scan)
    GrindSession(job, backend).step(6 * 1024)
    began, cpu_began = time.perf_counter(), time.process_time()
    keys = covered = pulls = early = 0
    while time.perf_counter() - began < seconds:
        session = GrindSession(job, backend)
        size = FIRST_STEP_KEYS
        while not session.done and time.perf_counter() - began < seconds:
            size = timed_step(session, size)
        keys += session.hashed
        covered += session.checked
        if session.done:
            session.result()  # a pull re-derives and verifies what it hands over
            pulls += 1
            early += session.hashed < session.checked
    took, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    return Measurement(
        name,
        device,
        cores,
        job.format,
        job.pattern,
        keys,
        took,
        pulls=pulls,
        cpu_seconds=cpu,
        covered=covered,
        early=early,
    )


def per_core_ratios(measurements: list[Measurement]) -> list[dict[str, object]]:
    """native (one core) over python (one core), per format and pattern measured in this run."""
    rates = {(m.backend, m.cores, m.format, m.pattern): m.keys_per_s for m in measurements}
    ratios: list[dict[str, object]] = []
    for (backend, used, format_id, text), rate in rates.items():
        reference = rates.get(("python", 1, format_id, text))
        if backend == "native" and used == 1 and reference:
            ratios.append({"format": format_id, "pattern": text, "ratio": round(rate / reference, 2)})
    return ratios
