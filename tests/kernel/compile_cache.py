"""The kernel compiles the tests make (NVRTC and nvcc, every architecture), cached like the native build.

A compile's result (the image and the compiler's report) is kept under VANIKEYS_CACHE, named by
a digest of the kernel sources, the compiler's own version and every flag: while none of those
changes the compiler would produce the same bytes again, so a run reuses them, and a change to
any one compiles afresh. One lock file per entry: of the test processes that want the same
compile at once (pytest-xdist workers), one compiles and the others wait for its result.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gpu_worker.grinders.native import KERNEL_SOURCES, cache_dir, kernel_dir
from tests.locks import file_lock


@dataclass(frozen=True)
class Compiled:
    image: bytes
    report: str  # the compiler's log: ptxas's registers, stack and spills
    cached: bool  # read back from an earlier compile of the same sources, compiler and flags


def sources_digest() -> bytes:
    digest = hashlib.sha256()
    for name in KERNEL_SOURCES:
        digest.update(name.encode() + b"\0" + (kernel_dir() / name).read_bytes())
    return digest.digest()


def entry_name(compiler: str, version: str, flags: Sequence[str]) -> str:
    digest = hashlib.sha256(sources_digest())
    for part in (compiler, version, *flags):
        digest.update(b"\0" + part.encode())
    return f"{compiler}-{digest.hexdigest()[:20]}"


def compiled(
    compiler: str,
    version: str,
    flags: Sequence[str],
    compile_now: Callable[[], tuple[bytes, str]],
    folder: Path | None = None,
) -> Compiled:
    """The cached result for these sources, compiler version and flags; else compile_now() once and keep it."""
    root = (folder or cache_dir()) / "kernel-compiles"
    name = entry_name(compiler, version, flags)
    image_path, report_path = root / f"{name}.bin", root / f"{name}.log"
    with file_lock(root / f"{name}.lock"):
        if image_path.exists() and report_path.exists():
            return Compiled(image_path.read_bytes(), report_path.read_text(), cached=True)
        image, report = compile_now()
        # the report first: an image without its report is an incomplete entry and is compiled again
        _write_atomically(report_path, report.encode())
        _write_atomically(image_path, image)
        return Compiled(image, report, cached=False)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
