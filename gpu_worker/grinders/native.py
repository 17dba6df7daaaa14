"""The native backend: the CUDA kernel source compiled for this CPU, run on every core.

At first use the system C++ compiler builds gpu_worker/kernels/native_driver.cpp
(which includes the one kernel source, grind.cu) into a shared library cached
under $VANIKEYS_CACHE or ~/.cache/vanikeys, keyed by a hash of the sources and
the compiler command; later runs load the cached library with ctypes. With no
compiler `load_backend` raises backend_unavailable, and `get_backend("auto")`
falls back to python (with a warning logged here).
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path

from ..errors import VanikeysError
from ..kernel_plan import (
    Affine,
    KernelCandidate,
    KernelPattern,
    ScanOut,
    ScanParams,
    generator_table,
)
from .launch import KernelDriver

log = logging.getLogger(__name__)

KERNEL_SOURCES = (
    "vk_common.cuh",
    "field.cuh",
    "point.cuh",
    "sha256.cuh",
    "ripemd160.cuh",
    "keccak.cuh",
    "encode.cuh",
    "match.cuh",
    "grind.cuh",
    "grind.cu",
    "native_driver.cpp",
)
ABI_VERSION = 2
GROUP_SIZE = 512  # points per batch inversion: 16 KiB of running products, comfortably in L1/L2
POINTS_PER_ITEM = 16 * GROUP_SIZE  # one work item (an OpenMP iteration): one scalar multiplication per 8,192 points
CAPACITY = 1 << 16  # candidate buffer slots per launch
STATE_ITEMS = 1024  # work items whose centres carry over to the next launch of the same pull


def kernel_dir() -> Path:
    """The package's directory of kernel sources (shared by the native and cuda builds)."""
    return Path(str(resources.files("gpu_worker") / "kernels"))


def cache_dir() -> Path:
    """Where built libraries are kept: the worker's `cache` setting when set, else ~/.cache/vanikeys."""
    from ..settings import worker_setting

    configured = worker_setting("cache")
    return Path(configured).expanduser() if isinstance(configured, Path) else Path.home() / ".cache" / "vanikeys"


def compiler() -> str | None:
    """The path of the first C++ compiler found on PATH: the `cxx` setting, then g++, clang++, c++; None if none is."""
    from ..settings import worker_setting

    for name in (worker_setting("cxx"), "g++", "clang++", "c++"):
        if isinstance(name, str) and name and (found := shutil.which(name)):  # the setting is a str or None
            return found
    return None


def compile_command(cxx: str, source: Path, output: Path, *, gpu_paths: bool = False) -> list[str]:
    """gpu_paths: build with the GPU's own hash code (no SHA extensions, no vector lanes), for tests."""
    flags = ["-O1", "-DVK_PORTABLE_HOST"] if gpu_paths else ["-O3"]
    return [
        cxx,
        *flags,
        "-march=native",
        "-std=c++17",
        "-fopenmp",
        "-shared",
        "-fPIC",
        "-w",
        "-o",
        str(output),
        str(source),
    ]


_build_lock = threading.Lock()


