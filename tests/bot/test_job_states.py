"""The job state machine's table (bot/job_states.py): complete, the only way a job moves, and the docs' copy."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

from bot.app import App
from bot.faults import FAULT_POINTS
from bot.job_states import (
    ACTIVE,
    SETTLED,
    STATES,
    STEPS,
    TRANSITIONS,
    IllegalTransition,
    markdown_table,
    transition,
)
from bot.jobs import Jobs

from .conftest import ALICE, RecordingFrontEnd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import gen_job_docs  # noqa: E402


def test_the_table_names_only_known_states_and_each_event_once_per_state() -> None:
    assert set(ACTIVE) | set(SETTLED) | {"found", "failed"} == set(STATES)
    pairs = [(t.state, t.event) for t in TRANSITIONS]
    assert len(pairs) == len(set(pairs))
    for t in TRANSITIONS:
        assert t.state in (*STATES, "") and t.to in STATES and t.effect
    assert not [t for t in TRANSITIONS if t.state in SETTLED], "nothing leaves a settled state"


def test_every_state_but_the_settled_ones_has_a_step_of_jobs() -> None:
    assert set(STEPS) == set(STATES) - set(SETTLED)
    for state, step in STEPS.items():
        assert callable(getattr(Jobs, step)), step
        assert any(t.state == state for t in TRANSITIONS), f"{state} has a step but no transition"


def test_every_state_a_transition_enters_has_its_fault_point() -> None:
    assert {f"job.{t.to}" for t in TRANSITIONS} <= set(FAULT_POINTS)


def test_a_change_the_table_has_no_row_for_is_refused() -> None:
    assert transition("running", "verified").to == "found"
    with pytest.raises(IllegalTransition):
        transition("delivered", "refund")
    with pytest.raises(IllegalTransition):
        transition("accepted", "verified")


def test_the_architecture_doc_shows_the_table_generated_from_the_code() -> None:
    assert gen_job_docs.main(["--check"]) == 0, "run python scripts/gen_job_docs.py"
    doc = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert markdown_table() in doc


def test_the_check_fails_when_the_doc_and_the_code_differ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for document in ("docs/architecture.md", "docs/operations.md"):
        (tmp_path / document).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / document).write_text((REPO / document).read_text(encoding="utf-8"), encoding="utf-8")
    stale = tmp_path / "docs" / "architecture.md"
    stale.write_text(
        stale.read_text(encoding="utf-8").replace("| failed | refund | refunded |", "| failed | refund | delivered |"),
        encoding="utf-8",
    )
    monkeypatch.setattr(gen_job_docs, "ROOT", tmp_path)
    assert gen_job_docs.main(["--check"]) == 1
    assert gen_job_docs.main([]) == 0
    assert gen_job_docs.main(["--check"]) == 0


async def test_a_job_steps_log_walks_the_table(app: App, frontend: RecordingFrontEnd) -> None:
    """Every step a pull and an order commit is a row of the table, in order."""
    await app.service.grant(ALICE, 100)
    await app.service.pull(ALICE, None, "ab", allow_easy=True)
    await app.service.order(ALICE, None, "^a", "btc")
    await app.jobs.wait_idle()
    rows = await app.db.fetchall("SELECT job_id, status FROM job_steps ORDER BY id")
    by_job: dict[str, list[str]] = {}
    for row in rows:
        by_job.setdefault(row["job_id"], []).append(row["status"])
    assert len(by_job) == 2
    moves = {(t.state, t.to) for t in TRANSITIONS}
    for steps in by_job.values():
        assert steps[0] == "accepted" and steps[-1] == "delivered", steps
        assert all((a, b) in moves for a, b in itertools.pairwise(steps)), steps
