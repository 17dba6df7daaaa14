"""The native build compiles on every x86-64 host it may meet, not only on this one.

The kernel picks host-only code by what the compiler targets: vector lanes with AVX-512,
the pipelined btc hashing only with the SHA extensions as well. A host with AVX-512 but no
SHA extensions (Skylake-X, Cascade Lake) once failed to build: the batch code called the
SHA-extension rounds outside their guard. Checked with -fsyntax-only (seconds, no code).
"""

from __future__ import annotations

import subprocess

import pytest

from gpu_worker.grinders.native import compile_command, compiler, kernel_dir

TARGETS = {
    "avx512 without sha": ["-march=skylake-avx512"],
    "avx512 with sha": ["-march=icelake-server"],
    "avx2 with sha": ["-march=znver2"],
    "baseline x86-64": ["-march=x86-64"],
}


@pytest.mark.parametrize("flags", list(TARGETS.values()), ids=list(TARGETS))
def test_native_source_compiles_for_other_hosts(flags: list[str]) -> None:
    cxx = compiler()
    if cxx is None or "g++" not in cxx:
        pytest.skip("needs g++ (the -march names are g++'s)")
    command = compile_command(cxx, kernel_dir() / "native_driver.cpp", kernel_dir() / "unused.so")
    command = [arg for arg in command if arg not in ("-march=native", "-shared", "-fPIC", "-o", command[-2])]
    command[1:1] = [*flags, "-fsyntax-only"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
