"""The cuda backend: gpu_worker/kernels/grind.cu on an NVIDIA GPU through CuPy.

The kernel comes from a cubin precompiled for the GPU's architecture
(gpu_worker/kernels/cubin/grind_sm_XX.cubin, built by scripts/build_cubins.py
into the worker image) or, failing that, from NVRTC at first use (cached by
source hash like the native build). `compile_cubin` drives NVRTC through
ctypes, so compiling needs no GPU and no CuPy: CI uses it to compile for every
supported architecture.

The launch plan (launch window, kept centres, exact candidate handling, the
next launch queued ahead) is grinders/launch.py's KernelDriver, shared with the
native backend; this module is only the device: cubin, stream, buffers, copies.
The pattern goes to __constant__ memory once per job.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import hashlib
import logging
import os
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

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
from .native import KERNEL_SOURCES, cache_dir, kernel_dir

log = logging.getLogger(__name__)

ARCHITECTURES = ("sm_80", "sm_86", "sm_89", "sm_90")
GROUP_SIZE = 1024  # points per batch inversion (VanitySearch's GRP_SIZE)
GROUPS_PER_THREAD = 4
THREADS_PER_BLOCK = 128
CAPACITY = 1 << 20  # candidate slots: above one per thread, so a first launch (every thread's first key) fits


# ---- NVRTC, through ctypes --------------------------------------------------------------


@cache
def nvrtc() -> ctypes.CDLL:
    """libnvrtc from the nvidia-cuda-nvrtc-cu12 wheel, else the system's CUDA."""
    candidates = []
    for entry in sys.path:
        candidates += sorted(glob.glob(os.path.join(entry, "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so.*")))
    candidates += ["libnvrtc.so.12", "libnvrtc.so", ctypes.util.find_library("nvrtc") or ""]
    for path in candidates:
        if not path or "alt" in os.path.basename(path):
            continue
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    raise VanikeysError(
        "backend_unavailable", "NVRTC (libnvrtc.so.12) is not installed: pip install nvidia-cuda-nvrtc-cu12"
    )


def nvrtc_version() -> str:
    """The loaded NVRTC's version as "major.minor"; raises VanikeysError("backend_unavailable") if NVRTC is absent."""
    major, minor = ctypes.c_int(), ctypes.c_int()
    nvrtc().nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    return f"{major.value}.{minor.value}"


def _check(lib: ctypes.CDLL, status: int, what: str, log_text: str = "") -> None:
    if status != 0:
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        reason = lib.nvrtcGetErrorString(status).decode()
        raise RuntimeError(f"NVRTC {what} failed: {reason}\n{log_text}")


def compile_kernel(
    arch: str = "sm_80", *, cubin: bool = True, extra_options: tuple[str, ...] = ()
) -> tuple[bytes, str]:
    """(cubin or PTX, the compiler log) for grind.cu on one architecture."""
    lib = nvrtc()
    source = (kernel_dir() / "grind.cu").read_bytes()
    program = ctypes.c_void_p()
    _check(lib, lib.nvrtcCreateProgram(ctypes.byref(program), source, b"grind.cu", 0, None, None), "create")
    try:
        target = arch if cubin else arch.replace("sm_", "compute_")
        options = [
            f"--gpu-architecture={target}",
            f"--include-path={kernel_dir()}",
            "--std=c++17",
            "-default-device",
            "--extra-device-vectorization",
            *extra_options,
        ]
        encoded = [o.encode() for o in options]
        status = lib.nvrtcCompileProgram(program, len(encoded), (ctypes.c_char_p * len(encoded))(*encoded))
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(program, ctypes.byref(size))
        buffer = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(program, buffer)
        compile_log = buffer.value.decode(errors="replace")
        _check(lib, status, f"compile for {arch}", compile_log)
        getter_size, getter = ("nvrtcGetCUBINSize", "nvrtcGetCUBIN") if cubin else ("nvrtcGetPTXSize", "nvrtcGetPTX")
        _check(lib, getattr(lib, getter_size)(program, ctypes.byref(size)), getter_size)
        image = ctypes.create_string_buffer(size.value)
        _check(lib, getattr(lib, getter)(program, image), getter)
        return image.raw[: size.value], compile_log
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(program))


def source_digest() -> str:
    """A 16-hex-digit digest of every kernel source (names and bytes): what a shipped cubin's .sha stamp must match."""
    digest = hashlib.sha256()
    for name in KERNEL_SOURCES:
        digest.update(name.encode() + b"\0" + (kernel_dir() / name).read_bytes())
    return digest.hexdigest()[:16]


