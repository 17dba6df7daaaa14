"""The GPU's own code paths, run on the CPU: the kernel built without the host-only swaps.

The native library normally hashes with the CPU's SHA extensions and hashes a
point's six keys side by side in vector lanes. Built with -DVK_PORTABLE_HOST
it runs exactly what the GPU runs above the field primitives (portable
SHA-256, one RIPEMD-160 or Keccak after another), and must still agree with
the python reference key for key.
"""

from __future__ import annotations

import ctypes

import pytest

from gpu_worker.errors import VanikeysError
from gpu_worker.grinders.native import NativeBackend, load_library
from gpu_worker.grinders.python import scan_range

from .test_native_vs_python import CASES, STARTS, _plan


@pytest.fixture(scope="module")
def gpu_paths_backend() -> NativeBackend:
    try:
        lib: ctypes.CDLL = load_library(gpu_paths=True)
    except VanikeysError as exc:
        pytest.skip(str(exc))
    assert lib.vk_sha_extensions() == 0
    return NativeBackend(gpu_paths=True)


@pytest.mark.parametrize(("format_id", "text", "case", "fuzzy"), CASES)
def test_gpu_code_paths_equal_reference(
    gpu_paths_backend: NativeBackend, format_id: str, text: str, case: str, fuzzy: bool
) -> None:
    plan = _plan(format_id, text, case, fuzzy, STARTS[3])
    assert gpu_paths_backend.scan(plan, 5, 901) == scan_range(plan, 5, 901)
    split = _plan(format_id, text, case, fuzzy, STARTS[2], split=True)
    assert gpu_paths_backend.scan(split, 0, 300) == scan_range(split, 0, 300)
