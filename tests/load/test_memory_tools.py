"""The load benchmark's memory tools: the snapshot diff (benchmarks/memtrace.py) and the RSS split
(benchmarks/mallocstats.py) report what they are given."""

from __future__ import annotations

import inspect
import time
import tracemalloc
from pathlib import Path

import pytest

from benchmarks import mallocstats, memtrace


def test_the_diff_names_the_line_that_grew(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tracemalloc.start(8)
    try:
        tracemalloc.take_snapshot().dump(str(tmp_path / "mark-1.tracemalloc"))
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        kept = [f"grown-{i}" * 8 for i in range(5000)]  # the growth, allocated on this line
        tracemalloc.take_snapshot().dump(str(tmp_path / "mark-2.tracemalloc"))
    finally:
        tracemalloc.stop()
    assert (
        memtrace.main(
            [
                str(tmp_path / "mark-1.tracemalloc"),
                str(tmp_path / "mark-2.tracemalloc"),
                "--top",
                "3",
                "--tracebacks",
                "1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert len(kept) == 5000
    assert "traced:" in out and "test_memory_tools.py:" in out
    top_line = out.split("growth by allocating line:")[1].splitlines()[1]
    assert f"test_memory_tools.py:{line}" in top_line and int(top_line.split("blocks")[0].split()[-1]) >= 5000


def test_the_rss_split_has_its_fields() -> None:
    row = mallocstats.sample(time.monotonic())
    assert row["rss_anon_mb"] > 0 and row["py_blocks"] > 0
    if mallocstats._mallinfo2() is not None:  # glibc
        assert row["in_use_mb"] > 0 and row["arena_mb"] >= row["free_held_mb"] >= 0
