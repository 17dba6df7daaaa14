"""The worker handler on its own: validation answers, time limit, stop=full, progress, no key in logs."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from typing import Any

import pytest

from gpu_worker import handler as worker
from gpu_worker.job import GrindHit, GrindJob, GrindResult
from gpu_worker.sealing import ResultSealer
from gpu_worker.verify import verify_hit

JOB = {"v": 1, "format": "btc", "pattern": "ab", "budget": 600}


@pytest.mark.parametrize(
    ("raw", "code", "hint"),
    [
        (None, "bad_job", "dictionary"),
        ("{not json", "bad_job", "JSON"),
        ([1, 2], "bad_job", "dictionary"),
        ({**JOB, "v": 2}, "bad_job", "'v'"),
        ({**JOB, "surprise": 1}, "bad_job", "surprise"),
        ({**JOB, "budget": -5}, "bad_job", "budget"),
        ({**JOB, "format": "doge"}, "bad_format", "btc"),
        ({**JOB, "pattern": "0O", "case": "exact"}, "bad_pattern", "instead"),
        ({**JOB, "split_pubkey": "02" + "00" * 32}, "bad_pubkey", ""),
        ({**JOB, "seal_to": "not a key"}, "bad_job", "seal_to"),
        ({**JOB, "seal_to": "00" * 32}, "bad_job", "X25519"),  # a low-order point: nothing could be sealed
    ],
)
async def test_a_bad_job_gets_a_code_and_message_string(python_backend: Any, raw: Any, code: str, hint: str) -> None:
    answer = await worker.handle_input(raw, python_backend)
    assert set(answer) == {"error"}
    assert isinstance(answer["error"], str)
    assert answer["error"].startswith(f"{code}: ")
    assert hint in answer["error"]
    assert "\n" not in answer["error"]


async def test_a_pull_returns_a_result_that_verifies(python_backend: Any) -> None:
    answer = await worker.handle_input({**JOB, "top": 3}, python_backend)
    result = GrindResult.model_validate(answer)
    job = GrindJob.parse({**JOB, "top": 3})
    assert result.checked == 600 and result.backend == "python"
    assert 1 <= len(result.results) <= 3
    scores = [hit.score for hit in result.results]
    assert scores == sorted(scores, reverse=True)
    for hit in result.results:
        verify_hit(job, hit)


async def test_a_job_with_seal_to_answers_with_sealed_secrets_only(python_backend: Any) -> None:
    sealer = ResultSealer.generate()
    answer = await worker.handle_input({**JOB, "top": 2, "seal_to": sealer.public_hex}, python_backend)
    sealed = GrindResult.model_validate(answer)
    assert sealed.results and all(hit.sealed for hit in sealed.results)
    job = GrindJob.parse({**JOB, "top": 2})
    opened = sealer.open_result(sealed)
    for hit in opened.results:
        verify_hit(job, hit)
        assert hit.secret not in json.dumps(answer)


async def test_stop_full_stops_at_the_first_full_match(python_backend: Any) -> None:
    job = {**JOB, "budget": 50_000, "stop": "full"}
    result = GrindResult.model_validate(await worker.handle_input(job, python_backend))
    assert result.found_full
    assert result.checked < 50_000  # p(full) is about 1/26 per key: 50k keys without one is impossible in practice
    verify_hit(GrindJob.parse(job), result.results[0])


async def test_time_limit_ends_a_job_early_with_what_it_checked(python_backend: Any) -> None:
    job = {**JOB, "pattern": "^zzzzzz", "budget": 10**12, "time_limit_s": 0.4}
    began = time.monotonic()
    result = GrindResult.model_validate(await worker.handle_input(job, python_backend))
    took = time.monotonic() - began
    assert took < 3.0
    assert 0 < result.checked < 10**12


async def test_progress_is_reported_between_steps_without_keys(python_backend: Any) -> None:
    reports: list[dict[str, Any]] = []
    job = {**JOB, "pattern": "^zzzzzz", "budget": 10**12, "time_limit_s": 2.0}
    await worker.handle_input(job, python_backend, report=reports.append, progress_interval_s=0.1)
    assert len(reports) >= 2
    checked = [r["checked"] for r in reports]
    assert checked == sorted(checked) and checked[-1] > 0
    assert all(set(r) == {"checked", "rate", "best_score", "max_score", "elapsed_s"} for r in reports)
    assert all(r["rate"] > 0 and r["max_score"] == 6 for r in reports)


async def test_the_event_loop_stays_free_while_grinding(python_backend: Any) -> None:
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    tick_task = asyncio.create_task(ticker())
    await worker.handle_input({**JOB, "pattern": "^zzzzzz", "budget": 10**12, "time_limit_s": 1.5}, python_backend)
    tick_task.cancel()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) > 10 and max(gaps) < 0.5  # grinding on the loop itself would stall it for the whole 1.5 s


async def test_cancelling_the_handler_stops_it_promptly(python_backend: Any) -> None:
    task = asyncio.create_task(
        worker.handle_input({**JOB, "pattern": "^zzzzzz", "budget": 10**12, "time_limit_s": 60}, python_backend)
    )
    await asyncio.sleep(0.3)
    began = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - began < 0.5


class _BrokenBackend:
    name = "broken"
    device = "nothing"

    def scan(self, plan: Any, first_key: int, n_keys: int) -> list[Any]:
        raise RuntimeError("secret 1234abcd leaked into an exception")

    def close(self) -> None:
        pass


class _LyingBackend:
    """Claims a full match for a key that does not match: the session's own verification must catch it."""

    name = "liar"
    device = "nothing"

    def scan(self, plan: Any, first_key: int, n_keys: int) -> list[Any]:
        from gpu_worker.keyspace import Candidate

        return [Candidate(key_index=first_key, score=plan.pattern.max_score)]

    def close(self) -> None:
        pass


