"""The FrontEnd the service calls back: DMs for keys and notices, in-place order progress, order endings.

Order messages are edited through the channel endpoint (not the interaction
webhook), so edits keep working after the 15-minute interaction token
expires and after a restart: the Origin stored with the order is all it takes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING

import discord

from bot.answers import KeyDelivery, OrderView, UserRef
from bot.frontends.discord.progress import ProgressEdits
from bot.frontends.discord.rendering import delivery_messages, order_embed, order_finished_text

if TYPE_CHECKING:
    from bot.frontends.discord.bot import VaniKeysBot

log = logging.getLogger(__name__)

PLATFORM = "discord"
LATEST_KEPT = 1000
_FINAL = ("found", "delivered", "failed", "refunded")
NO_MENTIONS = discord.AllowedMentions.none()


class DiscordFrontEnd:
    platform = PLATFORM

    def __init__(self, bot: VaniKeysBot) -> None:
        self.bot = bot
        self._latest: OrderedDict[str, OrderView] = OrderedDict()
        self.progress = ProgressEdits(bot.outbox, gap_s=bot.config.order_progress_gap_s)

    # --- FrontEnd protocol ----------------------------------------------------------

    async def deliver_private(self, user: UserRef, delivery: KeyDelivery) -> bool:
        user_id = _snowflake(user.user_id)
        if user_id is None:
            return False
        try:
            channel = await self.bot.create_dm(discord.Object(user_id))
            for text in delivery_messages(delivery):
                await channel.send(text, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            # 50007: the user closed DMs (or shares no server with the bot); the key stays in the vault
            log.info("job %s: DM to user %s refused (status %s, code %s)", delivery.job_id, user_id, exc.status,
                     exc.code)
            return False
        return True

    async def order_progress(self, order: OrderView) -> None:
        if self._remember(order):
            await self._edit_origin(order, final=False)

    async def order_finished(self, order: OrderView) -> None:
        self._remember(order)
        await self._edit_origin(order, final=True)
        origin = order.origin
        if origin is None or origin.platform != PLATFORM or (channel_id := _snowflake(origin.chat_id)) is None:
            return
        channel = self.bot.get_partial_messageable(channel_id)
        reference = None
        if origin.message_id and (message_id := _snowflake(origin.message_id)) is not None:
            reference = discord.MessageReference(message_id=message_id, channel_id=channel_id,
                                                 fail_if_not_exists=False)
        mentions = discord.AllowedMentions(users=True, everyone=False, roles=False, replied_user=False)
        try:
            await self.bot.outbox.must(channel_id, lambda: channel.send(
                order_finished_text(order, f"<@{order.user.user_id}>"), reference=reference,
                allowed_mentions=mentions))
        except (discord.HTTPException, TimeoutError) as exc:
            log.warning("order %s: completion notice in channel %s failed (%s)", order.order_id, channel_id,
                        type(exc).__name__)

    async def notify(self, user: UserRef, text: str) -> None:
        user_id = _snowflake(user.user_id)
        if user_id is None:
            return
        try:
            channel = await self.bot.create_dm(discord.Object(user_id))
            await channel.send(text[:2000], allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.info("notice to user %s not delivered (status %s, code %s)", user_id, exc.status, exc.code)

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
        await self.progress.settle(channel_id, message_id)   # the ending is the message's last edit
        try:
            await self.bot.outbox.must(channel_id, lambda: message.edit(content=None, embed=embed))
        except (discord.HTTPException, TimeoutError) as exc:
            log.warning("order %s: edit in channel %s failed (%s)", order.order_id, channel_id, type(exc).__name__)


def _rank(order: OrderView) -> tuple[int, int]:
    return (1 if order.status in _FINAL else 0, order.keys_checked)


def _snowflake(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None
