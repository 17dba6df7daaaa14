"""The service's way back to Telegram: private key delivery, order progress, notices.

Everything goes out through the per-chat Outbox (paced to Telegram's limits).
deliver_private never raises: if the user never started the bot, blocked it,
or Telegram keeps refusing, it answers False and the key stays in the vault.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.answers import KeyDelivery, OrderView, Origin, UserRef
from bot.community.late_reveals import LateReveal, digest_title
from bot.frontends.telegram.kept import KeptMessage, kept_message
from bot.frontends.telegram.outbox import Kept, Outbox, OutboxLimits
from bot.frontends.telegram.rendering import (
    esc,
    fit,
    highlighted,
    render_delivery,
    render_order,
    user_label,
)
from bot.frontends.telegram.text_size import MAX_MESSAGE, lines_in_one_digest, utf16_len
from bot.i18n import PEOPLE, _, current, ngettext, public_now, use_locale

log = logging.getLogger(__name__)

PLATFORM = "telegram"
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
FINISHED_ORDERS_KEPT = 4096  # edits refused after an order's final edit; the oldest are forgotten
HELD_REVEALS_KEPT = 4096
CHAT_LOCALES_KEPT = 4096


@dataclass(frozen=True)
class PrivateMessage:
    """One message to a person's private chat; one that carries a secret is protected from forwarding."""

    text: str
    markup: InlineKeyboardMarkup | None = None
    reply_to: int | None = None
    protect: bool = False


def _replying_to(message_id: int | None) -> ReplyParameters | None:
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True) if message_id else None


def deep_link(bot_username: str, start: str = "keys") -> str:
    """The t.me link that opens a private chat with the bot and sends it `/start <start>`."""
    return f"https://t.me/{bot_username}?start={start}"


