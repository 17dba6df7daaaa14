"""The native build never runs a legacy-SSE instruction while wide vector registers may be dirty.

The SHA extensions exist only in the legacy SSE encoding; the rest of the native
build uses 256/512-bit vectors (RIPEMD-160 and Keccak in lanes, the compiler's
own vectorisation). Executing a legacy-SSE instruction after a 256/512-bit one
without VZEROUPPER between them is a state transition: cheap on bare metal, but
measured at about 0.5 us each on the shared dev box (a hypervisor handles it),
where it made btc scans 75 times slower (0.12 against 9.1 M keys per CPU
second). The kernel keeps the SHA rounds in functions of their own that clear
the upper halves first and use no wide register; this checks the built library.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from gpu_worker.grinders.native import build_library

# Legacy (non-VEX) SSE instructions the build could contain; VEX/EVEX forms start with 'v'.
LEGACY_SSE = re.compile(r"\t(sha1|sha256|pshufb|pshufd|palignr|pblendw|paddd|pxor|movdq[au]|aes)[a-z0-9]*\s")
WIDE = re.compile(r"%[yz]mm")
FUNCTION = re.compile(r"^[0-9a-f]+ <(.+)>:$")


def _functions(library: str) -> Iterator[tuple[str, list[str]]]:
    listing = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", library], capture_output=True, text=True, check=True
    ).stdout
    name, body = "", []
    for line in listing.splitlines():
        header = FUNCTION.match(line)
        if header:
            if name:
                yield name, body
            name, body = header.group(1), []
        elif line.strip():
            body.append(line)
    if name:
        yield name, body


def legacy_sse_offenders(library: str) -> list[str]:
    """Functions with a legacy-SSE instruction that do not first clear the upper halves, or that use wide registers."""
    offenders = []
    for name, body in _functions(library):
        legacy = [i for i, line in enumerate(body) if LEGACY_SSE.search(line)]
        if not legacy:
            continue
        cleared = any("vzeroupper" in line for line in body[: legacy[0]])
        if not cleared or any(WIDE.search(line) for line in body):
            offenders.append(f"{name} ({len(legacy)} legacy-SSE instructions)")
    return offenders


@pytest.fixture(scope="module")
def library(native_lib: ctypes.CDLL) -> str:
    if shutil.which("objdump") is None:
        pytest.skip("objdump (binutils) is not installed")
    return str(build_library())


def test_sha_rounds_run_with_clean_upper_halves(library: str, native_lib: ctypes.CDLL) -> None:
    if not native_lib.vk_sha_extensions():
        pytest.skip("this CPU has no SHA extensions: the build has no legacy-SSE SHA code")
    names = {name for name, body in _functions(library) if any("sha256rnds2" in line for line in body)}
    assert names, "a build with the SHA extensions has SHA-256 round instructions"
    assert legacy_sse_offenders(library) == []


def test_the_check_finds_a_dirty_transition(tmp_path: object) -> None:
    """The check itself: a function mixing a 256-bit add with a legacy SHA round is reported."""
    cxx = shutil.which("g++") or shutil.which("clang++")
    if cxx is None or shutil.which("objdump") is None:
        pytest.skip("needs a C++ compiler and objdump")
    from pathlib import Path

    source = Path(str(tmp_path)) / "mixed.cpp"
    source.write_text(
        "#include <immintrin.h>\n"
        'extern "C" __m256i wide_then_sha(__m256i x, __m128i *a, __m128i b) {\n'
        "  x = _mm256_add_epi32(x, x);\n"
        "  *a = _mm_sha256rnds2_epu32(*a, b, b);\n"
        "  return x;\n"
        "}\n"
        'extern "C" void clean_sha(__m128i *a, __m128i b) { _mm256_zeroupper(); '
        "*a = _mm_sha256rnds2_epu32(*a, b, b); }\n"
    )
    output = Path(str(tmp_path)) / "mixed.so"
    subprocess.run([cxx, "-O2", "-mavx2", "-msha", "-shared", "-fPIC", "-o", str(output), str(source)], check=True)
    offenders = legacy_sse_offenders(str(output))
    assert [o.split(" ")[0] for o in offenders] == ["wide_then_sha"]
