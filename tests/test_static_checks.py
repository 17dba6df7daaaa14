"""The static gates run with the suite: ruff (pyproject's [tool.ruff]) and mypy --strict ([tool.mypy]).

Each gate is run on the whole tree the way a maintainer would run it, and each is shown to bite: a probe
with the fault the gate exists for is refused. The files that do not pass yet are listed in pyproject.toml
("not yet: ..."); a listed file that has since been fixed fails here, so the list only shrinks.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _run(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def _ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # No cache: parallel workers and other checkouts never share or race on one.
    return _run("ruff", "check", "--no-cache", *args, stdin=stdin)


def test_ruff_passes_on_the_tree() -> None:
    result = _ruff(".")
    assert result.returncode == 0, f"ruff check . found:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize(("path", "source", "code"), [
    ("bot/probe_gate.py", '"""A module."""\n\n\ndef public(x: int) -> int:\n    return x\n', "D103"),
    ("gpu_worker/probe_gate.py", '"""A module."""\n\n\nclass Public:\n    pass\n', "D101"),
    ("payments/probe_gate.py", '"""A module."""\n\n\nclass A:\n    """A."""\n\n    def run(self) -> None:\n        pass\n',
     "D102"),
    ("bot/probe_gate.py", '"""A module."""\n\nimport sys\nimport os\n\nprint(os, sys)\n', "I001"),
    ("bot/probe_gate.py", '"""A module."""\n\n\ndef f(items: list[int]) -> None:\n    for i in items:\n'
                      '        def g() -> int:\n            return i\n        print(g)\n', "B023"),
])
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


def test_every_not_yet_exclusion_is_still_needed(tmp_path: Path) -> None:
    """Each `not yet` entry (extend-per-file-ignores) still covers a violation: a fixed file leaves the list."""
    not_yet: dict[str, list[str]] = PYPROJECT["tool"]["ruff"]["lint"]["extend-per-file-ignores"]
    assert not_yet, "nothing is excluded any more: remove this test and the empty table"
    # The same configuration without that table; relative paths in a --config file resolve from the cwd (ROOT).
    text = (ROOT / "pyproject.toml").read_text()
    without = re.sub(r"\n\[tool\.ruff\.lint\.extend-per-file-ignores\]\n.*?(?=\n\[)", "\n", text, flags=re.S)
    assert "extend-per-file-ignores" not in without
    (tmp_path / "pyproject.toml").write_text(without)
    result = _ruff(".", "--output-format", "json", "--config", str(tmp_path / "pyproject.toml"))
    found = {(str(Path(item["filename"]).relative_to(ROOT)), item["code"] or "") for item in json.loads(result.stdout)}
    assert found, result.stderr
    stale = [f"{pattern}: {code}" for pattern, codes in not_yet.items() for code in codes
             if not any(fnmatch(file, pattern) and found_code.startswith(code) for file, found_code in found)]
    assert not stale, f"these exclusions in pyproject.toml cover nothing any more; remove them: {stale}"


@pytest.mark.xfail(strict=True, reason="not yet: `ruff format` runs once over the tree after the parallel work "
                                        "merges; then this marker goes and the check gates like the others")
def test_ruff_format_check_passes() -> None:
    result = _run("ruff", "format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout[-2000:]


MYPY_NOT_YET = "# not yet: modules being rewritten"  # where pyproject's not-yet overrides of [tool.mypy] begin


@pytest.mark.timeout(600)
def test_mypy_strict_passes(tmp_path: Path) -> None:
    """mypy --strict over bot/, gpu_worker/ and payments/ ([tool.mypy]), and its not-yet list only shrinks.

    One run without the not-yet overrides: every error must be one an override excuses (so `.venv/bin/mypy`
    with pyproject's configuration passes), and every excuse must still cover an error. The cache keeps a
    second run near a second.
    """
    text = (ROOT / "pyproject.toml").read_text()
    assert MYPY_NOT_YET in text, "the not-yet overrides moved: update MYPY_NOT_YET"
    config = tmp_path / "pyproject.toml"
    config.write_text(text[: text.index(MYPY_NOT_YET)])
    not_yet = [(module, code) for override in PYPROJECT["tool"]["mypy"].get("overrides", [])
               for module in override["module"] for code in override.get("disable_error_code", [])]
    files = PYPROJECT["tool"]["mypy"]["files"]
    result = _run("mypy", "--config-file", str(config), "--cache-dir", str(ROOT / ".mypy_cache" / "suite"),
                  "--show-error-codes", "--no-pretty", *files, timeout=600)
    assert result.returncode in (0, 1), result.stdout[-2000:] + result.stderr[-2000:]
    errors = []
    for line in result.stdout.splitlines():
        found = re.match(r"(?P<path>[^:]+\.py):\d+: error: .*\[(?P<code>[a-z-]+)\]$", line)
        if found:
            module = found["path"].removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            errors.append((module, found["code"], line))
    unexcused = [line for module, code, line in errors
                 if not any(fnmatch(module, pattern) and code == excused for pattern, excused in not_yet)]
    assert not unexcused, "mypy --strict found:\n" + "\n".join(unexcused)
    stale = [f"{pattern}: {excused}" for pattern, excused in not_yet
             if not any(fnmatch(module, pattern) and code == excused for module, code, _ in errors)]
    assert not stale, f"these not-yet mypy overrides in pyproject.toml excuse nothing any more; remove them: {stale}"


def test_mypy_refuses_an_unannotated_function(tmp_path: Path) -> None:
    """The configuration in force is strict: a function without annotations is an error."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f(x):\n    return x\n")
    result = _run("mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / "cache"),
                  str(probe))
    assert result.returncode == 1 and "no-untyped-def" in result.stdout, result.stdout + result.stderr
