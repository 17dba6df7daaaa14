"""The service's way back to Telegram: private key delivery, order progress, notices.

deliver_private never raises: if the user never started the bot, blocked it,
or Telegram keeps refusing, it answers False and the key stays in the vault.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.answers import KeyDelivery, OrderView, Origin, UserRef
from bot.frontends.telegram.rendering import esc, highlighted, render_delivery, render_order, user_label

log = logging.getLogger(__name__)

PLATFORM = "telegram"
MAX_RETRY_WAIT_S = 30.0


def deep_link(bot_username: str, start: str = "keys") -> str:
    return f"https://t.me/{bot_username}?start={start}"


async def with_retry(send, attempts: int = 3):  # type: ignore[no-untyped-def]
    """Call send() again after Telegram's 429 wait, a few times."""
    for attempt in range(attempts):
        try:
            return await send()
        except RetryAfter as err:
            with warnings.catch_warnings():  # PTB 22 warns that retry_after will become a timedelta
                warnings.simplefilter("ignore")
                retry_after = err.retry_after
            wait = retry_after.total_seconds() if isinstance(retry_after, timedelta) else float(retry_after)
            if attempt == attempts - 1 or wait > MAX_RETRY_WAIT_S:
                raise
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


class TelegramFrontEnd:
    platform = PLATFORM

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._finished: set[tuple[str, str]] = set()
        self._edit_locks: dict[tuple[str, str], asyncio.Lock] = {}

    @property
    def keys_link(self) -> str:
        return deep_link(self.bot.username, "keys")

    async def deliver_private(self, user: UserRef, delivery: KeyDelivery) -> bool:
        if user.platform != PLATFORM:
            return False
        try:
            for text in render_delivery(delivery):
                await with_retry(lambda text=text: self.bot.send_message(
                    chat_id=int(user.user_id), text=text, parse_mode=ParseMode.HTML, protect_content=True))
        except Forbidden:
            return False  # never started, or blocked: the key waits in the vault for /start keys
        except TelegramError as err:
            log.warning("private delivery of job %s failed: %s", delivery.job_id, type(err).__name__)
            return False
        return True

    async def notify(self, user: UserRef, text: str) -> None:
        if user.platform != PLATFORM:
            return
        try:
            await with_retry(lambda: self.bot.send_message(chat_id=int(user.user_id), text=esc(text),
                                                           parse_mode=ParseMode.HTML))
        except TelegramError as err:
            log.info("notice to a user not sent: %s", type(err).__name__)

    def is_finished(self, origin: Origin) -> bool:
        return (origin.chat_id, origin.message_id or "") in self._finished

    async def edit_text_unless_finished(self, origin: Origin, text: str, *, final: bool = False) -> bool:
        """Edit the message at origin in place, serialised per message; never after the final edit."""
        if origin.platform != PLATFORM or origin.message_id is None:
            return False
        key = (origin.chat_id, origin.message_id)
        lock = self._edit_locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key in self._finished:
                return False
            if final:
                self._finished.add(key)
                self._edit_locks.pop(key, None)
            try:
                await self.bot.edit_message_text(chat_id=int(origin.chat_id), message_id=int(origin.message_id),
                                                 text=text, parse_mode=ParseMode.HTML)
            except BadRequest as err:
                if "not modified" not in err.message:
                    log.info("message not edited: %s", err.message)
            except RetryAfter:
                pass  # progress is best effort: the next update shows it
            except TelegramError as err:
                log.info("message not edited: %s", type(err).__name__)
        return True

    async def order_progress(self, order: OrderView) -> None:
        if order.origin is not None:
            await self.edit_text_unless_finished(order.origin, render_order(order))

    async def order_finished(self, order: OrderView) -> None:
        if order.origin is not None:
            await self.edit_text_unless_finished(order.origin, render_order(order), final=True)
        announce = self._finished_text(order)
        origin = order.origin
        chat_id = int(origin.chat_id) if origin is not None and origin.platform == PLATFORM else int(order.user.user_id)
        reply = None
        if origin is not None and origin.platform == PLATFORM and origin.message_id:
            reply = ReplyParameters(message_id=int(origin.message_id), allow_sending_without_reply=True)
        markup = None
        if order.found is not None and not order.delivered:
            markup = InlineKeyboardMarkup([[InlineKeyboardButton("🔑 Get my key", url=self.keys_link)]])
        try:
            await with_retry(lambda: self.bot.send_message(
                chat_id=chat_id, text=announce, parse_mode=ParseMode.HTML, reply_markup=markup,
                reply_parameters=reply))
        except TelegramError as err:
            log.info("order %s completion not announced: %s", order.order_id, type(err).__name__)

    def _finished_text(self, order: OrderView) -> str:
        who = user_label(order.user)
        if order.found is None:
            return f"❌ {who}, your order for <code>{esc(order.pattern)}</code> ended: {esc(order.message)}"
        where = ("The key went to your private chat with the bot." if order.delivered
                 else "Your key is safe in the vault: open a private chat with the bot to receive it.")
        return f"✅ {who}, your order for <code>{esc(order.pattern)}</code> is done: {highlighted(order.found)}\n{where}"
