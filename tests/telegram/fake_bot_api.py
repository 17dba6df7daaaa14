"""A loopback fake of the Telegram Bot API, good enough for python-telegram-bot.

It speaks the documented wire protocol: POST /bot<token>/<method> with form or
JSON parameters, answers ``{"ok": true, "result": ...}`` or Telegram's error
objects with the same HTTP status. It keeps the state the real API keeps and
that our bot depends on: which users have started the bot (a bot cannot open a
private chat: 403), the messages it sent (so edits can fail with "message is
not modified"), callback queries and pre-checkout queries (answered at most
once), Star charges (refunded at most once), the webhook (getUpdates is a 409
while one is set, and updates are POSTed to it instead). Messages are parsed
as Telegram parses HTML: a stray ``<`` or ``&`` is the same 400 it is there.

Platform limits are enforced as Telegram enforces them: at most `group_limit`
messages (sends and edits) per group per window and `overall_per_s` a second in
all (past either: 429 with `retry_after`), callback queries answered within
`callback_deadline_s` (15 s) of the press. Telegram's own entity detection is
modelled too: an ``@username`` or a URL in plain text becomes a mention/url
entity (not inside <code>), which is how a bot ends up pinging someone.

Every request is recorded for the tests to assert on.
"""

from __future__ import annotations

import asyncio
import collections
import html
import itertools
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import ClientSession, web

from tests.specs import conformance

MAX_MESSAGE_CHARS = 4096
MAX_CALLBACK_DATA_BYTES = 64

JSON_PARAMS = {
    "reply_markup",
    "commands",
    "prices",
    "scope",
    "allowed_updates",
    "entities",
    "link_preview_options",
    "reply_parameters",
    "suggested_tip_amounts",
}
INT_PARAMS = {
    "chat_id",
    "message_thread_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "user_id",
    "max_connections",
    "cache_time",
}
BOOL_PARAMS = {"ok", "drop_pending_updates", "show_alert", "disable_notification", "is_flexible", "protect_content"}
# What counts against a chat's message limits.
# wait_for re-checks its condition this often even when no request comes (a long poll may hold for seconds)
WAIT_RECHECK_S = 0.05
LIMITED_METHODS = {"sendMessage", "sendPhoto", "editMessageText", "editMessageCaption", "sendInvoice"}
_AUTO_ENTITY = re.compile(r"(?<![\w@/])@[A-Za-z][A-Za-z0-9_]{3,31}\b|\bhttps?://\S+|\bt\.me/\S+")


class TelegramError(Exception):
    """An error answer, exactly as the Bot API words it."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def forbidden_never_started() -> TelegramError:
    return TelegramError(403, "Forbidden: bot can't initiate conversation with a user")


def forbidden_blocked() -> TelegramError:
    return TelegramError(403, "Forbidden: bot was blocked by the user")


def too_many_requests(retry_after: int = 1) -> TelegramError:
    return TelegramError(429, f"Too Many Requests: retry after {retry_after}", retry_after)


def bad_request(reason: str) -> TelegramError:
    return TelegramError(400, f"Bad Request: {reason}")


NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)

_ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
}
_ENTITY = re.compile(r"&(#[0-9]+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")


class _TelegramHtml(HTMLParser):
    """Telegram's HTML subset; raises TelegramError on what Telegram rejects."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.text: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED_TAGS:
            raise bad_request(f'can\'t parse entities: Unsupported start tag "{tag}"')
        if tag == "a":
            href = dict(attrs).get("href")
            if not href:
                raise bad_request("can't parse entities: a tag without href")
            self.links.append(href)
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            raise bad_request(f'can\'t parse entities: Unmatched end tag "{tag}"')
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_telegram_html(source: str) -> tuple[str, list[str]]:
    """The plain text Telegram would show, and the link targets; 400 like Telegram otherwise."""
    # Telegram accepts only four named entities and numeric ones; a bare & is an error.
    for match in re.finditer(r"&", source):
        if not _ENTITY.match(source, match.start()):
            raise bad_request("can't parse entities: Character '&' is reserved and must be escaped")
    # A '<' that does not open or close a tag is an error too.
    for match in re.finditer(r"<", source):
        if not re.match(r"</?[a-zA-Z][a-zA-Z0-9-]*[\s>/]", source[match.start() :]):
            raise bad_request("can't parse entities: Character '<' is reserved and must be escaped")
    parser = _TelegramHtml()
    parser.feed(source)
    parser.close()
    if parser.open:
        raise bad_request(f"can't parse entities: Can't find end tag corresponding to start tag \"{parser.open[-1]}\"")
    return "".join(parser.text), parser.links


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Recorded:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    at: float
    error: TelegramError | None = None


