"""`vanikeys bench` prints real figures; the native build is cached by source hash and degrades cleanly."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gpu_worker.cli import main
from gpu_worker.errors import VanikeysError
from gpu_worker.grinders import native
from gpu_worker.grinders.base import get_backend


def test_bench_reports_native_and_python_per_core(native_backend: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--format", "eth", "--pattern", "^be ef", "--seconds", "0.05", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    figures = {(f["backend"], f["cores"]): f for f in report["figures"]}
    assert ("python", 1) in figures and ("native", 1) in figures
    for figure in report["figures"]:
        assert figure["format"] == "eth" and figure["pattern"] == "^be ef"
        assert figure["keys"] > 0 and figure["seconds"] >= 0.05 / 3
        assert figure["keys_per_s"] == pytest.approx(figure["keys"] / figure["seconds"], rel=1e-3)
    (ratio,) = report["native_vs_python_per_core"]
    expected = figures[("native", 1)]["keys_per_s"] / figures[("python", 1)]["keys_per_s"]
    assert ratio["ratio"] == pytest.approx(expected, rel=0.01) and ratio["ratio"] > 1


def test_bench_table_and_its_errors(native_backend: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--backend", "native", "--format", "did", "--seconds", "0.05"]) == 0
    table = capsys.readouterr().out
    assert "^Vani" in table and "vani keys" in table and "keys/s" in table
    assert main(["bench", "--seconds", "0"]) == 2
    assert "--seconds" in capsys.readouterr().err
    assert main(["bench", "--backend", "native", "--pattern", "^0OIl", "--format", "btc"]) == 2


def test_native_build_is_cached_by_source_hash(native_backend: object) -> None:
    built = native.build_library()
    assert built.exists() and built == native.build_library()
    assert built.parent == native.cache_dir()


def test_no_compiler_means_python_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(native, "compiler", lambda: None)
    monkeypatch.setenv("VANIKEYS_CACHE", str(tmp_path))
    native.load_library.cache_clear()
    try:
        with pytest.raises(VanikeysError) as raised:
            native.load_backend()
        assert raised.value.code == "backend_unavailable" and "compiler" in str(raised.value)
        with caplog.at_level(logging.WARNING, logger="gpu_worker.grinders.native"):
            backend = get_backend("auto")
        try:
            assert backend.name == "python"
        finally:
            backend.close()
        assert any("native backend unavailable" in r.getMessage() for r in caplog.records)
    finally:
        native.load_library.cache_clear()


def test_a_shipped_cubin_is_used_only_while_its_stamp_matches_the_sources(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import shutil

    from gpu_worker.grinders import cuda

    kernels = tmp_path / "kernels"
    shutil.copytree(native.kernel_dir(), kernels, ignore=shutil.ignore_patterns("cubin"))
    (kernels / "cubin").mkdir()
    shipped = kernels / "cubin" / "grind_sm_90.cubin"
    shipped.write_bytes(b"\x7fELF shipped")
    monkeypatch.setattr(cuda, "kernel_dir", lambda: kernels)
    monkeypatch.setenv("VANIKEYS_CACHE", str(tmp_path / "cache"))
    compiled: list[str] = []

    def fake_compile(arch: str, **_: object) -> tuple[bytes, str]:  # NVRTC itself is tested in test_nvrtc.py
        compiled.append(arch)
        return b"\x7fELF compiled", ""

    monkeypatch.setattr(cuda, "compile_kernel", fake_compile)
    shipped.with_suffix(".sha").write_text(cuda.source_digest() + "\n")
    assert cuda.cubin_for("sm_90") == shipped and compiled == []
    # Edit a kernel source: the stamp no longer matches, so the cubin is rebuilt (once) and cached.
    (kernels / "match.cuh").write_text((kernels / "match.cuh").read_text() + "\n// edited\n")
    rebuilt = cuda.cubin_for("sm_90")
    assert rebuilt != shipped and rebuilt.read_bytes() == b"\x7fELF compiled" and compiled == ["sm_90"]
    assert cuda.cubin_for("sm_90") == rebuilt and compiled == ["sm_90"]


def test_bench_measures_pulls_with_their_rising_minimum_score(native_backend: object) -> None:
    from gpu_worker.bench import measure
    from gpu_worker.job import GrindJob

    minimum_scores: list[int] = []

    def scan(plan, first_key, n_keys):  # the real native scan, watched
        minimum_scores.append(plan.min_score)
        return native_backend.scan(plan, first_key, n_keys)

    # A small budget, so that whole pulls finish within the time even on a loaded machine (2^17 keys in
    # 0.3 s did not: 6,144 keys on a 2-core machine at load 7, 28,672 in 1.5 s at load 14; the first steps,
    # with no minimum score yet, cost about 10 us of CPU a key there).
    job = GrindJob.parse({"v": 1, "format": "btc", "pattern": "^Vani", "budget": 1 << 15, "stop": "budget", "top": 1})
    figure = measure(scan, job, 3.0, "native", "CPU x2 (native)", 2)
    assert figure.mode == "pull/order" and figure.keys > 0 and figure.seconds >= 3.0
    assert figure.pulls >= 1  # whole pulls ran (each re-derived and verified)
    # A pull scans its first keys with no minimum, then only for keys beating its best so far:
    # the prefix filter skips most keys, which a minimum of 0 throughout would never let it do.
    assert minimum_scores[0] == 0 and max(minimum_scores) >= 2
    assert sum(1 for s in minimum_scores if s > 0) > len(minimum_scores) // 2


def test_the_bench_of_an_easy_pattern_counts_only_keys_hashed() -> None:
    """Before: after a full match a pull skipped the rest of its budget unhashed and the bench counted it as
    checked (eth '^dead' showed 89 M keys/s beside 3.4 M for '^deadbeef'). Now an easy pattern's keys per
    CPU-second are what the same backend hashes on a pattern it never completes, and the row says it stopped early."""
    from gpu_worker.bench import measure
    from gpu_worker.grinders.python import scan_range
    from gpu_worker.job import GrindJob

    def bench(pattern: str):
        job = GrindJob.parse(
            {"v": 1, "format": "eth", "pattern": pattern, "budget": 1 << 16, "stop": "budget", "top": 1}
        )
        return measure(scan_range, job, 1.2, "python", "CPU x1 (python)", 1)

    easy, hard = bench("^d"), bench("^dead beef")  # a full match every 16 keys; about one in 4e9
    assert easy.pulls >= 1 and easy.early == easy.pulls and easy.stopped_early
    assert easy.keys < easy.covered / 4  # most of each budget was never hashed
    assert "stopped early" in easy.note()
    assert not hard.stopped_early and hard.keys == hard.covered and hard.note() == ""
    assert easy.cpu_seconds > 0 and hard.cpu_seconds > 0
    assert easy.keys_per_cpu_s < 2 * hard.keys_per_cpu_s  # counting the skipped keys made it 13x
    row = easy.as_dict()
    assert row["stopped_early"] is True and row["keys_per_cpu_s"] == pytest.approx(easy.keys_per_cpu_s, rel=1e-3)


def test_a_pull_still_covers_its_whole_budget_when_it_stops_hashing_early() -> None:
    from gpu_worker.grinders.base import FIRST_STEP_KEYS, GrindSession
    from gpu_worker.grinders.python import load_backend
    from gpu_worker.job import GrindJob

    job = GrindJob.parse({"v": 1, "format": "eth", "pattern": "^d", "budget": 1 << 15, "stop": "budget", "top": 1})
    backend = load_backend()
    try:
        session = GrindSession(job, backend)
        while not session.done:
            session.step(FIRST_STEP_KEYS)
        result = session.result()
    finally:
        backend.close()
    assert result.checked == session.checked == job.budget  # what the bot verifies per pull is unchanged
    assert result.found_full and session.hashed < job.budget and session.hashed % FIRST_STEP_KEYS == 0
