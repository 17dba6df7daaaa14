"""The remote-provider base (bot/grinding/remote.py): a provider that fills in only send, read and stop gets
the queue limit, the deadline, outage handling, cancel bookkeeping, failures and billed seconds from it;
and Modal, built on it, polls on the fast adaptive schedule."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bot.grinding import GrindingError
from bot.grinding.modal_backend import ModalGrindingClient, NotReady
from bot.grinding.model import Billed
from bot.grinding.remote import (
    Phase,
    ProviderUnreachable,
    RemoteProvider,
    RemoteStatus,
    SubmitUnconfirmed,
)
from gpu_worker.job import GrindJob

from .modal_local import LocalModalCalls

PULL = GrindJob.parse({"v": 1, "format": "btc", "pattern": "ab", "budget": 300, "tag": "job0123456789ab"})
FAST = {"first_poll_s": 0.005, "poll_interval_s": 0.01, "max_poll_interval_s": 0.01}


class Scripted(RemoteProvider):
    """A whole provider: what it answers to send, read and stop is scripted."""

    noun = "scripted job"

    def __init__(self, statuses: list[RemoteStatus | Exception], **settings: Any) -> None:
        super().__init__(**settings)
        self.statuses = statuses  # the last one repeats
        self.sent: list[GrindJob] = []
        self.send_error: Exception | None = None
        self.reads = 0
        self.stopped: list[str] = []

    async def _send(self, sent: GrindJob, job: GrindJob) -> str:
        self.sent.append(sent)
        if self.send_error is not None:
            raise self.send_error
        return f"s-{len(self.sent)}"

    async def _read(self, job_id: str) -> RemoteStatus:
        answer = self.statuses[min(self.reads, len(self.statuses) - 1)]
        self.reads += 1
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def _stop(self, job_id: str) -> None:
        self.stopped.append(job_id)


async def outcome(client: RemoteProvider, job: GrindJob = PULL) -> GrindingError:
    job_id = await client.submit(job)
    with pytest.raises(GrindingError) as caught:
        await asyncio.wait_for(client.wait(job_id, job), 10)
    return caught.value


async def test_a_job_queued_past_the_queue_limit_is_cancelled_and_goes_elsewhere() -> None:
    client = Scripted([RemoteStatus(Phase.QUEUED)], pull_queue_limit_s=0.05, **FAST)
    error = await outcome(client)
    assert error.code == "unavailable" and "waited in the queue" in error.message and client.stopped == ["s-1"]
    assert client.sent[0].seal_to == client.sealer.public_hex and client.sent[0].tag.startswith(PULL.tag or "")


async def test_a_provider_that_cannot_tell_queued_from_running_is_held_to_the_deadline_instead() -> None:
    client = Scripted(
        [RemoteStatus(Phase.PENDING)], pull_queue_limit_s=0.05, pull_time_limit_s=0.05, execution_grace_s=0.05, **FAST
    )
    client.tells_queued = False
    started = time.monotonic()
    error = await outcome(client)
    assert error.code == "unavailable" and "deadline" in error.message and client.stopped == ["s-1"]
    assert time.monotonic() - started >= 0.1  # past the queue limit alone: the run and its grace count too


async def test_a_cancelled_job_is_lost_unless_this_client_cancelled_it() -> None:
    assert (await outcome(Scripted([RemoteStatus(Phase.CANCELLED)], **FAST))).code == "lost"
    ours = Scripted([RemoteStatus(Phase.CANCELLED)], **FAST)
    job_id = await ours.submit(PULL)
    await ours.cancel(job_id)
    with pytest.raises(GrindingError) as caught:
        await ours.wait(job_id, PULL)
    assert caught.value.code == "cancelled"


async def test_the_workers_error_code_decides_the_failure() -> None:
    refused = await outcome(Scripted([RemoteStatus(Phase.FAILED, error="bad_pattern: 0 is not base58")], **FAST))
    crashed = await outcome(Scripted([RemoteStatus(Phase.FAILED, error="worker_error: boom\ntrace")], **FAST))
    over = await outcome(Scripted([RemoteStatus(Phase.TIMED_OUT)], **FAST))
    assert (refused.code, crashed.code, over.code) == ("rejected", "failed", "timed_out")
    assert crashed.message == "scripted job s-1 failed: worker_error: boom"


async def test_an_outage_past_the_outage_limit_gives_the_job_up() -> None:
    client = Scripted([RemoteStatus(Phase.RUNNING), ProviderUnreachable("HTTP 503")], outage_limit_s=0.05, **FAST)
    error = await outcome(client)
    assert error.code == "unavailable" and "unreachable for over" in error.message and client.stopped == ["s-1"]


async def test_billed_seconds_come_from_the_final_status_without_asking_again() -> None:
    client = Scripted(
        [RemoteStatus(Phase.RUNNING), RemoteStatus(Phase.FAILED, error="worker_error: x", gpu_s=2.5)], **FAST
    )
    await outcome(client)
    reads = client.reads
    assert await client.billed("s-1") == Billed(gpu_s=2.5) and client.reads == reads
    assert await client.billed("s-1") == Billed(gpu_s=2.5)  # asked again: one more read, the same figure
    silent = Scripted([RemoteStatus(Phase.FAILED, error="worker_error: x", gpu_s=2.5)], **FAST)
    silent.reports_gpu_s = False
    await outcome(silent)
    reads = silent.reads
    assert await silent.billed("s-1") is None and silent.reads == reads


async def test_an_unconfirmed_submit_is_sent_again_only_where_the_provider_dedups_by_tag() -> None:
    once = Scripted([RemoteStatus(Phase.QUEUED)], **FAST)
    once.send_error = SubmitUnconfirmed("HTTP 502")
    with pytest.raises(GrindingError) as caught:
        await once.submit(PULL)
    assert caught.value.code == "unavailable" and len(once.sent) == 1
    again = Scripted([RemoteStatus(Phase.QUEUED)], idempotent_submit=True, **FAST)
    again.send_error = SubmitUnconfirmed("HTTP 502")
    with pytest.raises(GrindingError):
        await again.submit(PULL)
    assert len(again.sent) == 3 and len({sent.tag for sent in again.sent}) == 1  # the same tag each time


class SlowToSay(LocalModalCalls):
    """Modal's function run here, but each call reads as not ready for its first three polls."""

    def __init__(self) -> None:
        super().__init__()
        self.polled_at: list[float] = []

    async def result(self, call_id: str) -> dict[str, Any]:
        self.polled_at.append(time.monotonic())
        if len(self.polled_at) <= 3:
            raise NotReady()
        return await super().result(call_id)


async def test_modal_polls_on_the_fast_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the base, Modal polled at 1 s growing by half: its fourth poll came 7 s after the first."""
    monkeypatch.setenv("VANIKEYS_WORKER_BACKEND", "python")
    calls = SlowToSay()
    client = ModalGrindingClient(calls)  # the defaults, as the bot builds it
    try:
        job_id = await client.submit(PULL)
        result = await asyncio.wait_for(client.wait(job_id, PULL), 30)
        assert result.results and calls.polled_at[3] - calls.polled_at[0] < 1.0
    finally:
        await calls.stop()