@dataclass
class StoredMessage:
    """A message the fake has seen or sent, as a Bot API Message object."""

    data: dict[str, Any]
    html: str | None = None
    photo: bytes | None = None  # the image bytes of a sendPhoto

    @property
    def text(self) -> str:
        return self.data.get("text", self.data.get("caption", ""))

    @property
    def mentions(self) -> list[dict[str, Any]]:
        """Mentions and links Telegram detected by itself in what the bot wrote, with their text."""
        encoded = self.text.encode("utf-16-le")
        return [
            {**e, "text": encoded[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")}
            for e in self.data.get("entities", [])
        ]

    @property
    def reply_markup(self) -> dict[str, Any] | None:
        return self.data.get("reply_markup")

    def buttons(self) -> list[dict[str, Any]]:
        markup = self.reply_markup or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]

    def button(self, label_part: str) -> dict[str, Any]:
        for button in self.buttons():
            if label_part in button["text"]:
                return button
        raise AssertionError(f"no button containing {label_part!r} in {self.buttons()!r}")


@dataclass
class StarCharge:
    user_id: int
    amount: int
    payload: str
    refunded: bool = False


@dataclass
class FakeBotApi:
    """A Telegram Bot API on 127.0.0.1; start() it, point python-telegram-bot at base_url."""

    token: str = "123456:TEST-token-for-loopback"
    bot_id: int = 123456
    bot_username: str = "VaniKeysTestBot"
    requests: list[Recorded] = field(default_factory=list)
    started_users: set[int] = field(default_factory=set)
    blocked_users: set[int] = field(default_factory=set)
    commands: list[dict[str, Any]] = field(default_factory=list)
    webhook_url: str = ""
    webhook_secret: str = ""
    charges: dict[str, StarCharge] = field(default_factory=dict)
    group_limit: int = 20  # messages per group ...
    group_window_s: float = 60.0  # ... per this many seconds
    overall_per_s: int = 30  # all chats together, per second
    callback_deadline_s: float = 15.0
    privacy_mode: bool = True  # BotFather's group privacy (getMe's can_read_all_group_messages is its inverse)
    webhook_last_error: str = ""  # getWebhookInfo's last_error_message: why Telegram could not deliver

    def __post_init__(self) -> None:
        self._sent_at: dict[Any, collections.deque[float]] = {}
        self._overall_at: collections.deque[float] = collections.deque()
        self._callback_pushed: dict[str, float] = {}
        self.callback_answer_delay: dict[str, float] = {}
        self.scoped_commands: dict[str, list[dict[str, Any]]] = {}
        self.localized_commands: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (scope, language_code)
        self.chat_actions: list[tuple[int, str, float]] = []
        self.deleted: list[StoredMessage] = []
        self.admins: dict[tuple[int, int], str] = {}  # (chat, user) -> "administrator" | "creator"
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._chats: dict[int, dict[str, Any]] = {}
        self._messages: dict[tuple[int, int], StoredMessage] = {}
        self._callback_queries: dict[str, bool] = {}
        self._pre_checkout: dict[str, float] = {}
        self.pre_checkout_answers: dict[str, dict[str, Any]] = {}
        self._injected: dict[str, list[tuple[TelegramError, Callable[[dict[str, Any]], bool] | None]]] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "VaniKeys", "username": self.bot_username}

    # ---- test controls ---------------------------------------------------------

    def fail_next(
        self, method: str, error: TelegramError, times: int = 1, when: Callable[[dict[str, Any]], bool] | None = None
    ) -> None:
        """The next `times` calls of `method` (those whose params pass `when`) get `error` (429, 403, 5xx, ...)."""
        self._injected.setdefault(method, []).extend([(error, when)] * times)

    @staticmethod
    def user(user_id: int, first_name: str = "Alice", username: str | None = None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        return user

    def private_chat(self, user: dict[str, Any]) -> dict[str, Any]:
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        if "username" in user:
            chat["username"] = user["username"]
        self._chats[user["id"]] = chat
        return chat

    def group_chat(self, chat_id: int = -1001234567890, title: str = "Vanity Lounge") -> dict[str, Any]:
        chat = {"id": chat_id, "type": "supergroup", "title": title}
        self._chats[chat_id] = chat
        return chat

    def user_message(self, chat: dict[str, Any], user: dict[str, Any], text: str) -> StoredMessage:
        """A message someone wrote earlier (to reply to), stored without an update."""
        message = self._new_message(chat, user, text)
        stored = StoredMessage(message)
        self._messages[(chat["id"], message["message_id"])] = stored
        return stored

    async def push_update(self, update: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        update = {"update_id": update_id, **update}
        if self.webhook_url:
            await self._post_to_webhook(update)
            return update_id
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return update_id

    async def replay_update(self, update: dict[str, Any]) -> None:
        """Deliver an update again under its own update_id (what Telegram does when a bot
        crashed before confirming it)."""
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()

    async def push_text(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        text: str,
        *,
        age_s: float = 0,
        reply_to: StoredMessage | None = None,
    ) -> int:
        """A user types `text` in `chat` (`age_s` seconds ago: an update queued while the bot was down);
        a /start in a private chat lets the bot write to them."""
        if chat["type"] == "private":
            self.started_users.add(user["id"])
            self.blocked_users.discard(user["id"])
        message = self._new_message(chat, user, text)
        message["date"] = int(time.time() - age_s)
        if reply_to is not None:
            message["reply_to_message"] = reply_to.data
        self._messages[(chat["id"], message["message_id"])] = StoredMessage(message)
        return await self.push_update({"message": message})

    async def push_callback(self, user: dict[str, Any], message: StoredMessage, data: str) -> str:
        query_id = str(next(self._query_ids) * 7919)
        self._callback_queries[query_id] = False
        self._callback_pushed[query_id] = time.monotonic()
        await self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user,
                    "message": message.data,
                    "chat_instance": str(abs(message.data["chat"]["id"])),
                    "data": data,
                }
            }
        )
        return query_id

    async def push_pre_checkout(
        self, user: dict[str, Any], total_amount: int, payload: str, currency: str = "XTR"
    ) -> str:
        query_id = f"pcq{next(self._query_ids)}"
        self._pre_checkout[query_id] = time.monotonic()
        await self.push_update(
            {
                "pre_checkout_query": {
                    "id": query_id,
                    "from": user,
                    "currency": currency,
                    "total_amount": total_amount,
                    "invoice_payload": payload,
                }
            }
        )
        return query_id

    def refunded_payment_update(self, user: dict[str, Any], charge_id: str) -> dict[str, Any]:
        """Telegram refunded a Stars payment (the user asked Telegram, or a dispute): a service message
        with `refunded_payment`. Push it with replay_update, as often as wanted."""
        charge = self.charges[charge_id]
        charge.refunded = True
        message = self._new_message(self.private_chat(user), user, None)
        message["refunded_payment"] = {
            "currency": "XTR",
            "total_amount": charge.amount,
            "invoice_payload": charge.payload,
            "telegram_payment_charge_id": charge_id,
        }
        return {"update_id": next(self._update_ids), "message": message}

    def successful_payment_update(
        self, user: dict[str, Any], total_amount: int, payload: str, charge_id: str, currency: str = "XTR"
    ) -> dict[str, Any]:
        """A successful_payment update, not yet delivered: push it with replay_update, as often as wanted."""
        self.charges[charge_id] = StarCharge(user["id"], total_amount, payload)
        chat = self.private_chat(user)
        message = self._new_message(chat, user, None)
        message["successful_payment"] = {
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        }
        return {"update_id": next(self._update_ids), "message": message}

    # ---- what the bot did ------------------------------------------------------

    def calls(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method]

    def messages_in(self, chat_id: int) -> list[StoredMessage]:
        return [
            m
            for (cid, _), m in sorted(self._messages.items())
            if cid == chat_id and m.data["from"]["id"] == self.bot_id
        ]

    def message(self, chat_id: int, message_id: int) -> StoredMessage:
        return self._messages[(chat_id, message_id)]

    async def wait_for(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until condition() is truthy (checked after every request, and every WAIT_RECHECK_S for what no
        request announces: a row the bot wrote, a process that ended); return its value."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                value = condition()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out; requests so far: {[r.method for r in self.requests]}")
                try:
                    await asyncio.wait_for(self._changed.wait(), min(remaining, WAIT_RECHECK_S))
                except TimeoutError:
                    pass

    async def wait_for_message(self, chat_id: int, contains: str, timeout: float = 10.0) -> StoredMessage:
        return await self.wait_for(
            lambda: next((m for m in self.messages_in(chat_id) if contains in m.text), None), timeout
        )

    # ---- the HTTP side ---------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await self._raw_params(request)
        params = self._decoded(raw)
        record = Recorded(method, params, time.monotonic())
        try:
            if request.match_info["token"] != self.token:
                raise TelegramError(401, "Unauthorized")
            injected = self._injected.get(method)
            if injected:
                index = next((i for i, (_, when) in enumerate(injected) if when is None or when(params)), None)
                if index is not None:
                    raise injected.pop(index)[0]
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                raise TelegramError(404, "Not Found")
            if method in LIMITED_METHODS:
                self._check_rate(params.get("chat_id"))
            result = await handler(params)
            body: dict[str, Any] = {"ok": True, "result": result}
            status = 200
        except TelegramError as err:
            record.error = err
            body, status = err.payload(), err.code
        self.requests.append(record)
        if request.match_info["token"] == self.token:
            conformance.telegram_exchange(method, raw, body)
        async with self._changed:
            self._changed.notify_all()
        return web.json_response(body, status=status)

    def _check_rate(self, chat_id: Any) -> None:
        """429 past the overall or the per-group limit; a refused request does not count."""
        now = time.monotonic()
        while self._overall_at and self._overall_at[0] <= now - 1.0:
            self._overall_at.popleft()
        if len(self._overall_at) >= self.overall_per_s:
            raise too_many_requests(max(1, math.ceil(self._overall_at[0] + 1.0 - now)))
        group = isinstance(chat_id, int) and chat_id < 0
        if group:
            sent = self._sent_at.setdefault(chat_id, collections.deque())
            while sent and sent[0] <= now - self.group_window_s:
                sent.popleft()
            if len(sent) >= self.group_limit:
                raise too_many_requests(max(1, math.ceil(sent[0] + self.group_window_s - now)))
            sent.append(now)
        self._overall_at.append(now)

    def rate_limited(self) -> list[Recorded]:
        return [r for r in self.requests if r.error is not None and r.error.code == 429]

    @staticmethod
    async def _raw_params(request: web.Request) -> dict[str, Any]:
        """The parameters as sent: a form's strings (and bytes for a file), or a JSON body's values."""
        raw: dict[str, Any]
        if request.content_type == "application/json":
            raw = await request.json()
        else:
            raw = dict((await request.post()).items())
            raw.update(request.query)
        return {key: value.file.read() if isinstance(value, web.FileField) else value for key, value in raw.items()}

    @staticmethod
    def _decoded(raw: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if isinstance(value, str) and key in JSON_PARAMS:
                value = json.loads(value)
            elif isinstance(value, str) and key in INT_PARAMS and re.fullmatch(r"-?\d+", value):
                value = int(value)
            elif isinstance(value, str) and key in BOOL_PARAMS:
                value = value.lower() == "true"
            params[key] = value
        return params

    # ---- Bot API methods ---------------------------------------------------------

    async def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
        }

    async def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise TelegramError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset", 0) or 0)
        limit = int(params.get("limit", 100) or 100)
        timeout = float(params.get("timeout", 0) or 0)
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                if offset:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if self._updates or self._closing:
                    return self._updates[:limit]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    return []

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url", "")
        if url and not url.startswith(("https://", "http://127.0.0.1")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        self.webhook_secret = params.get("secret_token", "")
        return True

    async def _api_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        info = {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": len(self._updates)}
        if self.webhook_last_error:
            info |= {"last_error_date": int(time.time()), "last_error_message": self.webhook_last_error}
        return info

    async def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands", [])
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command.get("command", "")):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        scope = (params.get("scope") or {"type": "default"})["type"]
        language = params.get("language_code") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):  # "two-letter ISO 639-1 language code"
            raise bad_request("LANG_CODE_INVALID")
        self.localized_commands[(scope, language)] = commands
        if language:
            return True
        self.scoped_commands[scope] = commands
        if scope == "default":
            self.commands = commands
        return True

    async def _api_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        scope = (params.get("scope") or {"type": "default"})["type"]
        return self.localized_commands.get((scope, params.get("language_code") or ""), [])

    async def _api_getChat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chats.get(params.get("chat_id"))  # type: ignore[arg-type]
        if chat is None:
            raise bad_request("chat not found")
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11}

    def _check_can_write(self, chat_id: Any) -> dict[str, Any]:
        chat = self._chats.get(chat_id)
        if chat is None:
            if isinstance(chat_id, int) and chat_id > 0:
                raise forbidden_never_started()
            raise bad_request("chat not found")
        if chat["type"] == "private":
            if chat_id in self.blocked_users:
                raise forbidden_blocked()
            if chat_id not in self.started_users:
                raise forbidden_never_started()
        return chat

    def _check_markup(self, markup: dict[str, Any] | None) -> None:
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
                    raise bad_request("BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None and not url.startswith(("https://", "http://", "tg://")):
                    raise bad_request("BUTTON_URL_INVALID")

    def _render(self, params: dict[str, Any]) -> tuple[str, str | None]:
        source = params.get("text", "")
        if params.get("parse_mode") == "HTML":
            text, _ = parse_telegram_html(source)
        else:
            text = source
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_MESSAGE_CHARS:
            raise bad_request("message is too long")
        return text, source if params.get("parse_mode") == "HTML" else None

    @staticmethod
    def _auto_entities(params: dict[str, Any], text: str) -> list[dict[str, Any]]:
        """The mentions and links Telegram finds in plain text by itself (not inside code or pre)."""
        source = params.get("text", params.get("caption", ""))
        if params.get("parse_mode") == "HTML":

            def blank(match: re.Match[str]) -> str:
                inner = html.unescape(re.sub(r"<[^>]+>", "", match.group(2)))
                return f"<{match.group(1)}>{'~' * len(inner)}</{match.group(1)}>"

            plain, _ = parse_telegram_html(re.sub(r"<(code|pre)>(.*?)</\1>", blank, source, flags=re.S))
        else:
            plain = source
        return [
            {
                "type": "mention" if m.group(0).startswith("@") else "url",
                "offset": utf16_len(plain[: m.start()]),
                "length": utf16_len(m.group(0)),
            }
            for m in _AUTO_ENTITY.finditer(plain)
        ]

    def _new_message(self, chat: dict[str, Any], sender: dict[str, Any], text: str | None) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": sender,
            "chat": chat,
            "date": int(time.time()),
        }
        if text is not None:
            message["text"] = text
            command = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
            if command:
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command.group(0))}]
        return message

    async def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._check_can_write(params.get("chat_id"))
        self._check_markup(params.get("reply_markup"))
        text, source = self._render(params)
        message = self._new_message(chat, self.bot_user, text)
        message.pop("entities", None)
        entities = self._auto_entities(params, text)
        if entities:
            message["entities"] = entities
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self._messages[(chat["id"], message["message_id"])] = StoredMessage(message, source)
        return message

    async def _api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._check_can_write(params.get("chat_id"))
        self._check_markup(params.get("reply_markup"))
        photo = params.get("photo")
        size = len(photo) if isinstance(photo, (bytes, bytearray)) else 0
        if not size:
            raise bad_request("there is no photo in the request")
        if size > 10 * 1024 * 1024:
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        caption = params.get("caption", "")
        text, source = (
            (parse_telegram_html(caption)[0], caption) if params.get("parse_mode") == "HTML" else (caption, None)
        )
        if utf16_len(text) > 1024:
            raise bad_request("message caption is too long")
        message = self._new_message(chat, self.bot_user, None)
        message["photo"] = [
            {
                "file_id": f"photo{message['message_id']}",
                "file_unique_id": "u",
                "width": 0,
                "height": 0,
                "file_size": size,
            }
        ]
        message["caption"] = text
        entities = self._auto_entities(params, text)
        if entities:
            message["entities"] = entities
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self._messages[(chat["id"], message["message_id"])] = StoredMessage(message, source, bytes(photo))
        return message

    async def _api_deleteMessage(self, params: dict[str, Any]) -> bool:
        key = (params.get("chat_id"), params.get("message_id"))
        stored = self._messages.get(key)  # type: ignore[arg-type]
        if stored is None:
            raise bad_request("message to delete not found")
        self.deleted.append(stored)
        del self._messages[key]  # type: ignore[arg-type]
        return True

    async def _api_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, user_id = params.get("chat_id"), params.get("user_id")
        if chat_id not in self._chats:
            raise bad_request("chat not found")
        status = self.admins.get((chat_id, user_id), "member")  # type: ignore[arg-type]
        member: dict[str, Any] = {"status": status, "user": self.user(int(user_id))}  # type: ignore[arg-type]
        if status == "administrator":
            member.update(
                {
                    key: True
                    for key in (
                        "can_be_edited",
                        "is_anonymous",
                        "can_manage_chat",
                        "can_delete_messages",
                        "can_manage_video_chats",
                        "can_restrict_members",
                        "can_promote_members",
                        "can_change_info",
                        "can_invite_users",
                        "can_post_stories",
                        "can_edit_stories",
                        "can_delete_stories",
                    )
                }
            )
        if status == "creator":
            member["is_anonymous"] = False
        return member

    async def _api_sendChatAction(self, params: dict[str, Any]) -> bool:
        chat = self._check_can_write(params.get("chat_id"))
        self.chat_actions.append((chat["id"], params.get("action", ""), time.monotonic()))
        return True

    async def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (params.get("chat_id"), params.get("message_id"))
        stored = self._messages.get(key)  # type: ignore[arg-type]
        if stored is None:
            raise bad_request("message to edit not found")
        if stored.data["from"]["id"] != self.bot_id:
            raise bad_request("message can't be edited")
        self._check_markup(params.get("reply_markup"))
        text, source = self._render(params)
        markup = params.get("reply_markup")
        if text == stored.text and source == stored.html and markup == stored.reply_markup:
            raise bad_request(NOT_MODIFIED)
        stored.data = {**stored.data, "text": text, "edit_date": int(time.time())}
        stored.data.pop("entities", None)
        entities = self._auto_entities(params, text)
        if entities:
            stored.data["entities"] = entities
        stored.html = source
        if markup:
            stored.data["reply_markup"] = markup
        else:
            stored.data.pop("reply_markup", None)
        return stored.data

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query_id = params.get("callback_query_id", "")
        if self._callback_queries.get(query_id, True):
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        if len(params.get("text", "")) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        delay = time.monotonic() - self._callback_pushed.get(query_id, time.monotonic())
        if delay > self.callback_deadline_s:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        self._callback_queries[query_id] = True
        self.callback_answer_delay[query_id] = delay
        return True

    def callback_answered(self, query_id: str) -> bool:
        return self._callback_queries.get(query_id, False)

    async def _api_sendInvoice(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._check_can_write(params.get("chat_id"))
        prices = params.get("prices", [])
        payload = params.get("payload", "")
        if not 1 <= len(payload.encode()) <= 128:
            raise bad_request("INVOICE_PAYLOAD_INVALID")
        if params.get("currency") == "XTR":
            if params.get("provider_token"):
                raise bad_request("INVOICE_PROVIDER_TOKEN_INVALID")  # Stars take an empty token
            if len(prices) != 1:
                raise bad_request("exactly one price must be specified for payments in Telegram Stars")
        if not prices or any(int(p.get("amount", 0)) <= 0 for p in prices):
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        if not params.get("title") or not params.get("description"):
            raise bad_request("INVOICE_TITLE_EMPTY")
        self._check_markup(params.get("reply_markup"))
        message = self._new_message(chat, self.bot_user, None)
        message["invoice"] = {
            "title": params["title"],
            "description": params["description"],
            "start_parameter": params.get("start_parameter", ""),
            "currency": params["currency"],
            "total_amount": sum(int(p["amount"]) for p in prices),
        }
        message["_payload"] = payload
        self._messages[(chat["id"], message["message_id"])] = StoredMessage(message)
        return {k: v for k, v in message.items() if k != "_payload"}

    async def _api_answerPreCheckoutQuery(self, params: dict[str, Any]) -> bool:
        query_id = params.get("pre_checkout_query_id", "")
        pushed_at = self._pre_checkout.get(query_id)
        if pushed_at is None or query_id in self.pre_checkout_answers:
            raise bad_request("QUERY_ID_INVALID")
        if time.monotonic() - pushed_at > 10:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        ok = bool(params.get("ok"))
        if not ok and not params.get("error_message"):
            raise bad_request("error_message is required when ok is False")
        self.pre_checkout_answers[query_id] = {
            "ok": ok,
            "error_message": params.get("error_message"),
            "after_s": time.monotonic() - pushed_at,
        }
        return True

    async def _api_refundStarPayment(self, params: dict[str, Any]) -> bool:
        charge = self.charges.get(params.get("telegram_payment_charge_id", ""))
        if charge is None or charge.user_id != params.get("user_id"):
            raise bad_request("CHARGE_NOT_FOUND")
        if charge.refunded:
            raise bad_request("CHARGE_ALREADY_REFUNDED")
        charge.refunded = True
        return True

    async def _api_getStarTransactions(self, params: dict[str, Any]) -> dict[str, Any]:
        offset = int(params.get("offset", 0) or 0)
        limit = int(params.get("limit", 100) or 100)
        newest_first = list(reversed(self.charges.items()))[offset : offset + limit]
        return {
            "transactions": [
                {
                    "id": charge_id,
                    "amount": charge.amount,
                    "date": int(time.time()),
                    "source": {
                        "type": "user",
                        "transaction_type": "invoice_payment",
                        "user": self.user(charge.user_id),
                        "invoice_payload": charge.payload,
                    },
                }
                for charge_id, charge in newest_first
            ]
        }

    async def _api_close(self, params: dict[str, Any]) -> bool:
        return True

    # ---- webhook delivery --------------------------------------------------------

    async def _post_to_webhook(self, update: dict[str, Any]) -> None:
        conformance.telegram_update(update)
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret} if self.webhook_secret else {}
        async with ClientSession() as session:
            async with session.post(self.webhook_url, json=update, headers=headers) as response:
                if response.status != 200:
                    raise AssertionError(f"webhook answered {response.status}")
