"""The grinders' capacity is shared fairly between front ends (bot/fair_share.py).

Before: Telegram bounded itself at 64 pulls in flight, Discord not at all, and both queued first come, first
served on the one grinder, so a burst from one front end made every pull from the other wait behind all of it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.answers import ServiceError, UserRef
from bot.app import create_app
from bot.fair_share import FairShare
from bot.grinder import InProcessGrindingClient
from bot.grinding.tasks import RunningJob
from gpu_worker.job import GrindResult
from tests.bot.conftest import RecordingFrontEnd, small_settings

TELEGRAM_PATTERN, DISCORD_PATTERN = "^ab", "^ac"


class GatedGrinder(InProcessGrindingClient):
    """Each job starts grinding only when the test lets one through, and says which front end's it is."""

    def __init__(self) -> None:
        super().__init__("python")
        self.started: list[str] = []
        self.permits = asyncio.Semaphore(0)
        self.arrived = asyncio.Event()

    async def _run(self, running: RunningJob) -> GrindResult:
        self.started.append("telegram" if running.job.pattern == TELEGRAM_PATTERN else "discord")
        self.arrived.set()
        await self.permits.acquire()
        return await super()._run(running)


async def settle(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_neither_front_end_starves_the_other_when_both_saturate_the_grinders(tmp_path: Path) -> None:
    settings = small_settings(tmp_path, pull_budget_cpu=64, free_pulls_per_day=100, grind_slots=2)
    grinder = GatedGrinder()
    async with create_app(settings, grinder=grinder) as app:
        for platform in ("telegram", "discord"):
            app.service.register_frontend(RecordingFrontEnd(platform))
        telegram = [
            asyncio.create_task(app.service.pull(UserRef("telegram", f"t{i}"), None, TELEGRAM_PATTERN, allow_easy=True))
            for i in range(12)
        ]
        await settle(lambda: len(grinder.started) == 2 and app.service.fair_share.waiting("telegram") == 10)
        discord = [
            asyncio.create_task(app.service.pull(UserRef("discord", f"d{i}"), None, DISCORD_PATTERN, allow_easy=True))
            for i in range(4)
        ]
        await settle(lambda: app.service.fair_share.waiting("discord") == 4)
        pulls = telegram + discord
        for done in range(1, len(pulls) + 1):  # one grind at a time finishes; the next start shows who got it
            grinder.permits.release()
            await settle(lambda done=done: sum(t.done() for t in pulls) >= done)
        answers = await asyncio.gather(*pulls)
    assert all(a.keys for a in answers)
    order = grinder.started
    assert order[:2] == ["telegram", "telegram"] and sorted(order) == ["discord"] * 4 + ["telegram"] * 12
    # Freed capacity goes to the front end holding less of it: Discord's four start within the next eight
    # grinds (alternating), not after Telegram's ten-pull backlog.
    assert [i for i, who in enumerate(order) if who == "discord"] == [2, 4, 6, 8]


async def test_one_front_end_alone_may_use_all_of_it() -> None:
    share = FairShare(3)
    releases = [await share.acquire("telegram") for _ in range(3)]
    assert share.free == 0 and share.in_use["telegram"] == 3
    waiting = asyncio.create_task(share.acquire("telegram"))
    await asyncio.sleep(0)
    assert not waiting.done()
    releases[0]()
    releases[0]()  # a release is idempotent
    assert (await asyncio.wait_for(waiting, 1)) is not None and share.in_use["telegram"] == 3


async def test_a_larger_share_waits_its_turn_and_is_not_overtaken() -> None:
    share = FairShare(4)
    ones = [await share.acquire("discord") for _ in range(4)]
    ten = asyncio.create_task(share.acquire("telegram", 10))  # more than there is: the whole capacity (4 units)
    await asyncio.sleep(0)
    later = asyncio.create_task(share.acquire("discord"))
    await asyncio.sleep(0)
    for release in ones[:3]:
        release()
    await asyncio.sleep(0)
    assert not ten.done() and not later.done(), "three free units: it still waits, and nobody overtakes it"
    ones[3]()
    (await asyncio.wait_for(ten, 1))()
    await asyncio.wait_for(later, 1)


async def test_a_caller_that_gives_up_leaves_the_line() -> None:
    share = FairShare(1)
    held = await share.acquire("telegram")
    gone = asyncio.create_task(share.acquire("discord"))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    assert share.waiting("discord") == 0
    held()
    assert share.free == 1


async def test_a_front_ends_line_is_bounded() -> None:
    share = FairShare(1, max_waiting=2)
    await share.acquire("discord")
    line = [asyncio.create_task(share.acquire("discord")) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(ServiceError) as refused:
        await share.acquire("discord")
    assert refused.value.code == "busy" and refused.value.committed == "nothing"
    other = asyncio.create_task(share.acquire("telegram"))  # another front end's line is its own
    await asyncio.sleep(0)
    assert share.waiting("telegram") == 1
    for task in (*line, other):
        task.cancel()
    await asyncio.gather(*line, other, return_exceptions=True)
