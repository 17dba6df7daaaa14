"""Compile the grind kernel into one cubin per GPU architecture, with NVRTC (no GPU needed).

    python scripts/build_cubins.py [--out gpu_worker/kernels/cubin] [--arch sm_80 ...]

Each cubin is written with a .sha stamp holding the kernel sources' digest:
gpu_worker.grinders.cuda loads a shipped cubin only while its stamp matches the
sources, and compiles with NVRTC otherwise. (Dockerfile.runpod builds the same
files with nvcc; either compiler's cubins work.)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpu_worker.grinders.cuda import ARCHITECTURES, compile_kernel, kernel_dir, source_digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=kernel_dir() / "cubin")
    parser.add_argument("--arch", action="append", choices=ARCHITECTURES, help="default: all of them")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    digest = source_digest()
    for arch in args.arch or ARCHITECTURES:
        image, log = compile_kernel(arch, extra_options=("--ptxas-options=-v",))
        (args.out / f"grind_{arch}.cubin").write_bytes(image)
        (args.out / f"grind_{arch}.sha").write_text(digest + "\n")
        used = re.search(r"Function properties for vk_grind\s+ptxas\s+\.\s+(.*?)\n.*?Used (\d+) registers", log, re.S)
        report = f"{used.group(2)} registers, {used.group(1)}" if used else "resource report unavailable"
        print(f"{arch}: {len(image) // 1024} KiB, {report}")


if __name__ == "__main__":
    main()
