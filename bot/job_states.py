"""The job state machine as a table: state × event → next state, and what is committed with it.

bot/jobs.py drives a job by this table and nothing else: each state names the
step that handles it (`STEPS`), and every change a step commits is looked up
here first (`transition`), so a job can only move along a row of this table.
A row's effect is committed in the same transaction as the state change,
before the next step starts; a crash between two steps therefore resumes at a
state whose effects are all on disk. docs/architecture.md's state table is
generated from `TRANSITIONS` (scripts/gen_job_docs.py; a test keeps it so).
"""

from __future__ import annotations

from dataclasses import dataclass

ACTIVE = ("accepted", "submitted", "running")  # grinding or about to: a restart drives them on
SETTLED = ("delivered", "refunded")  # nothing more ever happens to them
STATES = ("accepted", "submitted", "running", "found", "delivered", "failed", "refunded")


@dataclass(frozen=True)
class Transition:
    """One row of the table: in `state`, `event` moves the job `to` a state once `effect` has committed."""

    state: str  # the state the event happens in ("" for the job's creation)
    event: str  # what happened
    to: str  # the state the job is in once the effect is committed (the same state: a step within it)
    effect: str  # what is committed with it, in one transaction


TRANSITIONS: tuple[Transition, ...] = (
    Transition("", "paid", "accepted", "the charge (a ledger debit) and the job row, with this process's lease"),
    Transition(
        "accepted",
        "submitted",
        "submitted",
        "the backend and the provider's job id (an order's chunks are submitted while running)",
    ),
    Transition("accepted", "refused", "failed", "the provider's refusal as the job's error"),
    Transition("submitted", "started", "running", "the state alone"),
    Transition("running", "progress", "running", "an order's fan-out state and keys checked, its lease renewed"),
    Transition(
        "running",
        "lost",
        "running",
        "the provider job id of a fresh submission (the provider forgot the "
        "job; nothing was shown, so it is ground afresh)",
    ),
    Transition(
        "running",
        "verified",
        "found",
        "the verified secrets sealed in the vault, the public result in the "
        "row, and a pull cut short by its time limit refunded its unground "
        "share",
    ),
    Transition("running", "failed", "failed", "the error and the keys checked"),
    Transition(
        "found",
        "delivering",
        "found",
        "the delivery attempt's time, after the public result was shown "
        "and before the private message goes out (never sent twice)",
    ),
    Transition(
        "found",
        "deferred",
        "found",
        "the delivery attempt cleared: no front end of the job's platform is "
        "running, the key is offered when one starts",
    ),
    Transition(
        "found",
        "undelivered",
        "found",
        "nothing more: the platform refused the private message, the key waits in the vault for /keys",
    ),
    Transition("found", "delivered", "delivered", "the delivery time, and the vault row marked delivered"),
    Transition(
        "failed",
        "refund",
        "refunded",
        "the refund's ledger row, whose idempotency key is the job id "
        "(refunded once however often the step is retried)",
    ),
)

# The step of bot/jobs.py's Jobs that handles each state a job is driven in (by method name, so a test can wrap one).
STEPS: dict[str, str] = {
    "accepted": "_submit",
    "submitted": "_start",
    "running": "_grind",
    "found": "_reveal_and_deliver",
    "failed": "_refund",
}

_TABLE = {(t.state, t.event): t for t in TRANSITIONS}


class IllegalTransition(RuntimeError):
    """A step tried to commit a change the table has no row for: a bug, never a user's doing."""


def transition(state: str, event: str) -> Transition:
    """The row for `event` in `state`; IllegalTransition when there is none."""
    try:
        return _TABLE[(state, event)]
    except KeyError:
        raise IllegalTransition(f"no transition for {event!r} in state {state!r}") from None


def markdown_table() -> str:
    """The table as docs/architecture.md shows it (scripts/gen_job_docs.py)."""
    lines = ["| state | event | next state | committed with it | step |", "|---|---|---|---|---|"]
    for t in TRANSITIONS:
        step = f"Jobs.{STEPS[t.state]}" if t.state else "Jobs.create"
        lines.append(f"| {t.state or '(new)'} | {t.event} | {t.to} | {t.effect} | `{step}` |")
    return "\n".join(lines)
