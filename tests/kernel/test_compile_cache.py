"""Kernel compiles are made once per sources, compiler version and flags, however many test processes want them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from . import compile_cache
from .compile_cache import compiled, entry_name

REPO = Path(__file__).resolve().parents[2]


def counting_compiler(calls: list[int], image: bytes = b"\x7fELF image", delay_s: float = 0.0):  # type: ignore[no-untyped-def]
    def compile_now() -> tuple[bytes, str]:
        calls.append(1)
        time.sleep(delay_s)
        return image, "Used 64 registers"

    return compile_now


def test_a_second_request_reads_the_first_compile_back(tmp_path: Path) -> None:
    calls: list[int] = []
    first = compiled("nvcc", "12.4", ["-arch=sm_80"], counting_compiler(calls), folder=tmp_path)
    again = compiled("nvcc", "12.4", ["-arch=sm_80"], counting_compiler(calls), folder=tmp_path)
    assert calls == [1]
    assert (first.cached, again.cached) == (False, True)
    assert again.image == first.image == b"\x7fELF image" and again.report == "Used 64 registers"


def test_another_compiler_version_flag_or_source_compiles_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    for version, flags in (
        ("12.4", ["-arch=sm_80"]),
        ("12.5", ["-arch=sm_80"]),
        ("12.4", ["-arch=sm_86"]),
        ("12.4", ["-arch=sm_80", "-O3"]),
    ):
        assert not compiled("nvcc", version, flags, counting_compiler(calls), folder=tmp_path).cached
    assert compiled("nvrtc", "12.4", ["-arch=sm_80"], counting_compiler(calls), folder=tmp_path).cached is False
    names = {entry_name("nvcc", "12.4", ["-arch=sm_80"])}
    monkeypatch.setattr(compile_cache, "sources_digest", lambda: b"an edited field.cuh")
    names.add(entry_name("nvcc", "12.4", ["-arch=sm_80"]))
    assert len(names) == 2 and len(calls) == 5


def test_processes_asking_at_once_wait_for_one_compile(tmp_path: Path) -> None:
    calls: list[int] = []
    results = []

    def ask() -> None:
        results.append(compiled("nvrtc", "12.9", ["sm_90"], counting_compiler(calls, delay_s=0.3), folder=tmp_path))

    threads = [threading.Thread(target=ask) for _ in range(3)]  # each its own lock descriptor, as processes have
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert calls == [1] and len(results) == 3
    assert sorted(r.cached for r in results) == [False, True, True]


def test_an_entry_without_its_report_is_compiled_again(tmp_path: Path) -> None:
    calls: list[int] = []
    compiled("nvcc", "12.4", ["x"], counting_compiler(calls), folder=tmp_path)
    (tmp_path / "kernel-compiles" / f"{entry_name('nvcc', '12.4', ['x'])}.log").unlink()
    assert not compiled("nvcc", "12.4", ["x"], counting_compiler(calls), folder=tmp_path).cached
    assert calls == [1, 1]


NATIVE_BUILD = """
import sys, time
from pathlib import Path
from gpu_worker.grinders import native

counter, go = Path(sys.argv[1]), Path(sys.argv[2])
native.compiler = lambda: "/bin/sh"
native.compile_command = lambda cxx, source, output, gpu_paths=False: [
    cxx, "-c", f"echo built >> {counter}; sleep 0.5; echo library > {output}"]
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
print(native.build_library())
"""


def test_two_processes_building_the_native_library_at_once_build_it_once(tmp_path: Path) -> None:
    counter, go = tmp_path / "builds", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO), "VANIKEYS_CACHE": str(tmp_path / "cache")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", NATIVE_BUILD, str(counter), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for proc in procs:  # both imported and waiting: then both ask for the library within milliseconds
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        go.touch()
        outputs = [p.communicate(timeout=60) for p in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    assert counter.read_text() == "built\n"
    [library] = {out.strip() for out, _ in outputs}
    assert Path(library).read_text() == "library\n"
