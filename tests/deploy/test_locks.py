"""The images' locks: hashed, one universal lock each (the images' Python and the tests'), covering every
requirement the recipes name and every third-party module the shipped code imports."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYTHONS = ("3.11", "3.12")  # the bot image and the tests; the worker image (Ubuntu 24.04)


def pins(lock: Path) -> list[tuple[str, str, Marker | None, list[str]]]:
    """(name, version, marker, sha256 hashes) per entry."""
    entries = []
    text = lock.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        head, *hash_parts = line.split("--hash=")
        requirement = Requirement(head.strip())
        [version] = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        hashes = [h.split()[0] for h in hash_parts]
        entries.append((canonicalize_name(requirement.name), version, requirement.marker, hashes))
    return entries


def environment(python: str) -> dict[str, str]:
    return {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }


def resolved(lock: Path, python: str) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for name, version, marker, _ in pins(lock):
        if marker is None or marker.evaluate(environment(python)):
            assert name not in chosen, f"{lock.name}: two pins of {name} for Python {python}"
            chosen[name] = version
    return chosen


def inputs(path: Path) -> list[Requirement]:
    return [
        Requirement(line.split("#")[0].strip()) for line in path.read_text().splitlines() if line.split("#")[0].strip()
    ]


LOCKS = {
    "requirements-bot.lock": lambda: (
        [Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
        + inputs(ROOT / "requirements-bot.in")
    ),
    "requirements-worker.lock": lambda: inputs(ROOT / "requirements-worker.in"),
}


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_has_hashes(lock: str) -> None:
    entries = pins(ROOT / lock)
    assert entries
    for name, _, _, hashes in entries:
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("lock", LOCKS)
def test_the_lock_satisfies_its_inputs_for_each_python(lock: str, python: str) -> None:
    chosen = resolved(ROOT / lock, python)
    for requirement in LOCKS[lock]():
        if requirement.marker is not None and not requirement.marker.evaluate(environment(python)):
            continue
        name = canonicalize_name(requirement.name)
        assert name in chosen, f"{lock} does not pin {requirement} for Python {python}: run python scripts/lock.py"
        assert requirement.specifier.contains(chosen[name], prereleases=True), (
            f"{lock} pins {name}=={chosen[name]}, outside {requirement}: run python scripts/lock.py"
        )


def third_party_imports(*packages: str) -> dict[str, set[str]]:
    """Top-level modules imported anywhere in the packages' code (lazy imports included) -> importing files."""
    own = {"bot", "gpu_worker", "payments"}
    found: dict[str, set[str]] = {}
    for package in packages:
        for source in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top not in own and top not in sys.stdlib_module_names:
                        found.setdefault(top, set()).add(source.relative_to(ROOT).as_posix())
    return found


# Imported by shipped code but deliberately not installed, each with why.
NOT_IN_THE_BOT_IMAGE = {
    "cupy": "the cuda backend: the bot image has no GPU (pulls grind remotely or on its CPU)",
    "runpod": "gpu_worker/__main__.py and handler.py's progress reporter: the RunPod worker, not the bot",
    "cpuinfo": "gpu_worker/__main__.py, the RunPod worker only (the runpod SDK's dependency)",
}


# Modules whose distribution is not installed in a test environment without a GPU.
GPU_DISTRIBUTIONS = {"cupy": {"cupy-cuda12x"}}


@functools.cache
def installed_distributions() -> Mapping[str, list[str]]:
    """Top-level module -> the installed distributions that provide it (a walk of every installed package's
    files: read once, not once per module)."""
    return importlib.metadata.packages_distributions()


def distributions_of(module: str) -> set[str]:
    installed = {canonicalize_name(d) for d in installed_distributions().get(module, [])}
    return installed or GPU_DISTRIBUTIONS.get(module, set())


@pytest.mark.parametrize(
    ("lock", "packages", "absent"),
    [
        ("requirements-bot.lock", ("bot", "payments", "gpu_worker"), NOT_IN_THE_BOT_IMAGE),
        ("requirements-worker.lock", ("gpu_worker",), {}),  # the RunPod image, the box and the Modal app
    ],
)
def test_every_module_the_shipped_code_imports_is_locked(
    lock: str, packages: tuple[str, ...], absent: dict[str, str]
) -> None:
    locked = {name for name, _, _, _ in pins(ROOT / lock)}
    missing = []
    for module, where in sorted(third_party_imports(*packages).items()):
        if module in absent:
            continue
        distributions = distributions_of(module)
        if not distributions & locked:
            missing.append(f"{module} ({', '.join(sorted(where))}; distribution {sorted(distributions) or '?'})")
    assert not missing, f"{lock} lacks what the code imports: " + "; ".join(missing)
