"""The worker image's own build: nvcc, with Dockerfile.runpod's flags, makes a cubin for every architecture.

NVRTC (test_nvrtc.py) is what the cuda backend falls back to at run time; the
image ships cubins made by nvcc at build time. This compiles them the same way,
wherever nvcc is installed, so a kernel change that only nvcc refuses fails
here and not in a RunPod image build. Skips where there is no nvcc. Compiles are
cached by sources, nvcc's version and flags (compile_cache.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gpu_worker.grinders.cuda import ARCHITECTURES, kernel_dir

from .compile_cache import compiled
from .conftest import RecordProperty

REPO = Path(__file__).resolve().parents[2]


def dockerfile_nvcc_flags() -> list[str]:
    """The options between `-arch=sm_${arch}` and `-I` in Dockerfile.runpod's nvcc line."""
    text = (REPO / "Dockerfile.runpod").read_text()
    found = re.search(r"nvcc -cubin -arch=sm_\$\{arch\}(.*?)\\\s*\n\s*-I ", text)
    assert found is not None, "Dockerfile.runpod has no `nvcc -cubin -arch=sm_${arch} ... -I` line"
    return found.group(1).split()


@pytest.fixture(scope="module")
def nvcc() -> tuple[str, str]:
    """nvcc's path and its `--version` text."""
    found = shutil.which("nvcc")
    if found is None:
        pytest.skip("nvcc is not installed here")
    return found, subprocess.run([found, "--version"], capture_output=True, text=True, timeout=60).stdout


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_the_image_build_compiles_the_kernel(
    arch: str, nvcc: tuple[str, str], tmp_path: Path, record_property: RecordProperty
) -> None:
    path, version = nvcc
    argv = ["-cubin", f"-arch={arch}", *dockerfile_nvcc_flags(), "-Xptxas", "-v"]

    def compile_now() -> tuple[bytes, str]:
        cubin = tmp_path / f"grind_{arch}.cubin"
        done = subprocess.run(
            [path, *argv, "-I", str(kernel_dir()), "-o", str(cubin), str(kernel_dir() / "grind.cu")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        return cubin.read_bytes(), done.stderr + done.stdout

    result = compiled("nvcc", version, argv, compile_now)
    assert result.image[:4] == b"\x7fELF"
    report = result.report
    entry = report[report.index("Function properties for vk_grind") :]
    used = re.search(r"Used (\d+) registers", entry)
    frame = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", entry)
    assert used is not None and frame is not None, report[-4000:]
    release = re.search(r"release ([\d.]+)", version)
    record_property(
        "report",
        (
            f"[nvcc {release.group(1) if release else '?'}] vk_grind {arch}: {used.group(1)} registers, "
            f"{frame.group(1)} B stack frame, {frame.group(2)} B spill stores, {frame.group(3)} B spill loads"
            + (" (cached compile)" if result.cached else "")
        ),
    )
