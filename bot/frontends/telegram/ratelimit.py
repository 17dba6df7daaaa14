"""python-telegram-bot's AIORateLimiter, with the answers Telegram times out on kept out of its queue.

Callback queries must be answered within ~15 s and pre-checkout queries within 10 s;
neither counts against a chat's message limits, so they skip the limiter (and its
pause after a 429 elsewhere). Everything else is paced: 30 a second overall, 20 a
minute per group, no retries here (the outbox retries, off the handlers' path).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.ext import AIORateLimiter

class _OutboxRetries(logging.Filter):
    """With no retries here, PTB logs every 429 as an error with a traceback; the outbox retries it and
    logs one line, so that record is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Rate limit hit after maximum of 0 retries")


logging.getLogger("telegram.ext.AIORateLimiter").addFilter(_OutboxRetries())

UNQUEUED = frozenset({"answerCallbackQuery", "answerPreCheckoutQuery", "getUpdates"})
# What counts against a group's ~20 messages a minute; anything else (chat actions, deletes, member
# look-ups) only against the overall rate, or "typing…" would eat the group's message budget.
GROUP_MESSAGES = frozenset({"sendMessage", "sendPhoto", "sendInvoice", "editMessageText", "editMessageCaption",
                            "editMessageReplyMarkup", "sendMediaGroup", "sendDocument", "copyMessage",
                            "forwardMessage"})


class AnswersFirstRateLimiter(AIORateLimiter):
    def __init__(self, *, overall_per_s: int = 30, group_messages: int = 20, group_window_s: float = 60.0) -> None:
        super().__init__(overall_max_rate=overall_per_s, overall_time_period=1,
                         group_max_rate=group_messages, group_time_period=group_window_s, max_retries=0)

    async def process_request(self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any,
                              kwargs: dict[str, Any], endpoint: str, data: dict[str, Any],
                              rate_limit_args: int | None) -> Any:
        if endpoint in UNQUEUED:
            return await callback(*args, **kwargs)
        if endpoint not in GROUP_MESSAGES and "chat_id" in data:
            data = {**data, "chat_id": 0}  # seen by the limiter only: paced overall, not per group
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