def shipped_cubin(arch: str) -> Path:
    """Where the package ships the prebuilt cubin for `arch` (the file may not exist)."""
    return kernel_dir() / "cubin" / f"grind_{arch}.cubin"


def cubin_for(arch: str) -> Path:
    """A cubin for this architecture: shipped with the package, else compiled and cached."""
    shipped = shipped_cubin(arch)
    stamp = shipped.with_suffix(".sha")
    if shipped.exists() and stamp.exists() and stamp.read_text().strip() == source_digest():
        return shipped
    cached = cache_dir() / f"vanikeys-grind-{source_digest()}-{arch}.cubin"
    if not cached.exists():
        log.info("no shipped cubin for %s matches the kernel sources: compiling with NVRTC", arch)
        image, _ = compile_kernel(arch)
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(image)
        os.replace(partial, cached)
    return cached


# ---- the backend ------------------------------------------------------------------------


EARLY_CANDIDATES = 4096  # candidates copied back with every launch; more only when reported
STATE_ITEMS_PER_THREAD = 4  # item centres kept for the next launch, per resident thread


class _Slot:
    """One launch's device buffers and their pinned host mirrors, allocated once and reused."""

    def __init__(self, cupy: Any, capacity: int) -> None:
        self.params = cupy.empty(ctypes.sizeof(ScanParams), dtype=cupy.uint8)
        self.out = cupy.empty(ctypes.sizeof(ScanOut), dtype=cupy.uint8)
        self.candidates = cupy.empty(capacity * ctypes.sizeof(KernelCandidate), dtype=cupy.uint8)
        params_size, out_size = ctypes.sizeof(ScanParams), ctypes.sizeof(ScanOut)
        self._host = cupy.cuda.alloc_pinned_memory(
            params_size + out_size + EARLY_CANDIDATES * ctypes.sizeof(KernelCandidate)
        )
        self.host_params = self._host.ptr
        self.host_out = self._host.ptr + params_size
        self.host_candidates = self.host_out + out_size
        self.done = cupy.cuda.Event()  # recorded after this slot's copies back


