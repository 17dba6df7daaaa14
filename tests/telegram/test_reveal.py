"""One pull's choreography (bot/frontends/telegram/reveal.py), rule by rule, without Telegram: when the DM waits
for the reveal, when the reveal is queued behind the group's limit, held reveals, and what a failure takes back."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from bot.answers import PullAnswer
from bot.frontends.telegram.reveal import PullReveal, RevealPorts


def answer(job_id: str = "job-1", *, card: bool = False, delivered: bool = True) -> PullAnswer:
    fields: dict[str, Any] = {
        f.name: None
        for f in dataclasses.fields(PullAnswer)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    fields.update(job_id=job_id)
    made = PullAnswer(**fields)
    return dataclasses.replace(made, card_png=b"png" if card else None, delivered=delivered)


class FrontEnd:
    """Records what the choreography asked for; each posted reveal's future settles when the test says."""

    def __init__(self, *, room: bool = True) -> None:
        self.room = room
        self.posted: list[tuple[str, bool]] = []
        self.futures: list[asyncio.Future[Any]] = []
        self.held: set[str] = set()
        self.events: list[str] = []

    def ports(self) -> RevealPorts:
        return RevealPorts(post=self.post, hold=self.hold, take_held=self.take_held, has_room=lambda: self.room)

    def post(self, pulled: PullAnswer, before_delivery: bool) -> asyncio.Future[Any]:
        self.posted.append((pulled.job_id, before_delivery))
        self.events.append("reveal posted")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future

    def hold(self, pulled: PullAnswer) -> None:
        self.held.add(pulled.job_id)

    def take_held(self, job_id: str) -> bool:
        if job_id in self.held:
            self.held.discard(job_id)
            return True
        return False


def choreography(front: FrontEnd, *, in_group: bool, wait_s: float = 5.0) -> PullReveal:
    return PullReveal(front.ports(), in_group=in_group, wait_s=wait_s)


async def test_the_grind_ending_gives_the_slot_back_and_stops_the_suspense_once() -> None:
    front = FrontEnd()
    reveal = choreography(front, in_group=True)
    released: list[int] = []
    suspense = asyncio.Event()

    async def rolling() -> None:
        await suspense.wait()

    reveal.start(rolling())
    task = reveal._tasks[0]
    async with reveal.grinding(lambda: released.append(1)):
        await asyncio.sleep(0)
        assert released == [] and not task.done()
        reveal_task = asyncio.ensure_future(reveal.on_reveal(answer()))
        await asyncio.sleep(0)
        assert released == [1], "the slot is free as soon as the result is stored, before anything is sent"
        front.futures[0].set_result("sent")
        await reveal_task
    await asyncio.sleep(0)
    assert task.cancelled() and released == [1], "released once, however the pull ends"


async def test_in_a_group_with_room_the_dm_waits_for_the_reveal() -> None:
    front = FrontEnd(room=True)
    reveal = choreography(front, in_group=True)
    hook = asyncio.ensure_future(reveal.on_reveal(answer()))
    await asyncio.sleep(0.05)
    assert front.posted == [("job-1", True)]
    assert not hook.done(), "the service's DM waits while the reveal is on its way"
    front.futures[0].set_result("sent")
    await asyncio.wait_for(hook, 1)
    reveal.after_pull(answer())
    assert front.posted == [("job-1", True)], "revealed once"


async def test_a_reveal_that_cannot_go_in_time_does_not_hold_the_key() -> None:
    front = FrontEnd(room=True)
    reveal = choreography(front, in_group=True, wait_s=0.05)
    await asyncio.wait_for(reveal.on_reveal(answer()), 1)  # the reveal never settles: the DM goes after wait_s
    assert not front.futures[0].done()


async def test_in_a_group_at_its_limit_the_reveal_is_queued_and_the_dm_goes_at_once() -> None:
    front = FrontEnd(room=False)
    reveal = choreography(front, in_group=True)
    await asyncio.wait_for(reveal.on_reveal(answer()), 0.5)  # returns without waiting on the queued reveal
    assert front.posted == [("job-1", True)] and not front.futures[0].done()


async def test_in_a_private_chat_the_reveal_is_held_for_the_key_message() -> None:
    front = FrontEnd()
    reveal = choreography(front, in_group=False)
    async with reveal.grinding(lambda: None):
        await reveal.on_reveal(answer())
    assert front.posted == [] and front.held == {"job-1"}
    front.take_held("job-1")  # the key's message carried it
    reveal.after_pull(answer(delivered=True))
    assert front.posted == [], "never twice: the key's message was the reveal"


async def test_a_held_reveal_no_key_message_carried_goes_on_its_own() -> None:
    for taken_by_a_failed_dm in (False, True):
        front = FrontEnd()
        reveal = choreography(front, in_group=False)
        await reveal.on_reveal(answer())
        if taken_by_a_failed_dm:
            front.take_held("job-1")
        reveal.after_pull(answer(delivered=False))
        assert front.posted == [("job-1", False)]


async def test_a_private_card_is_posted_and_the_dm_follows_without_waiting() -> None:
    front = FrontEnd(room=True)
    reveal = choreography(front, in_group=False)
    await asyncio.wait_for(reveal.on_reveal(answer(card=True)), 0.5)
    assert front.posted == [("job-1", True)] and front.held == set()


async def test_a_service_without_the_hook_gets_the_reveal_after_the_pull() -> None:
    front = FrontEnd()
    reveal = choreography(front, in_group=True)
    reveal.after_pull(answer())
    assert front.posted == [("job-1", False)]


async def test_a_failed_pull_takes_its_held_reveal_back() -> None:
    front = FrontEnd()
    reveal = choreography(front, in_group=False)
    with pytest.raises(RuntimeError):
        async with reveal.grinding(lambda: None):
            await reveal.on_reveal(answer())
            assert front.held == {"job-1"}
            raise RuntimeError("the delivery step failed")
    assert front.held == set() and front.posted == []
