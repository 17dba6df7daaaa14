"""The one seam for fault injection (bot/faults.py): every point declared and documented, inert unless armed,
and nothing else in production code that reads the crash switch."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import faults
from bot.faults import CRASH_EXIT_CODE, FAULT_POINTS, UnknownFaultPoint, fault_point

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import gen_job_docs  # noqa: E402

PRODUCTION = ("bot", "gpu_worker", "payments")


def production_files() -> list[Path]:
    return sorted(p for top in PRODUCTION for p in (REPO / top).rglob("*.py"))


def fault_point_names(path: Path) -> list[str]:
    """The literal names passed to fault_point(...) in one module."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "fault_point"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.append(node.args[0].value)
    return names


def test_every_fault_point_called_in_production_is_declared() -> None:
    called = {name for path in production_files() for name in fault_point_names(path)}
    assert called, "the job steps call fault_point"
    assert called <= set(FAULT_POINTS), called - set(FAULT_POINTS)


def test_only_the_fault_seam_reads_the_crash_switch() -> None:
    allowed = {REPO / "bot" / "faults.py", REPO / "bot" / "settings.py"}
    readers = [
        p.relative_to(REPO).as_posix()
        for p in production_files()
        if p not in allowed
        and ("crash_at" in (text := p.read_text(encoding="utf-8")) or "CRASH_AT" in text or "CRASH_EXIT_CODE" in text)
    ]
    assert readers == []


def test_the_docs_list_every_fault_point() -> None:
    assert gen_job_docs.main(["--check"]) == 0, "run python scripts/gen_job_docs.py"
    operations = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    for name, meaning in FAULT_POINTS.items():
        assert f"| `{name}` | {meaning} |" in operations


def test_an_undeclared_fault_point_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults, "_armed", None)
    with pytest.raises(UnknownFaultPoint):
        fault_point("job.nowhere")


def test_a_fault_point_is_inert_unless_armed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults, "_armed", None)
    for name in FAULT_POINTS:
        fault_point(name)  # returns: nothing armed
    monkeypatch.setattr(faults, "_armed", "job.found")
    fault_point("job.accepted")  # another point armed: still returns


def run_points(points: list[str], crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANIKEYS_")}
    env["PYTHONPATH"] = str(REPO)
    if crash_at is not None:
        env["VANIKEYS_CRASH_AT"] = crash_at
    code = (
        "import sys\nfrom bot.faults import fault_point\n"
        f"for name in {points!r}:\n    print(name, flush=True)\n    fault_point(name)\nprint('end')\n"
    )
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_an_armed_fault_point_exits_abruptly_there_and_nowhere_else() -> None:
    points = ["job.accepted", "job.found", "job.delivered"]
    done = run_points(points, "job.found")
    assert done.returncode == CRASH_EXIT_CODE
    assert done.stdout.split() == ["job.accepted", "job.found"]
    unarmed = run_points(points, None)
    assert unarmed.returncode == 0 and unarmed.stdout.split() == [*points, "end"]


def test_an_unknown_crash_point_is_one_clear_line() -> None:
    done = run_points(["job.accepted"], "job.nowhere")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "VANIKEYS_CRASH_AT='job.nowhere' is not a fault point" in last