class CudaDevice:
    """The kernel on one GPU: one stream, two launch slots used in turn (the driver queues ahead).

    Results come back by asynchronous copies recorded behind each slot's event: the
    count, histogram and the first EARLY_CANDIDATES candidates with every launch, the
    rest only when a launch reports more. The pattern goes to __constant__ memory once
    per job; every item's first centre stays on the device for the next launch.
    """

    name = "cuda"
    group_size = GROUP_SIZE
    slots = 2

    def __init__(self, device_id: int, capacity: int) -> None:
        import cupy  # optional dependency: the "gpu" extra

        self._cp = cupy
        self._device = cupy.cuda.Device(device_id)
        self._device.use()
        props = cupy.cuda.runtime.getDeviceProperties(device_id)
        self.description = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        self._sms = int(props["multiProcessorCount"])
        arch = f"sm_{props['major']}{props['minor']}"
        self._module = cupy.RawModule(path=str(cubin_for(arch)))
        self._kernel = self._module.get_function("vk_grind")
        self._table = cupy.asarray(_host_bytes(generator_table(GROUP_SIZE // 2)))
        self.capacity = capacity
        self._stream = cupy.cuda.Stream(non_blocking=True)
        self._slots = [_Slot(cupy, capacity) for _ in range(self.slots)]
        self.state_items = self._threads() * STATE_ITEMS_PER_THREAD
        self._centres = cupy.empty(self.state_items * ctypes.sizeof(Affine), dtype=cupy.uint8)
        self._pattern_loaded: KernelPattern | None = None

    def _threads(self) -> int:
        return self._sms * 8 * THREADS_PER_BLOCK  # enough resident warps to hide latency on any sm_80+

    def points_per_item(self, n_points: int) -> int:
        """KernelDevice.points_per_item: a power of two of groups per thread, enough to spread n_points over every
        thread."""
        # Enough work per thread to amortise its first centre, but spread small scans over
        # many threads. A power of two of groups: steady pulls keep one item size (and so
        # their kept centres) from launch to launch.
        per_thread = -(-n_points // self._threads())
        groups = max(1, min(GROUPS_PER_THREAD * 64, -(-per_thread // GROUP_SIZE)))
        return (1 << (groups - 1).bit_length()) * GROUP_SIZE

    def submit(self, slot: int, params: ScanParams, pattern: KernelPattern) -> None:
        """KernelDevice.submit: queues the launch and its copies back on the stream and returns without waiting.

        Waits first for the slot's previous copies, and for every launch in flight when the pattern changes.
        """
        buffers = self._slots[slot]
        buffers.done.synchronize()  # its pinned memory is ours again (its copies have run)
        if self._pattern_loaded is not pattern:
            self._stream.synchronize()  # no launch in flight reads the constant being replaced
            constant = self._module.get_global("c_pattern")
            constant.copy_from_host(ctypes.c_void_p(ctypes.addressof(pattern)), ctypes.sizeof(pattern))
            self._pattern_loaded = pattern
        ctypes.memmove(buffers.host_params, ctypes.addressof(params), ctypes.sizeof(params))
        blocks = -(-int(params.n_items) // THREADS_PER_BLOCK)
        with self._stream:
            buffers.params.data.copy_from_host_async(
                ctypes.c_void_p(buffers.host_params), ctypes.sizeof(params), self._stream
            )
            buffers.out.data.memset_async(0, ctypes.sizeof(ScanOut), self._stream)
            self._kernel(
                (blocks,),
                (THREADS_PER_BLOCK,),
                (buffers.params, self._table, buffers.candidates, buffers.out, self._centres),
            )
            buffers.out.data.copy_to_host_async(ctypes.c_void_p(buffers.host_out), ctypes.sizeof(ScanOut), self._stream)
            early = EARLY_CANDIDATES * ctypes.sizeof(KernelCandidate)
            buffers.candidates.data.copy_to_host_async(ctypes.c_void_p(buffers.host_candidates), early, self._stream)
            buffers.done.record(self._stream)

    def read_out(self, slot: int) -> ScanOut:
        """KernelDevice.read_out: waits for the slot's launch and copies, then returns its ScanOut."""
        buffers = self._slots[slot]
        buffers.done.synchronize()
        return ScanOut.from_buffer_copy(ctypes.string_at(buffers.host_out, ctypes.sizeof(ScanOut)))

    def read_candidates(self, slot: int, held: int) -> Sequence[KernelCandidate]:
        """KernelDevice.read_candidates: the first `held` from the early host copy, or from the device when more."""
        buffers = self._slots[slot]
        size = ctypes.sizeof(KernelCandidate)
        if held <= EARLY_CANDIDATES:
            raw = ctypes.string_at(buffers.host_candidates, held * size)
        else:  # rare (a pull's first steps): the rest straight from the device
            raw = buffers.candidates[: held * size].get(stream=self._stream).tobytes()
        return list((KernelCandidate * held).from_buffer_copy(raw)) if held else []

    def close(self) -> None:
        """Wait for the stream, then drop the device buffers; the device is not used afterwards."""
        if self._stream is not None:
            self._stream.synchronize()
        self._slots = []
        self._centres = None
        self._table = None


class CudaBackend(KernelDriver):
    """The cuda backend: the shared launch plan (launch.py) over CudaDevice.

    Each scan submits its launch and then, before reading the results, the launch of
    the next window of the same size (a pull's next step, when its step sizes have
    settled); the GPU never waits for the host between steps. A queued launch whose
    window the next request does not ask for is simply not read. Every item keeps its
    first centre on the device (WalkState): a pull's later launches move it with one
    affine addition instead of a scalar multiplication per thread.
    """

    def __init__(self, device_id: int = 0, *, capacity: int = CAPACITY) -> None:
        kernel = CudaDevice(device_id, capacity)
        super().__init__(kernel, kernel.state_items)


def _host_bytes(struct: Any) -> Any:
    import numpy

    return numpy.frombuffer(bytes(struct), dtype=numpy.uint8)


def gpu_present() -> bool:
    """True if CuPy imports and sees at least one CUDA device; any failure reads as no GPU."""
    try:
        import cupy

        count: int = cupy.cuda.runtime.getDeviceCount()
        return count > 0
    except Exception:  # no CuPy, no driver, no device: all mean "no GPU here"
        return False


def load_backend() -> Any:
    """A CudaBackend on device 0; raises VanikeysError("backend_unavailable") when there is no GPU or no CuPy."""
    if not gpu_present():
        raise VanikeysError(
            "backend_unavailable",
            "the cuda backend needs an NVIDIA GPU and CuPy (pip install 'vanikeys[gpu]'): use --backend native",
        )
    return CudaBackend()