async def test_a_crashing_backend_is_a_failed_job_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        answer = await worker.handle_input(JOB, _BrokenBackend())  # type: ignore[arg-type]
    assert answer["error"].startswith("worker_error: ")
    assert answer["refresh_worker"] is True
    assert "1234abcd" not in answer["error"] and "1234abcd" not in caplog.text


async def test_a_backend_that_lies_fails_verification(python_backend: Any) -> None:
    answer = await worker.handle_input({**JOB, "pattern": "^zzzzzz"}, _LyingBackend())  # type: ignore[arg-type]
    assert answer["error"].startswith("verification_failed: ")


async def test_no_private_key_reaches_the_log(python_backend: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        answer = await worker.handle_input({**JOB, "top": 5}, python_backend)
    hits = [GrindHit.model_validate(hit) for hit in answer["results"]]
    assert hits and any(hit.identifier in caplog.text for hit in hits)  # the public side is logged
    for hit in hits:
        assert hit.secret not in caplog.text
        assert hit.secret.upper() not in caplog.text


async def test_the_sdk_entry_point_takes_a_runpod_job(python_backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "_backend", python_backend)
    monkeypatch.delenv("RUNPOD_WEBHOOK_POST_OUTPUT", raising=False)
    answer = await worker.handler({"id": "job-1", "input": JOB})
    assert GrindResult.model_validate(answer).checked == 600
    assert (await worker.handler({"id": "job-2"}))["error"].startswith("bad_job: ")


class _CountingBackend:
    """The python backend, recording how many scans ever ran at the same time."""

    def __init__(self, inner: Any) -> None:
        import threading

        self.inner, self.name, self.device = inner, inner.name, inner.device
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def scan(self, plan: Any, first_key: int, n_keys: int) -> list[Any]:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.05)
            return self.inner.scan(plan, first_key, n_keys)
        finally:
            with self._lock:
                self.running -= 1

    def close(self) -> None:
        pass


async def test_a_job_after_a_cancelled_one_never_shares_the_backend(python_backend: Any) -> None:
    backend = _CountingBackend(python_backend)
    slow = {**JOB, "pattern": "^zzzzzz", "budget": 10**12, "time_limit_s": 60}
    first = asyncio.create_task(worker.handle_input(slow, backend))  # type: ignore[arg-type]
    await asyncio.sleep(0.2)
    first.cancel()
    second = await worker.handle_input({**JOB, "budget": 2000}, backend)  # type: ignore[arg-type]
    assert GrindResult.model_validate(second).checked == 2000
    assert backend.most == 1