def build_library(*, gpu_paths: bool = False) -> Path:
    """Compile (once per source hash and flags) and return the path of the shared library."""
    cxx = compiler()
    if cxx is None:
        raise VanikeysError(
            "backend_unavailable",
            "the native backend needs a C++ compiler (g++ or clang++): install one or use --backend python",
        )
    kernels = kernel_dir()
    digest = hashlib.sha256()
    for name in KERNEL_SOURCES:
        digest.update(name.encode() + b"\0" + (kernels / name).read_bytes())
    digest.update(" ".join(compile_command(cxx, Path("in"), Path("out"), gpu_paths=gpu_paths)).encode())
    target = cache_dir() / f"vanikeys-native-{digest.hexdigest()[:16]}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # One build per target across threads and processes (test workers, bot processes starting at once): the
    # others wait for it instead of compiling the same library beside it.
    with _build_lock, open(target.with_suffix(".lock"), "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if target.exists():
            return target
        # Build beside the target and rename: a concurrent process never loads half a file.
        fd, partial = tempfile.mkstemp(dir=target.parent, suffix=".so.partial")
        os.close(fd)
        try:
            built = subprocess.run(
                compile_command(cxx, kernels / "native_driver.cpp", Path(partial), gpu_paths=gpu_paths),
                capture_output=True,
                text=True,
            )
            if built.returncode != 0:
                log.warning("native kernel build failed:\n%s", built.stderr[-4000:])
                raise VanikeysError(
                    "backend_unavailable", "the native kernel did not compile on this machine: use --backend python"
                )
            os.replace(partial, target)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    return target


@cache
def load_library(*, gpu_paths: bool = False) -> ctypes.CDLL:
    """The native kernel library, built if needed and loaded once per gpu_paths.

    Raises VanikeysError("backend_unavailable") when it cannot be built or its ABI version or struct sizes do not
    match this module's.
    """
    lib = ctypes.CDLL(str(build_library(gpu_paths=gpu_paths)))
    if lib.vk_abi_version() != ABI_VERSION:
        raise VanikeysError("backend_unavailable", "a stale native kernel build was found: clear ~/.cache/vanikeys")
    for name, struct in (
        ("vk_sizeof_pattern", KernelPattern),
        ("vk_sizeof_params", ScanParams),
        ("vk_sizeof_out", ScanOut),
    ):
        if getattr(lib, name)() != ctypes.sizeof(struct):
            raise VanikeysError("backend_unavailable", f"native kernel layout mismatch ({name}): use --backend python")
    lib.vk_native_scan.argtypes = [
        ctypes.POINTER(KernelPattern),
        ctypes.POINTER(ScanParams),
        ctypes.POINTER(Affine),
        ctypes.POINTER(KernelCandidate),
        ctypes.POINTER(ScanOut),
        ctypes.c_int,
        ctypes.POINTER(Affine),
    ]
    lib.vk_native_scan.restype = ctypes.c_int
    return lib


class NativeDevice:
    """The kernel as a shared library on this CPU: one launch slot, each launch run to the end when submitted."""

    name = "native"
    group_size = GROUP_SIZE
    slots = 1

    def __init__(self, threads: int, capacity: int, gpu_paths: bool) -> None:
        self.threads = threads
        self.description = f"CPU x{threads} (native)"
        self.capacity = capacity
        self._lib = load_library(gpu_paths=gpu_paths)
        self._candidates = (KernelCandidate * capacity)()
        self._centres = (Affine * STATE_ITEMS)()
        self._out = ScanOut()

    def points_per_item(self, n_points: int) -> int:
        """KernelDevice.points_per_item: always POINTS_PER_ITEM, whatever the launch size."""
        return POINTS_PER_ITEM

    def submit(self, slot: int, params: ScanParams, pattern: KernelPattern) -> None:
        """KernelDevice.submit: runs the whole launch on `threads` OpenMP threads before returning.

        Raises VanikeysError("backend_unavailable") if the kernel rejects the parameters.
        """
        self._out = ScanOut()
        status = self._lib.vk_native_scan(
            ctypes.byref(pattern),
            ctypes.byref(params),
            generator_table(GROUP_SIZE // 2),
            self._candidates,
            ctypes.byref(self._out),
            self.threads,
            self._centres,
        )
        if status != 0:
            raise VanikeysError(
                "backend_unavailable", "the native kernel rejected its launch parameters: use --backend python"
            )

    def read_out(self, slot: int) -> ScanOut:
        """KernelDevice.read_out: the last launch's count, error bits and histogram (there is one slot)."""
        return self._out

    def read_candidates(self, slot: int, held: int) -> Sequence[KernelCandidate]:
        """KernelDevice.read_candidates: the last launch's first `held` candidates."""
        return self._candidates[:held]

    def close(self) -> None:
        """Nothing to release: the buffers are ordinary memory."""
        pass


class NativeBackend(KernelDriver):
    """The native backend: the shared launch plan (launch.py) over NativeDevice."""

    def __init__(self, threads: int | None = None, *, capacity: int = CAPACITY, gpu_paths: bool = False) -> None:
        self.threads = max(1, threads if threads is not None else (os.cpu_count() or 1))
        super().__init__(NativeDevice(self.threads, capacity, gpu_paths), STATE_ITEMS)


def load_backend() -> NativeBackend:
    """A NativeBackend on a thread per CPU core (VANIKEYS_CPU_CORES, else every core); raises
    VanikeysError("backend_unavailable") (and logs it) if the kernel cannot load."""
    from ..settings import worker_setting

    cores = worker_setting("cpu_cores")
    try:
        return NativeBackend(cores if isinstance(cores, int) else None)
    except VanikeysError as exc:
        log.warning("native backend unavailable (%s); the python backend is much slower", exc)
        raise
