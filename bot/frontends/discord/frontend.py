"""The FrontEnd the service calls back: DMs for keys and notices, in-place order progress, order endings.

Order messages are edited through the channel endpoint (not the interaction
webhook), so edits keep working after the 15-minute interaction token
expires and after a restart: the Origin stored with the order is all it takes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from functools import partial
from typing import TYPE_CHECKING

import discord

from bot.answers import KeyDelivery, OrderView, UserRef
from bot.command_refs import use_command_writer
from bot.frontends.discord.outbox import OutboxClosed
from bot.frontends.discord.progress import ProgressEdits
from bot.frontends.discord.rendering import delivery_messages, late_reveal_digests, order_embed, order_finished_text
from bot.storage import StorageUnavailable

if TYPE_CHECKING:
    from bot.frontends.discord.bot import VaniKeysBot

log = logging.getLogger(__name__)

PLATFORM = "discord"
LATEST_KEPT = 1000
_FINAL = ("found", "delivered", "failed", "refunded")
NO_MENTIONS = discord.AllowedMentions.none()


class DiscordFrontEnd:
    """The service's port to Discord (bot.ports.FrontEnd): keys by DM, an order's progress and ending on its public
    message, notices by DM. It also keeps the newest view of each recent order (LATEST_KEPT of them) and the
    reveals a stop kept from their channels."""

    platform = PLATFORM

    def __init__(self, bot: VaniKeysBot) -> None:
        self.bot = bot
        self._latest: OrderedDict[str, OrderView] = OrderedDict()
        self.progress = ProgressEdits(bot.outbox, gap_s=bot.config.order_progress_gap_s)
        self._keeping: set[asyncio.Task[int]] = set()  # reveals being stored at a stop
        self.revealing = 0  # reveals in progress (PullReveal.show)

    # --- FrontEnd protocol ----------------------------------------------------------

    async def deliver_private(self, user: UserRef, delivery: KeyDelivery) -> bool:
        """The key by DM, in as many messages as it takes; False (never raises) for an id that is not a snowflake or
        when Discord refuses the DM (closed DMs, no shared server): the key stays in the vault for /keys."""
        user_id = _snowflake(user.user_id)
        if user_id is None:
            return False
        try:
            channel = await self.bot.create_dm(discord.Object(user_id))
            for text in delivery_messages(delivery):
                await channel.send(text, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            # 50007: the user closed DMs (or shares no server with the bot); the key stays in the vault
            log.info(
                "job %s: DM to user %s refused (status %s, code %s)", delivery.job_id, user_id, exc.status, exc.code
            )
            return False
        return True

    async def order_progress(self, order: OrderView) -> None:
        """Edit the order's public message with its progress, unless an older view than one already shown: droppable,
        paced per channel (ProgressEdits), never waited on by the grinder."""
        if self._remember(order):
            await self._edit_origin(order, final=False)

    async def order_finished(self, order: OrderView) -> None:
        """The ending, as the public message's last edit (retried through 429s), then a notice in the order's channel
        that mentions its owner (a reply to the message when it is known). Discord's refusals, timeouts and a
        stop are logged, not raised."""
        self._remember(order)
        await self._edit_origin(order, final=True)
        origin = order.origin
        if origin is None or origin.platform != PLATFORM or (channel_id := _snowflake(origin.chat_id)) is None:
            return
        channel = self.bot.get_partial_messageable(channel_id)
        reference = None
        if origin.message_id and (message_id := _snowflake(origin.message_id)) is not None:
            reference = discord.MessageReference(message_id=message_id, channel_id=channel_id, fail_if_not_exists=False)
        mentions = discord.AllowedMentions(users=True, everyone=False, roles=False, replied_user=False)
        guild = getattr(self.bot.get_channel(channel_id), "guild", None)  # a recovered order's task: not set yet
        with use_command_writer(self.bot.mentions.writer(guild.id if guild is not None else None)):
            text = order_finished_text(order, f"<@{order.user.user_id}>")

        async def send() -> discord.Message:
            if reference is None:  # left out: discord.py's default (None) is no reply
                return await channel.send(text, allowed_mentions=mentions)
            return await channel.send(text, reference=reference, allowed_mentions=mentions)

        try:
            await self.bot.outbox.must(channel_id, send)
        except (discord.HTTPException, TimeoutError, OutboxClosed) as exc:
            log.warning(
                "order %s: completion notice in channel %s failed (%s)", order.order_id, channel_id, type(exc).__name__
            )

    async def notify(self, user: UserRef, text: str) -> None:
        """A private notice by DM, cut to 2000 characters; undeliverable ones are logged and dropped."""
        user_id = _snowflake(user.user_id)
        if user_id is None:
            return
        try:
            channel = await self.bot.create_dm(discord.Object(user_id))
            await channel.send(text[:2000], allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.info("notice to user %s not delivered (status %s, code %s)", user_id, exc.status, exc.code)

    # --- reveals across a stop ---------------------------------------------------------

    async def keep_late_reveal(self, channel_id: int, line: str) -> None:
        """A public reveal the stop kept from its channel: stored (the storage Telegram's late reveals use,
        bot/community/late_reveals.py) and posted there after the restart."""
        task = asyncio.create_task(self.bot.service.keep_late_reveals(PLATFORM, {str(channel_id): [line]}))
        self._keeping.add(task)
        try:
            await asyncio.shield(task)
            log.info("stopping: a reveal for channel %s kept, to be posted after the restart", channel_id)
        except Exception:  # the database is what failed: say so; the key itself is delivered or in the vault
            log.exception("stopping: a reveal for channel %s could not be kept", channel_id)
        finally:
            self._keeping.discard(task)

    async def kept(self, timeout: float) -> None:
        """At a stop, once the outbox is closed: wait (bounded) for the reveals in progress to end (each one
        posted, or kept) and for those being stored."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.revealing and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        if self._keeping:
            await asyncio.wait(set(self._keeping), timeout=max(0.1, deadline - asyncio.get_running_loop().time()))

    async def post_late_reveals(self) -> None:
        """At start: post the reveals a previous stop kept, as digests per channel, and forget each one posted
        (or that its channel refuses for good: gone, or the bot no longer allowed there). On any other failure
        what is left stays kept for the next start."""
        service = self.bot.service
        try:
            waiting = await service.claim_late_reveals(PLATFORM)
            if waiting:
                log.info("posting %d reveals kept from before the restart", sum(map(len, waiting.values())))
            for chat_id, reveals in waiting.items():
                channel_id = _snowflake(chat_id)
                if channel_id is None:
                    await service.forget_late_reveals(r.id for r in reveals)
                    continue
                channel = self.bot.get_partial_messageable(channel_id)
                for count, text in late_reveal_digests([r.line for r in reveals]):
                    chunk, reveals = reveals[:count], reveals[count:]
                    try:
                        await self.bot.outbox.must(
                            channel_id, partial(channel.send, text, allowed_mentions=NO_MENTIONS)
                        )
                    except (discord.Forbidden, discord.NotFound) as exc:
                        log.info(
                            "late reveals for channel %s not postable (%s): dropped", channel_id, type(exc).__name__
                        )
                    await service.forget_late_reveals(r.id for r in chunk)
        except StorageUnavailable as err:
            log.warning("late reveals not posted now (%s): they stay kept for the next start", err.why)
        except (discord.HTTPException, TimeoutError, OutboxClosed) as exc:
            log.warning(
                "late reveals not all posted now (%s): the rest stay kept for the next start", type(exc).__name__
            )
        except Exception:
            log.exception("late reveals not all posted now: the rest stay kept for the next start")

    # --- for the command flows --------------------------------------------------------

    def latest(self, order: OrderView) -> OrderView:
        """The most advanced view of this order seen so far (progress may overtake the command's answer)."""
        seen = self._latest.get(order.order_id)
        return seen if seen is not None and _rank(seen) >= _rank(order) else order

    def _remember(self, order: OrderView) -> bool:
        """Keep the newest view; False when `order` is older than one already shown (a late progress event)."""
        seen = self._latest.get(order.order_id)
        if seen is not None and _rank(seen) > _rank(order):
            return False
        self._latest[order.order_id] = order
        self._latest.move_to_end(order.order_id)
        while len(self._latest) > LATEST_KEPT:
            self._latest.popitem(last=False)
        return True

    async def _edit_origin(self, order: OrderView, *, final: bool) -> None:
        origin = order.origin
        if origin is None or origin.platform != PLATFORM or not origin.message_id:
            return
        channel_id, message_id = _snowflake(origin.chat_id), _snowflake(origin.message_id)
        if channel_id is None or message_id is None:
            return
        message = self.bot.get_partial_messageable(channel_id).get_partial_message(message_id)
        embed = order_embed(order)
        if not final:  # droppable: coalesced per message and paced per channel, never awaited by the grinder
            self.progress.offer(channel_id, message_id, lambda: message.edit(content=None, embed=embed))
            return
        await self.progress.settle(channel_id, message_id)  # the ending is the message's last edit
        try:
            await self.bot.outbox.must(channel_id, lambda: message.edit(content=None, embed=embed))
        except (discord.HTTPException, TimeoutError, OutboxClosed) as exc:
            log.warning("order %s: edit in channel %s failed (%s)", order.order_id, channel_id, type(exc).__name__)


def _rank(order: OrderView) -> tuple[int, int]:
    return (1 if order.status in _FINAL else 0, order.keys_checked)


def _snowflake(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None
