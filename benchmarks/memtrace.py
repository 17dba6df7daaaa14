"""Opt-in memory tracing for the load benchmark's bot, and a diff of two of its snapshots.

In the bot (benchmarks/load_bot.py calls `start_from_environment()`): when VANIKEYS_LOAD_TRACEMALLOC names a
directory, tracemalloc starts with VANIKEYS_LOAD_TRACEMALLOC_FRAMES frames (default 12), and snapshots go into
that directory: `mark-N.tracemalloc` on each SIGUSR1 (load.py --trace-memory sends one each time it has let
the bot go quiet: after the warm-up and after each half of the soak, so that work in flight is not mistaken
for growth), and `snap-SECONDS.tracemalloc` every VANIKEYS_LOAD_TRACEMALLOC_EVERY seconds from a daemon thread
(default 0: none). Beside each, `counts-....json`: asyncio tasks alive, threads, the traced total.

Live objects are not counted by type: gc.get_objects() from a second thread can catch a tuple another thread is
still building (tuple(generator)), and that tuple's owner then fails with "SystemError: bad argument to internal
function" (seen: python-telegram-bot dropped a batch of updates that way).

Comparing two of them (after the warm-up, and the last one):

    .venv/bin/python benchmarks/memtrace.py DIR/mark-1.tracemalloc DIR/mark-2.tracemalloc [--top 25]

prints the biggest growth grouped by the allocating line, by the innermost frame in the project (bot/,
gpu_worker/, payments/), and by full traceback, and the tasks alive at each.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import threading
import time
import tracemalloc
from pathlib import Path

ENV_DIR = "VANIKEYS_LOAD_TRACEMALLOC"
ENV_FRAMES = "VANIKEYS_LOAD_TRACEMALLOC_FRAMES"
ENV_EVERY = "VANIKEYS_LOAD_TRACEMALLOC_EVERY"
ROOT = Path(__file__).resolve().parents[1]
PROJECT_PARTS = ("/bot/", "/gpu_worker/", "/payments/")
IGNORED = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, __file__),
)


def counts() -> dict[str, int]:
    """Safe to read from another thread: no walk over the interpreter's objects."""
    return {
        "asyncio_tasks": len(asyncio.tasks._all_tasks),
        "threads": threading.active_count(),
        "traced_bytes": tracemalloc.get_traced_memory()[0],
    }


def dump(directory: Path, started: float) -> None:
    seconds = int(time.monotonic() - started)
    snapshot = tracemalloc.take_snapshot().filter_traces(IGNORED)
    snapshot.dump(str(directory / f"snap-{seconds:05d}.tracemalloc"))
    (directory / f"counts-{seconds:05d}.json").write_text(json.dumps(counts()))


def dump_mark(directory: Path) -> Path:
    """SIGUSR1: a snapshot now, `mark-N.tracemalloc` (N counts from 1), renamed into place once complete."""
    number = 1 + len(list(directory.glob("mark-*.tracemalloc")))
    final = directory / f"mark-{number}.tracemalloc"
    partial = final.with_suffix(".partial")
    gc.collect()  # garbage in reference cycles waits for a full collection: it is not growth
    tracemalloc.take_snapshot().filter_traces(IGNORED).dump(str(partial))
    final.with_name(f"counts-mark-{number}.json").write_text(json.dumps(counts()))
    partial.rename(final)
    return final


def start_from_environment() -> bool:
    """Start tracing when the environment asks for it: snapshots every N s from a daemon thread (N > 0), and
    one on each SIGUSR1 (taken in the main thread, when the load benchmark has let the bot go quiet)."""
    target = os.environ.get(ENV_DIR, "")
    if not target:
        return False
    directory = Path(target)
    directory.mkdir(parents=True, exist_ok=True)
    every = float(os.environ.get(ENV_EVERY, "0"))
    tracemalloc.start(int(os.environ.get(ENV_FRAMES, "12")))
    started = time.monotonic()
    signal.signal(signal.SIGUSR1, lambda *_: dump_mark(directory))

    def loop() -> None:
        while True:
            time.sleep(every)
            dump(directory, started)

    if every > 0:
        threading.Thread(target=loop, name="memtrace", daemon=True).start()
    return True


def innermost_project_frame(trace: tracemalloc.Traceback) -> str:
    for frame in reversed(trace):  # a Traceback lists the oldest frame first
        if any(part in frame.filename for part in PROJECT_PARTS):
            return f"{os.path.relpath(frame.filename, ROOT)}:{frame.lineno}"
    return "(no project frame)"


def by_project_frame(old: tracemalloc.Snapshot, new: tracemalloc.Snapshot) -> list[tuple[str, int, int]]:
    """Growth grouped by the innermost project frame of each traceback: (where, bytes, blocks)."""

    def group(snapshot: tracemalloc.Snapshot) -> dict[str, list[int]]:
        totals: dict[str, list[int]] = {}
        for stat in snapshot.statistics("traceback"):
            key = innermost_project_frame(stat.traceback)
            entry = totals.setdefault(key, [0, 0])
            entry[0] += stat.size
            entry[1] += stat.count
        return totals

    before, after = group(old), group(new)
    rows = [
        (k, after.get(k, [0, 0])[0] - before.get(k, [0, 0])[0], after.get(k, [0, 0])[1] - before.get(k, [0, 0])[1])
        for k in set(before) | set(after)
    ]
    return sorted(rows, key=lambda r: -r[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="diff two tracemalloc snapshots of the load benchmark's bot")
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--tracebacks", type=int, default=8, help="full tracebacks to print")
    args = parser.parse_args(argv)
    old = tracemalloc.Snapshot.load(args.old)
    new = tracemalloc.Snapshot.load(args.new)
    total_old = sum(s.size for s in old.statistics("filename"))
    total_new = sum(s.size for s in new.statistics("filename"))
    print(
        f"traced: {total_old / 2**20:.1f} MB -> {total_new / 2**20:.1f} MB ({(total_new - total_old) / 2**20:+.2f} MB)"
    )
    print(f"\ntop {args.top} growth by allocating line:")
    for stat in new.compare_to(old, "lineno")[: args.top]:
        frame = stat.traceback[-1]
        print(
            f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  "
            f"{frame.filename.split('/lib/')[-1]}:{frame.lineno}"
        )
    print(f"\ntop {args.top} growth by innermost project frame:")
    for where, size, count in by_project_frame(old, new)[: args.top]:
        print(f"  {size / 1024:+9.1f} KiB {count:+7d} blocks  {where}")
    print(f"\ntop {args.tracebacks} growth by traceback:")
    for stat in new.compare_to(old, "traceback")[: args.tracebacks]:
        print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
        for line in stat.traceback.format(most_recent_first=True)[:24]:
            print(f"      {line}")
    old_counts, new_counts = (
        Path(p).with_name(
            Path(p).name.replace("snap-", "counts-").replace("mark-", "counts-mark-").replace(".tracemalloc", ".json")
        )
        for p in (args.old, args.new)
    )
    if old_counts.exists() and new_counts.exists():
        before, after = json.loads(old_counts.read_text()), json.loads(new_counts.read_text())
        print("\n" + ", ".join(f"{k} {before.get(k)} -> {after.get(k)}" for k in after))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
