"""Job steps publish to the observer interface at the jobs' own level (bot/job_events.py); the log line and
the metrics are subscribers wired in bot/app.py (tests/ops/test_logs.py and test_metrics.py read what they
make), and the engine imports neither (tests/test_architecture.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.app import App
from bot.job_events import JobEvents

from .conftest import ALICE, GUILD, RecordingFrontEnd


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def job_step(self, step: str, record: Any, fields: Mapping[str, Any]) -> None:
        self.seen.append(("step", step, record.job_id, record.status, dict(fields)))

    def job_failed(self, record: Any, reason: str) -> None:
        self.seen.append(("failed", record.job_id, reason))

    def provider_waited(
        self, provider: str, kind: str, *, round_trip_s: float | None = None, queue_wait_s: float | None = None
    ) -> None:
        self.seen.append(("waited", provider, kind, "round_trip" if round_trip_s is not None else "queue"))


async def test_a_pull_publishes_each_committed_step_in_order(app: App, frontend: RecordingFrontEnd) -> None:
    recorder = Recorder()
    app.jobs.events.subscribe(recorder)
    await app.service.grant(ALICE, 5)
    answer = await app.service.pull(ALICE, GUILD, "^ab", "btc")
    steps = [event[1:4] for event in recorder.seen if event[0] == "step"]
    job = answer.job_id
    assert steps == [
        ("accepted", job, "accepted"),
        ("submitted", job, "submitted"),
        ("running", job, "running"),
        ("found", job, "found"),
        ("delivered", job, "delivered"),
    ]
    [found] = [event[4] for event in recorder.seen if event[1] == "found"]
    assert found["keys_checked"] == app.settings.pull_budget  # what a step adds reaches the subscribers
    waits = [event[1:] for event in recorder.seen if event[0] == "waited"]
    assert waits == [(app.grinder.backend, "pull", "queue"), (app.grinder.backend, "pull", "round_trip")]


def test_every_subscriber_hears_every_event_in_the_order_they_subscribed() -> None:
    first, second = Recorder(), Recorder()
    events = JobEvents(first)
    events.subscribe(second)
    timer = events.provider_timer("runpod", "order")
    timer.progressed()
    timer.progressed()  # the queue wait is measured once, at the first progress
    timer.done()
    assert (
        first.seen
        == second.seen
        == [("waited", "runpod", "order", "queue"), ("waited", "runpod", "order", "round_trip")]
    )
