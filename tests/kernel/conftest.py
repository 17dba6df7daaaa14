"""Shared fixtures: the native build of the kernel, compiled once per test session (source-hash cache)."""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator

import pytest

from gpu_worker.errors import VanikeysError

# pytest's record_property: ("report", line) lines are printed at the end of the run (tests/conftest.py)
RecordProperty = Callable[[str, object], None]


@pytest.fixture(scope="session")
def native_lib() -> ctypes.CDLL:
    from gpu_worker.grinders.native import load_library

    try:
        lib = load_library()
    except VanikeysError as exc:  # no C++ compiler on this machine
        pytest.skip(str(exc))
    u8p = ctypes.c_char_p
    lib.vk_test_score.argtypes = [ctypes.c_void_p, u8p, ctypes.c_int]
    lib.vk_test_prefix_possible.argtypes = [ctypes.c_void_p, ctypes.c_int, u8p, ctypes.c_int]
    lib.vk_test_head_possible.argtypes = [ctypes.c_void_p, ctypes.c_int, u8p, ctypes.c_int]
    lib.vk_test_btc_bodies.argtypes = [ctypes.c_void_p, ctypes.c_void_p, u8p, ctypes.c_int]
    return lib


@pytest.fixture(scope="session")
def native_backend(native_lib: ctypes.CDLL) -> Iterator[object]:
    from gpu_worker.grinders.native import NativeBackend

    backend = NativeBackend()
    yield backend
    backend.close()
