"""What the Telegram outbox keeps for after a stop or a kill, in the database, and posting it after the restart.

The outbox hands over (bot/frontends/telegram/outbox.py, `Keeper`) every reveal or public message that has to
wait behind a group's limit, as soon as it is queued, and whatever is still queued when it closes. `StoredKeeper`
writes each to the late-reveal store (bot/community/late_reveals.py) claimed by this process, renews those claims
while the bot runs, forgets each once it went out, and at a clean stop releases the rest for the next start. A
process killed outright stops renewing: after `job_lease_s` its claims lapse and a live process (the restarted
one) posts them. Nothing secret is kept: reveals are what the group sees, and key deliveries are never kept.

Rows hold either a reveal's digest line (posted in a "from before the bot restarted" digest) or, for any other
message, a JSON object `{"text", "reply_to", "markup"}` (posted as it was, replying to the same command).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from telegram import InlineKeyboardMarkup

from bot.community.late_reveals import LateReveal
from bot.frontends.telegram.outbox import Kept

log = logging.getLogger(__name__)

PLATFORM = "telegram"
CLOSE_TIMEOUT_S = 5.0  # at a stop, how long the last writes get (a database that does not answer is logged)


class KeptStore(Protocol):
    """The service's late-reveal methods this module uses."""

    async def keep_waiting_reveal(self, platform: str, chat_id: str, line: str, owner: str) -> int:
        """Store one waiting message's line, claimed by `owner`; returns its row id."""

    async def forget_late_reveals(self, ids: list[int]) -> None:
        """Delete these rows: their messages went out (or never will)."""

    async def renew_late_reveals(self, owner: str) -> None:
        """Extend `owner`'s claims, so no peer takes them while this process lives."""

    async def release_late_reveals(self, owner: str) -> None:
        """Give up `owner`'s claims: the next claim_lapsed_reveals takes them at once."""

    async def claim_lapsed_reveals(self, platform: str, owner: str) -> dict[str, list[LateReveal]]:
        """Claim for `owner` the rows nobody live holds on `platform`, by chat id."""


@dataclass(frozen=True)
class KeptMessage:
    """A whole message kept for after the restart (anything but a reveal)."""

    text: str
    reply_to: int | None = None
    markup: dict[str, Any] | None = None

    def encode(self) -> str:
        """The stored line: the message as a JSON object (a reveal's digest line never starts with `{`)."""
        return json.dumps({"text": self.text, "reply_to": self.reply_to, "markup": self.markup})

    @classmethod
    def decode(cls, line: str) -> KeptMessage | None:
        """None for a reveal's digest line (an HTML line, never a JSON object)."""
        if not line.startswith("{"):
            return None
        try:
            data = json.loads(line)
            return cls(str(data["text"]), data.get("reply_to"), data.get("markup"))
        except (ValueError, KeyError, TypeError):
            return None

    def keyboard(self) -> InlineKeyboardMarkup | None:
        """The message's inline keyboard rebuilt from its stored dict; None when it had none."""
        return InlineKeyboardMarkup.de_json(self.markup, None) if self.markup else None


def kept_message(chat_id: int, text: str, reply_to: int | None, markup: InlineKeyboardMarkup | None) -> Kept:
    """What the outbox keeps for a whole message to `chat_id` while it waits: sent as it was after a restart."""
    return Kept(chat_id, "message", KeptMessage(text, reply_to, markup.to_dict() if markup else None).encode())


class StoredKeeper:
    """The outbox's keeper, writing to the database in order on a task of its own (the outbox never waits)."""

    def __init__(self, store: KeptStore, renew_every_s: float) -> None:
        self.store = store
        self.owner = uuid.uuid4().hex  # this run of the front end: its claims, renewed while it lives
        self.renew_every_s = renew_every_s
        self._ops: asyncio.Queue[tuple[str, Kept]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writer and the claim renewer; call once, inside the running loop."""
        self._writer = asyncio.get_running_loop().create_task(self._write_forever(), name="telegram-kept-writer")
        self._renewer = asyncio.get_running_loop().create_task(self._renew_forever(), name="telegram-kept-renewer")

    def keep(self, kept: Kept) -> None:
        """Queue storing `kept` (its row id is set once written); returns at once, the write happens in order later."""
        self._ops.put_nowait(("keep", kept))

    def forget(self, kept: Kept) -> None:
        """Queue deleting `kept`'s row (it went out); queued after its keep, so a row written late is still deleted."""
        self._ops.put_nowait(("forget", kept))

    def pending(self) -> int:
        """How many writes are queued and not done yet."""
        return self._ops.qsize()

    async def _write_forever(self) -> None:
        while True:
            op, kept = await self._ops.get()
            try:
                await self._write(op, kept)
            except Exception as exc:  # the database failed: that reveal is not kept; say so, go on
                log.warning(
                    "a waiting Telegram message was not %s (%s)",
                    "kept" if op == "keep" else "forgotten",
                    type(exc).__name__,
                )
            finally:
                self._ops.task_done()

    async def _write(self, op: str, kept: Kept) -> None:
        if op == "keep" and kept.row is None:
            kept.row = await self.store.keep_waiting_reveal(PLATFORM, str(kept.chat_id), kept.text, self.owner)
        elif op == "forget" and isinstance(kept.row, int):
            row, kept.row = kept.row, None
            await self.store.forget_late_reveals([row])

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every_s)
            try:
                await self.store.renew_late_reveals(self.owner)
            except Exception as exc:
                log.warning("kept Telegram messages not renewed (%s): a peer may post them too", type(exc).__name__)

    async def close(self) -> int:
        """Write what is queued (within CLOSE_TIMEOUT_S), then release this process's claims: the next start
        posts what is left at once. Returns how many writes did not finish."""
        if self._renewer is not None:
            self._renewer.cancel()
        try:
            await asyncio.wait_for(self._ops.join(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            log.error("stopping: %d waiting Telegram messages could not be written in time", self._ops.qsize())
        if self._writer is not None:
            self._writer.cancel()
        try:
            await self.store.release_late_reveals(self.owner)
        except Exception as exc:  # they lapse after job_lease_s instead
            log.warning("stopping: kept Telegram messages not released (%s)", type(exc).__name__)
        return self._ops.qsize()


async def post_kept_forever(
    store: KeptStore, poster: LatePoster, owner: str, every_s: float, stop: asyncio.Event
) -> None:
    """Post what earlier runs kept, now and every `every_s` (a killed process's claims lapse while this runs),
    until `stop` is set. Not cancelled at a stop: a digest that went out is forgotten before this ends (the
    closing outbox ends a post that waits)."""
    while not stop.is_set():
        try:
            waiting = await store.claim_lapsed_reveals(PLATFORM, owner)
            if waiting:
                log.info("posting %d messages kept from before a restart", sum(map(len, waiting.values())))
            async for posted in poster.post_late(waiting):
                await store.forget_late_reveals(posted)
        except Exception as exc:  # StorageUnavailable among them: they stay kept for the next round
            log.warning("kept messages not posted now (%s): they stay kept", type(exc).__name__)
        try:
            await asyncio.wait_for(stop.wait(), every_s)
        except TimeoutError:
            pass


class LatePoster(Protocol):
    """What posts kept messages: TelegramFrontEnd."""

    def post_late(self, waiting: dict[str, list[LateReveal]]) -> AsyncIterator[list[int]]:
        """Post the claimed rows by chat; yield the ids of each batch that went out (or can never go)."""
        ...
