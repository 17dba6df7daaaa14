"""The static gates run with the suite: ruff (pyproject's [tool.ruff]) and mypy --strict ([tool.mypy]).

Each gate is run on the whole tree the way a maintainer would run it, with nothing excluded, and each is
shown to bite: a probe with the fault the gate exists for is refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _run(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=timeout
    )


def _ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # No cache: parallel workers and other checkouts never share or race on one.
    return _run("ruff", "check", "--no-cache", *args, stdin=stdin)


def test_ruff_passes_on_the_tree() -> None:
    result = _ruff(".")
    assert result.returncode == 0, f"ruff check . found:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize(
    ("path", "source", "code"),
    [
        ("bot/probe_gate.py", '"""A module."""\n\n\ndef public(x: int) -> int:\n    return x\n', "D103"),
        ("gpu_worker/probe_gate.py", '"""A module."""\n\n\nclass Public:\n    pass\n', "D101"),
        (
            "payments/probe_gate.py",
            '"""A module."""\n\n\nclass A:\n    """A."""\n\n    def run(self) -> None:\n        pass\n',
            "D102",
        ),
        ("bot/probe_gate.py", '"""A module."""\n\nimport sys\nimport os\n\nprint(os, sys)\n', "I001"),
        (
            "bot/probe_gate.py",
            '"""A module."""\n\n\ndef f(items: list[int]) -> None:\n    for i in items:\n'
            "        def g() -> int:\n            return i\n        print(g)\n",
            "B023",
        ),
    ],
)
def test_ruff_refuses_what_it_is_configured_to_refuse(path: str, source: str, code: str) -> None:
    """A public definition without a docstring in the shipped packages (and the other selected faults) fail."""
    result = _ruff("--output-format", "json", "--stdin-filename", path, "-", stdin=source)
    found = {item["code"] for item in json.loads(result.stdout)}
    assert code in found, (code, found, result.stderr)


def test_private_and_test_code_need_no_docstrings() -> None:
    private = '"""A module."""\n\n\ndef _helper(x: int) -> int:\n    return x\n'
    assert _ruff("--stdin-filename", "bot/probe_gate.py", "-", stdin=private).returncode == 0
    test = '"""Tests."""\n\n\ndef test_something() -> None:\n    assert True\n'
    assert _ruff("--stdin-filename", "tests/test_probe.py", "-", stdin=test).returncode == 0


def test_ruff_format_check_passes() -> None:
    result = _run("ruff", "format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout[-2000:]


@pytest.mark.timeout(600)
def test_mypy_strict_passes() -> None:
    """mypy --strict over bot/, gpu_worker/ and payments/ ([tool.mypy]) finds nothing; the cache keeps a second
    run near a second."""
    files = PYPROJECT["tool"]["mypy"]["files"]
    result = _run(
        "mypy",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "--cache-dir",
        str(ROOT / ".mypy_cache" / "suite"),
        "--show-error-codes",
        "--no-pretty",
        *files,
        timeout=600,
    )
    assert result.returncode == 0, "mypy --strict found:\n" + result.stdout[-4000:] + result.stderr[-2000:]


def test_mypy_refuses_an_unannotated_function(tmp_path: Path) -> None:
    """The configuration in force is strict: a function without annotations is an error."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f(x):\n    return x\n")
    result = _run(
        "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / "cache"), str(probe)
    )
    assert result.returncode == 1 and "no-untyped-def" in result.stdout, result.stdout + result.stderr
