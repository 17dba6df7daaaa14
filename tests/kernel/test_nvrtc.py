"""The one kernel source compiles for every GPU the worker image supports, without a GPU.

NVRTC (the nvidia-cuda-nvrtc-cu12 wheel) compiles grind.cu to a cubin for
sm_80, sm_86, sm_89 and sm_90; ptxas's resource report (registers, stack,
spills) is printed for each at the end of the run. Compiling runs ptxas over the inline PTX carry
chains of field.cuh, so a malformed instruction fails here, not on a rented GPU.
Compiles are cached by sources, NVRTC version and options (compile_cache.py).
"""

from __future__ import annotations

import inspect
import re

import pytest

from gpu_worker.errors import VanikeysError
from gpu_worker.grinders.cuda import ARCHITECTURES, compile_kernel, nvrtc, nvrtc_version

from .compile_cache import compiled
from .conftest import RecordProperty


@pytest.fixture(scope="module")
def nvrtc_available() -> str:
    """What names this NVRTC and how compile_kernel drives it (its options are in its source), for the cache."""
    try:
        library = nvrtc()
    except VanikeysError as exc:
        pytest.skip(str(exc))
    return f"{nvrtc_version()} {library._name}\n{inspect.getsource(compile_kernel)}"


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_kernel_compiles_to_a_cubin(nvrtc_available: str, arch: str, record_property: RecordProperty) -> None:
    options = ("--ptxas-options=-v",)
    result = compiled(
        "nvrtc", nvrtc_available, (arch, "cubin", *options), lambda: compile_kernel(arch, extra_options=options)
    )
    image, log = result.image, result.report
    assert image[:4] == b"\x7fELF"
    entry = log[log.index("Function properties for vk_grind") :]
    used = re.search(r"Used (\d+) registers", entry)
    frame = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", entry)
    assert used is not None and frame is not None, log
    registers = int(used.group(1))
    assert registers <= 128  # __launch_bounds__(128 threads, 4 blocks per SM)
    record_property(
        "report",
        (
            f"[nvrtc {nvrtc_version()}] vk_grind {arch}: {registers} registers, {frame.group(1)} B stack frame, "
            f"{frame.group(2)} B spill stores, {frame.group(3)} B spill loads, cubin {len(image) // 1024} KiB"
            + (" (cached compile)" if result.cached else "")
        ),
    )


def test_kernel_compiles_to_ptx_with_the_gpu_field_arithmetic(nvrtc_available: str) -> None:
    ptx = compiled("nvrtc", nvrtc_available, ("sm_90", "ptx"), lambda: compile_kernel("sm_90", cubin=False)).image
    text = ptx.decode()
    assert ".visible .entry vk_grind(" in text
    # The device build uses the carry-chain instructions, not the host's __int128 code.
    for instruction in ("mad.lo.cc.u64", "madc.hi.cc.u64", "addc.cc.u64", "subc.cc.u64"):
        assert instruction in text
    assert ".const .align 8 .b8 c_pattern" in text
