"""The import contracts in pyproject.toml ([tool.importlinter]; docs/architecture.md, Layers) hold: every
import in bot/ points down its floors, nothing circles (but inside one front end), gpu_worker imports neither
bot nor payments, and payments nothing of them but the typed settings. Type-only imports count.

Runs `lint-imports` from this interpreter's environment, as .ci/run does; the two broken copies show that
the contracts catch what they promise to."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the packages under `root` (it puts its working directory first on the import path)."""
    if not LINT_IMPORTS.exists():
        pytest.fail(
            f"{LINT_IMPORTS} is missing: install the test extra (pip install '.[test]'), which has import-linter"
        )
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold() -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " 0 broken" in done.stdout and "KEPT" in done.stdout


@pytest.fixture
def copy_of_the_packages(tmp_path: Path) -> Path:
    for package in ("bot", "gpu_worker", "payments"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "cubin"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_type_only_import(module: Path, line: str) -> None:
    text = module.read_text()
    module.write_text(text + f"\nfrom typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    {line}\n")


def test_an_import_up_a_floor_breaks_the_layers_even_when_type_only(copy_of_the_packages: Path) -> None:
    add_type_only_import(copy_of_the_packages / "bot" / "storage" / "base.py", "from bot.service import Service")
    done = lint_imports(copy_of_the_packages)
    assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-2000:]
    assert "bot: every import points down the floors BROKEN" in done.stdout
    assert "bot.storage is not allowed to import bot.service" in done.stdout


def test_a_circle_between_neighbours_on_one_floor_is_refused(copy_of_the_packages: Path) -> None:
    # delivery reads job records; a job record that knew delivery would close a circle on their floor
    add_type_only_import(copy_of_the_packages / "bot" / "job_records.py", "from bot.delivery import Delivery")
    done = lint_imports(copy_of_the_packages)
    assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-2000:]
    assert "no circles in bot or payments (but among one front end's own modules) BROKEN" in done.stdout
    assert "bot: every import points down the floors KEPT" in done.stdout
