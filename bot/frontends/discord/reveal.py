"""A pull's moment in the channel: a short roll, then the reveal, then (the service's job) the key by DM.

The interaction is acknowledged before this starts. A refusal (no tokens,
bad pattern) comes back from the service within milliseconds, so the roll
starts only after `ROLL_DELAY_S`: a refused pull never shows a roll. The roll
is a few edits of the same message in a neutral colour (the tier stays
hidden), one every `ROLL_STEP_S`, for as long as the grind runs and at most
`ROLL_STEPS` steps; it is decoration, skipped when the channel is busy. The
reveal replaces it and always arrives (the outbox retries 429s), through the
channel endpoint once the interaction token is no longer fresh. A reveal
still waiting when the bot stops (a channel's 429, Discord holding the
request) is kept in the database and posted in its channel after the restart,
in a digest (DiscordFrontEnd.keep_late_reveal / post_late_reveals).
"""

from __future__ import annotations

import asyncio
import io
import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import discord

from bot.answers import PullAnswer
from bot.frontends.discord.outbox import OutboxClosed
from bot.frontends.discord.rendering import pull_digest_line, pull_embed, rolling_embed
from bot.frontends.discord.turns import Turn
from bot.frontends.discord.views import PatternRequest, reveal_view
from bot.i18n import current, use_locale

if TYPE_CHECKING:
    from bot.frontends.discord.outbox import Outbox

log = logging.getLogger(__name__)

ROLL_DELAY_S = 0.4
ROLL_STEP_S = 0.5
ROLL_STEPS = 4
CARD_FILENAME = "vanikeys-card.png"
_ANNOUNCING: set[asyncio.Task[None]] = set()  # announcements in flight (a reference keeps each task alive)


class PullReveal:
    """One pull's roll and reveal on a Turn (module docstring): public in the channel, or privately with private_note
    above it. `revealed` is True once the reveal is shown; `rolled_steps` counts the roll's edits that went out."""

    def __init__(
        self, turn: Turn, outbox: Outbox, request: PatternRequest, *, public: bool, private_note: str | None = None
    ) -> None:
        self.turn = turn
        self.outbox = outbox
        self.request = request
        self.public = public
        self.private_note = private_note  # shown above a private reveal (e.g. what permission to grant)
        self.revealed = False
        self.rolled_steps = 0
        self._stop = asyncio.Event()
        self._roller: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        """The puller's display name, as the roll and the reveal show it."""
        return self.turn.interaction.user.display_name

    def start(self) -> None:
        """Start the roll in the background (public reveals only); it waits ROLL_DELAY_S first."""
        if self.public:
            self._roller = asyncio.create_task(self._roll(), name=f"roll-{self.turn.interaction.id}")

    async def stop(self) -> None:
        """End the roll and wait for it to finish (never cancelled: see the comment); called once the service's pull
        returned or failed."""
        self._stop.set()
        if self._roller is not None:
            # Never cancelled, not even when this wait is (the service's REVEAL_TIMEOUT_S): discord.py's webhook
            # adapter leaves its per-token lock held when a request is cancelled in its post-request delay, and
            # later edits of that interaction (the reveal) can hang. gather would pass a cancel on; wait does not.
            # At a stop the outbox's close ends a roll step still waiting (the bot is going anyway).
            await asyncio.wait([self._roller])

    async def _roll(self) -> None:
        if await self._wait(ROLL_DELAY_S):
            return
        await self.turn.learn_message()
        for step in range(ROLL_STEPS):
            with use_locale(self.turn.public_locale):
                embed = rolling_embed(self.name, step)
            if await self.outbox.maybe(self.turn.channel_id, partial(self.turn.edit_public, embed=embed)):
                self.rolled_steps += 1
            if await self._wait(ROLL_STEP_S):
                return

    async def _wait(self, seconds: float) -> bool:
        """Sleep, or return True at once when the reveal is ready."""
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def show(self, answer: PullAnswer) -> None:
        """The reveal (the service's on_reveal, before the DM): in place of the roll, or privately as a fallback."""
        frontend = self.turn.bot.frontend
        frontend.revealing += 1
        try:
            await self._show(answer)
        finally:
            frontend.revealing -= 1

    async def _show(self, answer: PullAnswer) -> None:
        await self.stop()
        if self.public:
            try:
                await self.outbox.must(
                    self.turn.channel_id,
                    lambda: self.turn.replace_public(
                        self._message(answer, edit=True), lambda: self._message(answer, edit=False)
                    ),
                )
            except OutboxClosed:  # the bot is stopping: kept, and posted in the channel after the restart
                await self.turn.bot.frontend.keep_late_reveal(self.turn.channel_id, pull_digest_line(answer, self.name))
                self.revealed = True
                return
            self.turn.posted = True
        else:
            await self.turn.private(self.private_note, **self._message(answer, edit=False))
        self.revealed = True
        log.debug("interaction %s revealed after %d rolling steps", self.turn.interaction.id, self.rolled_steps)
        if answer.announce_channel and answer.announce_channel.isdigit() and self.public:
            task = asyncio.create_task(self._announce(int(answer.announce_channel), answer))
            _ANNOUNCING.add(task)
            task.add_done_callback(_ANNOUNCING.discard)

    def _message(self, answer: PullAnswer, *, edit: bool) -> dict[str, Any]:
        """The reveal's message fields; built afresh for every try (an uploaded file is read once)."""
        user = self.turn.interaction.user
        with use_locale(self.turn.public_locale if self.public else current()):  # a public reveal: the server's
            embed = pull_embed(answer, user.display_name, user.display_avatar.url if user.display_avatar else None)
            view = reveal_view(
                PatternRequest(answer.pattern, answer.format_id, self.request.exact_case, self.request.fuzzy)
            )
        fields: dict[str, Any] = {"embed": embed}
        if edit:
            fields["content"] = None
        if view is not None:
            fields["view"] = view
        if answer.card_png:
            embed.set_image(url=f"attachment://{CARD_FILENAME}")
            card = discord.File(io.BytesIO(answer.card_png), filename=CARD_FILENAME)
            if edit:
                fields["attachments"] = [card]
            else:
                fields["file"] = card
        return fields

    async def _announce(self, channel_id: int, answer: PullAnswer) -> None:
        """Epic and up, where the server set an announcement channel: the same reveal there too."""
        channel = self.turn.bot.get_partial_messageable(channel_id)
        try:
            await self.outbox.must(channel_id, lambda: channel.send(**_without_view(self._message(answer, edit=False))))
        except (discord.HTTPException, TimeoutError, OutboxClosed) as exc:
            log.warning("announcement in channel %s failed (%s)", channel_id, type(exc).__name__)


def _without_view(fields: dict[str, Any]) -> dict[str, Any]:
    fields.pop("view", None)  # the buttons stay with the reveal in the pull channel
    return fields
