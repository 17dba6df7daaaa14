"""The service's reveal timeout (REVEAL_TIMEOUT_S) cancelling a reveal while Discord paces the interaction.

discord.py holds a per-interaction lock for a request and, when Discord's answer says the route's bucket is spent
(X-RateLimit-Remaining 0), keeps holding it for the bucket's reset time after the answer. A request cancelled in
that pause never releases the lock; while anything still references the lock, every later request on the same
interaction waits for it for ever. The reveal waits for the roll step in flight, and the timeout cancelling that
wait cancelled the roll step in its pause: the reveal shown again and the closed-DMs note then hung. Now the roll
step, and any send its caller gives up on, runs to its own end.
"""

from __future__ import annotations

import asyncio

import pytest
from discord.webhook.async_ import async_context

from bot.frontends.discord import reveal
from tests.discord.conftest import Harness
from tests.discord.fake_discord import FakeDiscord

REVEAL_EDIT = r"/webhooks/\d+/[^/]+/messages/@original"


def reveal_edits(fake: FakeDiscord) -> list:
    return [r for r in fake.requests if r.method == "PATCH" and r.path.endswith("/messages/@original")]


@pytest.fixture
def locks_kept(monkeypatch: pytest.MonkeyPatch) -> dict:
    """discord.py's per-interaction locks, kept alive. The adapter holds them weakly: a lock a cancelled request
    left locked blocks the next request on that interaction when anything still references it (a request already
    waiting for it did, last round), and is dropped otherwise. Kept here, every lock left locked shows."""
    kept: dict = {}
    monkeypatch.setattr(async_context.get(), "_locks", kept)
    return kept


@pytest.mark.parametrize("in_flight", ["roll step", "reveal"])
async def test_a_reveal_cut_off_by_the_timeout_in_discords_pause_leaves_the_interaction_usable(
    in_flight: str, harness: Harness, locks_kept: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = harness.fake
    # The interaction's first edit is the roll's (at once) or the reveal's (no roll); it spends the edit bucket for
    # 1.5 s, and discord.py holds the interaction's lock for those 1.5 s after Discord's answer.
    monkeypatch.setattr(reveal, "ROLL_DELAY_S", 0.0 if in_flight == "roll step" else 60.0)
    fake.limit_route("PATCH", REVEAL_EDIT, limit=1, window_s=1.5)
    monkeypatch.setattr("bot.service.REVEAL_TIMEOUT_S", 0.5)  # ends inside that pause
    bob = fake.add_user("bob", dms_closed=True)

    await fake.slash(bob, "pull", {"pattern": "^ab"})
    # The timeout fires in the pause, the key's DM is refused (closed DMs), the reveal is shown again and bob is
    # told privately: both on the same interaction, both waiting for ever on its lock before the fix.
    try:
        notes = await fake.wait_for(lambda: fake.ephemeral_messages(bob.id), timeout=15)
    except TimeoutError:
        pytest.fail("the interaction hung after the reveal timeout: a request was cancelled in discord.py's pause")
    assert "Direct Messages" in notes[0]["content"]
    assert len(reveal_edits(fake)) >= 2, "the reveal was shown again after the timeout"
    assert not [lock for lock in locks_kept.values() if lock.locked()], "a lock left locked"
    await asyncio.wait_for(harness.app.jobs.wait_idle(), 10)
