"""The engine's version: a digest of gpu_worker's sources, equal wherever the same commit is installed.

`vanikeys doctor` sends a worker the probe {"probe": "version"}; the worker answers
{"worker_version": ...} without grinding, and the bot compares it with its own.
A worker older than the probe answers it as a bad job.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from pathlib import Path
from typing import Any

PROBE = {"probe": "version"}
_SOURCES = ("*.py", "kernels/*.cu", "kernels/*.cuh", "kernels/*.h", "kernels/*.cpp")


@functools.cache
def worker_version() -> str:
    """12 hex digits of a hash over the worker's sources and kernels: equal digits mean the same grinder code."""
    root = Path(str(resources.files("gpu_worker")))
    digest = hashlib.sha256()
    files = sorted(
        {path for pattern in _SOURCES for path in root.glob(f"**/{pattern}") if "__pycache__" not in path.parts}
    )
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def version_answer(raw_input: Any) -> dict[str, str] | None:
    """The answer to a version probe, or None for anything else (a grind job)."""
    return {"worker_version": worker_version()} if raw_input == PROBE else None