class TelegramFrontEnd:
    """The service's Telegram side (its FrontEnd): key deliveries, order progress and notices, all through `outbox`.

    Remembers which order messages had their final edit (the newest FINISHED_ORDERS_KEPT), so no later progress
    edit overwrites a result, and holds private reveals until their key goes out with them."""

    platform = PLATFORM

    def __init__(self, bot: Bot, limits: OutboxLimits | None = None) -> None:
        self.bot = bot
        self.outbox = Outbox(self._send_digest, limits or OutboxLimits())
        self._finished: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._edit_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._held_reveals: dict[str, PrivateMessage] = {}  # job id -> a private reveal waiting for its key
        self._digest_locales: OrderedDict[int, str] = OrderedDict()  # chat -> its reveals' language, for digests

    @property
    def keys_link(self) -> str:
        """The deep link that opens the private chat with `/start keys` (the person's keys)."""
        return deep_link(self.bot.username, "keys")

    def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        markup: InlineKeyboardMarkup | None = None,
        reply_to: int | None = None,
        protect: bool = False,
        digest_line: str | None = None,
        must_deliver: bool = False,
        owner: int | None = None,
        stale_after_s: float | None = None,
        fold_key: object = None,
        urgent: bool = False,
        keepable: bool = True,
    ) -> asyncio.Future[Any]:
        """Queue an HTML message for chat_id; the future holds the sent Message (None: a notice dropped as
        stale or folded, see Outbox.post). Kept across a stop unless it is protected (a key), a notice that
        goes stale, or not `keepable` (a message whose sender waits for it: it is of no use late)."""
        if digest_line is not None:
            self._note_digest_locale(chat_id)
        keep = None
        if keepable and digest_line is None and not protect and stale_after_s is None:
            keep = kept_message(chat_id, text, reply_to, markup)
        return self.outbox.post(
            chat_id,
            lambda: self.bot.send_message(
                chat_id=chat_id,
                text=text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                reply_parameters=_replying_to(reply_to),
                link_preview_options=NO_PREVIEW,
                protect_content=protect or None,
            ),
            digest_line=digest_line,
            must_deliver=must_deliver,
            owner=owner,
            stale_after_s=stale_after_s,
            fold_key=fold_key,
            keep=keep,
            urgent=urgent,
        )

    def send_photo(
        self,
        chat_id: int,
        png: bytes,
        caption: str,
        *,
        markup: InlineKeyboardMarkup | None = None,
        reply_to: int | None = None,
        digest_line: str | None = None,
    ) -> asyncio.Future[Any]:
        """Queue a photo (a reveal's card) with an HTML caption; foldable into a digest like a text reveal."""
        if digest_line is not None:
            self._note_digest_locale(chat_id)
        return self.outbox.post(
            chat_id,
            lambda: self.bot.send_photo(
                chat_id=chat_id,
                photo=png,
                caption=caption,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                reply_parameters=_replying_to(reply_to),
            ),
            digest_line=digest_line,
            must_deliver=True,
        )

    async def delete_unless_finished(self, origin: Origin) -> None:
        """Remove a message (the rolling step a card replaces); no edit reaches it afterwards."""
        if origin.message_id is None:
            return
        key = (origin.chat_id, origin.message_id)
        self._finished[key] = None
        while len(self._finished) > FINISHED_ORDERS_KEPT:
            self._finished.popitem(last=False)
        try:
            await self.bot.delete_message(chat_id=int(origin.chat_id), message_id=int(origin.message_id))
        except TelegramError as err:
            log.info("message not deleted: %s", type(err).__name__)

    def _note_digest_locale(self, chat_id: int) -> None:
        """A reveal that may be folded: its digest's title is written later, by the chat's queue, in this update's
        public language (the queue's own task has the locale of whichever update started it)."""
        self._digest_locales[chat_id] = public_now()
        self._digest_locales.move_to_end(chat_id)
        while len(self._digest_locales) > CHAT_LOCALES_KEPT:
            self._digest_locales.popitem(last=False)

    async def _send_digest(self, chat_id: int, lines: list[str], *, late: bool = False) -> object:
        with use_locale(self._digest_locales.get(chat_id) or current()):
            title = (
                digest_title(len(lines)) if late else ngettext("🎰 {n} more pull:", "🎰 {n} more pulls:", len(lines))
            )
        text = fit([title] + [f"• {line}" for line in lines])
        return await self.bot.send_message(
            chat_id=chat_id, text=text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
        )

    async def post_late(self, waiting: dict[str, list[LateReveal]]) -> AsyncIterator[list[int]]:
        """Reveals and messages kept from before a restart: reveals as digests per chat, other messages as
        they were; yields the ids of each that went out (or that the chat refuses for good: the bot was removed,
        the group is gone). Stops at the first other failure (the bot stopping again): what is left stays kept."""
        for chat_key, kept in waiting.items():
            chat_id = int(chat_key)
            reveals = [r for r in kept if KeptMessage.decode(r.line) is None]
            for row in kept:
                message = KeptMessage.decode(row.line)
                if message is None:
                    continue
                if not await self._post_late_one(chat_id, self._late_message(chat_id, message)):
                    return
                yield [row.id]
            while reveals:
                count = lines_in_one_digest([r.line for r in reveals], self.outbox.limits.digest_chars)
                chunk, reveals = reveals[:count], reveals[count:]
                lines = [r.line for r in chunk]
                if not await self._post_late_one(chat_id, partial(self._send_digest, chat_id, lines, late=True)):
                    return
                yield [r.id for r in chunk]

    def _late_message(self, chat_id: int, message: KeptMessage) -> Callable[[], Awaitable[Any]]:
        return partial(
            self.bot.send_message,
            chat_id=chat_id,
            text=message.text,
            parse_mode=ParseMode.HTML,
            reply_markup=message.keyboard(),
            reply_parameters=_replying_to(message.reply_to),
            link_preview_options=NO_PREVIEW,
        )

    async def _post_late_one(self, chat_id: int, send: Callable[[], Awaitable[Any]]) -> bool:
        """False when the bot is stopping again (or Telegram keeps failing): stop posting, the rest stays kept."""
        try:
            await self.outbox.call(chat_id, send, must_deliver=True)
        except (Forbidden, BadRequest) as err:
            log.info("kept messages for chat %s not postable (%s): dropped", chat_id, type(err).__name__)
        except TelegramError:
            return False
        return True

    def hold_reveal(
        self, job_id: str, text: str, markup: InlineKeyboardMarkup | None, reply_to: int | None = None
    ) -> None:
        """A private chat's reveal, held to go out in the same message as the job's key (deliver_private):
        one message instead of two, which counts under Telegram's 30 messages a second. The pull's handler
        takes it back (take_held_reveal) if no delivery came for it."""
        self._held_reveals[job_id] = PrivateMessage(text, markup, reply_to)
        while len(self._held_reveals) > HELD_REVEALS_KEPT:  # bounded even if a handler never came back
            self._held_reveals.pop(next(iter(self._held_reveals)))

    def take_held_reveal(self, job_id: str) -> PrivateMessage | None:
        """The private reveal held for `job_id`, removed; None when none is held (or it was delivered with the key)."""
        return self._held_reveals.pop(job_id, None)

    async def deliver_private(self, user: UserRef, delivery: KeyDelivery) -> bool:
        """Send a found key (the held reveal with it, when one fits) privately, protected from forwarding, in the
        person's language. Never raises: False when the person is not on Telegram, never started or blocked the bot,
        or Telegram kept failing; the key then stays in the vault."""
        if user.platform != PLATFORM:
            return False
        chat_id = int(user.user_id)
        with use_locale(PEOPLE.of(PLATFORM, user.user_id) or current()):  # a DM: the person's own language
            messages = [PrivateMessage(text, protect=True) for text in render_delivery(delivery)]
        held = self.take_held_reveal(delivery.job_id)
        if held is not None and utf16_len(held.text) + 2 + utf16_len(messages[0].text) <= MAX_MESSAGE:
            messages[0] = PrivateMessage(f"{held.text}\n\n{messages[0].text}", held.markup, held.reply_to, protect=True)
        elif held is not None:  # too long for one message (a 10-pull): the reveal first, then the keys
            messages.insert(0, PrivateMessage(held.text, held.markup, held.reply_to, protect=False))
        try:
            for message in messages:
                await self.outbox.call(
                    chat_id,
                    partial(
                        self.bot.send_message,
                        chat_id=chat_id,
                        text=message.text,
                        parse_mode=ParseMode.HTML,
                        reply_markup=message.markup,
                        reply_parameters=_replying_to(message.reply_to),
                        protect_content=message.protect or None,
                    ),
                )
        except Forbidden:
            return False  # never started, or blocked: the key waits in the vault for /start keys
        except TelegramError as err:
            log.warning("private delivery of job %s failed: %s", delivery.job_id, type(err).__name__)
            return False
        return True

    async def notify(self, user: UserRef, text: str) -> None:
        """A notice to a person's private chat (the text is escaped); not sent to someone the bot cannot write to
        (logged, never raised), and a no-op for people on another platform."""
        if user.platform != PLATFORM:
            return
        try:
            await asyncio.shield(self.send_text(int(user.user_id), esc(text)))  # kept if the bot stops first
        except TelegramError as err:
            log.info("notice to a user not sent: %s", type(err).__name__)

    def is_finished(self, origin: Origin) -> bool:
        """True once the message at `origin` had its final edit or was removed: no edit reaches it any more."""
        return (origin.chat_id, origin.message_id or "") in self._finished

    async def edit_text_unless_finished(
        self,
        origin: Origin,
        text: str,
        *,
        final: bool = False,
        markup: InlineKeyboardMarkup | None = None,
        must_deliver: bool | None = None,
        keep: Kept | None = None,
    ) -> bool:
        """Edit the message at origin in place, serialised per message; never after the final edit.

        Progress edits are best effort (one try: a 429 skips the step). A final edit waits out 429s until it
        lands (a pull's reveal), unless `must_deliver=False` (an order's result, announced in a message of its
        own: every retry spends the group's budget). True when the message shows `text` (or a skipped progress
        step in a busy group); False when it does not: not ours, already final, or the edit did not land."""
        if origin.platform != PLATFORM or origin.message_id is None:
            return False
        key = (origin.chat_id, origin.message_id)
        lock = self._edit_locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                if key in self._finished:
                    return False
                if final:
                    self._finished[key] = None
                    while len(self._finished) > FINISHED_ORDERS_KEPT:
                        self._finished.popitem(last=False)
                elif self.outbox.free_in(int(origin.chat_id)) <= 1:
                    return True  # the group is busy: skip this progress step, keep room for the result
                try:
                    await self.outbox.call(
                        int(origin.chat_id),
                        lambda: self.bot.edit_message_text(
                            chat_id=int(origin.chat_id),
                            message_id=int(origin.message_id or 0),
                            text=text,
                            parse_mode=ParseMode.HTML,
                            reply_markup=markup,
                            link_preview_options=NO_PREVIEW,
                        ),
                        must_deliver=final if must_deliver is None else must_deliver,
                        best_effort=not final,
                        keep=keep,
                    )
                except BadRequest as err:
                    if "not modified" not in err.message:
                        log.info("message not edited: %s", err.message)
                        return False
                except TelegramError as err:
                    log.info("message not edited: %s", type(err).__name__)
                    return False
        finally:
            if not lock.locked() and not getattr(lock, "_waiters", None):
                self._edit_locks.pop(key, None)  # no state kept per message once nobody edits it
        return True

    async def order_progress(self, order: OrderView) -> None:
        """Edit the order's message to show its progress (best effort: a busy group skips a step)."""
        if order.origin is not None:
            await self.edit_text_unless_finished(order.origin, render_order(order))

    async def order_finished(self, order: OrderView) -> None:
        """The result announced first (it never waits behind edits of the order's message), then the order's
        message edited to its final state, or removed if that edit cannot land, so it never stays "Placing…"."""
        await self._announce_finished(order)
        origin = order.origin
        if origin is None or origin.platform != PLATFORM or self.is_finished(origin):
            return
        if not await self.edit_text_unless_finished(origin, render_order(order), final=True, must_deliver=False):
            await self.delete_unless_finished(origin)

    async def _announce_finished(self, order: OrderView) -> None:
        origin = order.origin
        in_chat = origin is not None and origin.platform == PLATFORM
        chat_id = int(origin.chat_id) if in_chat and origin is not None else int(order.user.user_id)
        reply = int(origin.message_id) if in_chat and origin is not None and origin.message_id else None
        markup = None
        if order.found is not None and not order.delivered:
            markup = InlineKeyboardMarkup([[InlineKeyboardButton(_("🔑 Get my key"), url=self.keys_link)]])
        try:
            await self.send_text(chat_id, self._finished_text(order), markup=markup, reply_to=reply, must_deliver=True)
        except TelegramError as err:
            log.info("order %s completion not announced: %s", order.order_id, type(err).__name__)
        if order.found is None and chat_id < 0:
            with use_locale(PEOPLE.of(PLATFORM, order.user.user_id) or current()):
                ended = _("your order for {pattern} ended: {why}", pattern=order.pattern, why=order.message_now())
            await self.notify(order.user, ended)

    def _finished_text(self, order: OrderView) -> str:
        """Public: what happened, never what it cost or what was refunded (that goes privately)."""
        who = user_label(order.user)
        if order.found is None:
            return _(
                "❌ {who}'s order for <code>{pattern}</code> ended without a match; the details went privately.",
                who=who,
                pattern=esc(order.pattern),
            )
        if order.delivery_pending:  # announced before the private delivery goes out
            where = _(
                "The key goes to the buyer's private chat with the bot (the button fetches it if it does not arrive)."
            )
        elif order.delivered:
            where = _("The key went to the buyer's private chat with the bot.")
        else:
            where = _("The key is safe in the vault until the buyer opens a private chat with the bot.")
        return (
            _(
                "✅ {who}'s order for <code>{pattern}</code> is done: {key}",
                who=who,
                pattern=esc(order.pattern),
                key=highlighted(order.found),
            )
            + "\n"
            + where
        )
