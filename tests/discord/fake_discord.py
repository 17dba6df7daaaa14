"""A loopback fake of Discord, good enough for discord.py 2.x: REST API plus gateway.

REST: point ``discord.http.Route.BASE`` at ``fake.api_base`` (webhooks and
interaction callbacks go through the same Route class). Gateway: ``GET
/gateway/bot`` answers with ``fake.gateway_url``, which is how an
``AutoShardedClient`` finds it. The gateway speaks v10 JSON in plain text
frames (discord.py accepts uncompressed text whatever ``compress`` it asked
for): HELLO, heartbeat ACKs, IDENTIFY -> READY + GUILD_CREATE, then whatever
dispatches a test sends (INTERACTION_CREATE, MESSAGE_CREATE).

It keeps the state the bot depends on and enforces the rules that bite in
production: an interaction must be acknowledged once and within 3 seconds
(else 10062 Unknown interaction / 40060 already acknowledged), follow-ups
need an acknowledged interaction (10015 Unknown Webhook), the first
follow-up after a deferred response replaces the "thinking" message and
keeps its ephemeral flag, a DM to a user whose DMs are closed is a 403 with
code 50007, and messages must respect Discord's size limits (50035).

Platform behaviours a busy community meets, each off until a test asks:
- the clock is the fake's own (``fake.advance(seconds)``), so a test can let
  15 minutes pass at once: an interaction token then expires (401, 50027) for
  every webhook route (follow-ups, edits and deletes of the original);
- per-route rate-limit buckets (``fake.limit_route(...)``): Discord's
  X-RateLimit headers on every answer and a 429 with ``retry_after`` (and the
  ``Via`` header discord.py looks for) once a bucket is spent;
- the bot's permissions in the guild channel (``fake.bot_permissions``):
  posting needs View Channel and Send Messages, a file needs Attach Files
  (else 403, 50013 Missing Permissions), embeds without Embed Links are
  dropped as Discord does; interaction payloads carry them as
  ``app_permissions``. Interaction responses need no channel permission.

Every request is recorded for the tests to assert on.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import regex
from aiohttp import WSMsgType, web

from tests.specs import conformance

EPHEMERAL = 64
LOADING = 128
ACK_DEADLINE_S = 3.0
TOKEN_TTL_S = 15 * 60.0

# Permission bits (https://discord.com/developers/docs/topics/permissions)
VIEW_CHANNEL, SEND_MESSAGES, EMBED_LINKS, ATTACH_FILES = 1 << 10, 1 << 11, 1 << 14, 1 << 15
ALL_PERMISSIONS = 2248473465835073
MANAGE_GUILD = 1 << 5
CHANNEL = object()  # as a slash option's value: the guild's text channel (a channel option)

# Discord's rule for slash command and option names, and their localizations (docs: Application Command Naming)
COMMAND_NAME = regex.compile(r"^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$")

# Interaction callback types
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, AUTOCOMPLETE_RESULT = 1, 4, 5, 6, 7, 8


class DiscordError(Exception):
    """An error answer, with Discord's JSON error body and HTTP status."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> web.Response:
        return _json({"code": self.code, "message": self.message}, status=self.status)


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    body: Any  # parsed JSON (or the payload_json of a multipart form), None when empty
    status: int = 0
    at: float = field(default_factory=time.monotonic)
    files: list[tuple[str, int]] = field(default_factory=list)  # (filename, size) of uploaded attachments

    def text(self) -> str:
        return json.dumps(self.body, sort_keys=True) if self.body is not None else ""


@dataclass
class FakeUser:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    permissions: int = ALL_PERMISSIONS  # the member's permissions in the guild channel

    def payload(self) -> dict[str, Any]:
        """As Discord's API answers a user (OpenAPI UserResponse: every required field)."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data

    def private_payload(self) -> dict[str, Any]:
        """The bot's own user as GET /users/@me answers it (UserPIIResponse)."""
        return self.payload() | {"verified": True, "mfa_enabled": False, "locale": "en-US"}


@dataclass
class FakeInteraction:
    id: int
    token: str
    type: int
    user: FakeUser
    channel_id: int
    guild_id: int | None
    created: float  # on the fake's clock
    acked_with: int | None = None
    ack_delay_s: float | None = None
    original_id: int | None = None  # message created by the callback (or the component's message for 6/7)
    original_ephemeral: bool = False
    autocomplete_choices: list[dict[str, Any]] | None = None


@dataclass
class RouteLimit:
    """Discord's per-route bucket: `limit` requests per `window_s`, per major parameter."""

    method: str
    pattern: re.Pattern[str]
    limit: int
    window_s: float
    used: dict[str, list[float]] = field(default_factory=dict)  # major parameter -> request times

    def _recent(self, major: str, now: float) -> list[float]:
        times = [t for t in self.used.get(major, []) if now - t < self.window_s]
        self.used[major] = times
        return times

    def spent(self, major: str, now: float) -> bool:
        return len(self._recent(major, now)) >= self.limit

    def reset_after(self, major: str, now: float) -> float:
        times = self._recent(major, now)
        return max(0.0, times[0] + self.window_s - now) if len(times) >= self.limit else 0.0

    def take(self, major: str, now: float, response: web.StreamResponse) -> None:
        self._recent(major, now).append(now)
        self._headers(major, now, response)

    def too_many(self, major: str, now: float) -> web.Response:
        retry_after = round(max(self.reset_after(major, now), 0.001), 3)
        response = _json(
            {"message": "You are being rate limited.", "retry_after": retry_after, "global": False, "code": 0},
            status=429,
        )
        response.headers["Retry-After"] = str(retry_after)
        response.headers["X-RateLimit-Scope"] = "user"
        response.headers["Via"] = "1.1 google"  # discord.py reads a 429 without it as a Cloudflare ban
        self._headers(major, now, response)
        return response

    def _headers(self, major: str, now: float, response: web.StreamResponse) -> None:
        remaining = max(0, self.limit - len(self._recent(major, now)))
        reset_after = self.reset_after(major, now) if remaining == 0 else self.window_s
        response.headers["X-RateLimit-Limit"] = str(self.limit)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        response.headers["X-RateLimit-Reset-After"] = f"{reset_after:.3f}"
        response.headers["X-RateLimit-Reset"] = f"{time.time() + reset_after:.3f}"
        response.headers["X-RateLimit-Bucket"] = f"fake-{self.method}-{self.pattern.pattern}"


class FakeDiscord:
    """One guild with one text channel, a bot user, an owner, and any number of users."""

    def __init__(self, *, closed_dms: set[int] | None = None) -> None:
        self._ids = itertools.count(1_100_000_000_000_000_000)
        self.app_id = self._next_id()
        self.bot_user = FakeUser(self._next_id(), "VaniKeys", bot=True)
        self.owner = FakeUser(self._next_id(), "owner", "The Owner")
        self.guild_id = self._next_id()
        self.channel_id = self._next_id()
        self.users: dict[int, FakeUser] = {self.bot_user.id: self.bot_user, self.owner.id: self.owner}
        self.closed_dms: set[int] = set(closed_dms or ())
        self.requests: list[RecordedRequest] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self.interactions: dict[int, FakeInteraction] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id -> synced commands
        self.locales: dict[int, str] = {}  # user id -> their Discord client's language (default en-US)
        self.guild_locale = "en-US"  # the server's preferred locale
        self.identified = asyncio.Event()
        self.ready_sent = asyncio.Event()
        self.identify_payload: dict[str, Any] | None = None
        self._ws: web.WebSocketResponse | None = None
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()
        self.port = 0
        self.clock_offset = 0.0
        self.bot_permissions = ALL_PERMISSIONS  # the bot's permissions in the guild channel
        self.route_limits: list[RouteLimit] = []
        self.rate_limited: list[RecordedRequest] = []  # every request answered 429
        self._files: list[tuple[str, int]] = []  # the files of the request being handled
        self.uploads: list[tuple[str, bytes]] = []  # every file uploaded, in order
        self.bot_token: str | None = None  # set: REST calls with another "Bot <token>" get 401
        # The application's default install link (Installation → Guild Install), as GET /applications/@me
        # reports it in install_params (OpenAPI ApplicationOAuth2InstallParamsResponse); None: not set.
        self.install_params: dict[str, Any] | None = None

    # --- lifecycle ------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def add_user(self, username: str, *, dms_closed: bool = False, permissions: int = ALL_PERMISSIONS) -> FakeUser:
        user = FakeUser(self._next_id(), username, username.title(), permissions=permissions)
        self.users[user.id] = user
        if dms_closed:
            self.closed_dms.add(user.id)
        return user

    def _next_id(self) -> int:
        return next(self._ids)

    # --- platform behaviours a test turns on ---------------------------------

    def now(self) -> float:
        """The fake's clock: real monotonic time plus whatever a test let pass with advance()."""
        return time.monotonic() + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Let time pass at once (interaction deadlines and token expiry read this clock)."""
        self.clock_offset += seconds

    def limit_route(self, method: str, pattern: str, *, limit: int, window_s: float) -> RouteLimit:
        """A rate-limit bucket: `limit` requests per `window_s` for each distinct match of `pattern`.

        `pattern` is a regular expression over the path (without /api/v10); its first group, if any, is the
        bucket's major parameter (a channel id, a webhook token), so each channel gets its own bucket.
        """
        route = RouteLimit(method, re.compile(pattern), limit, window_s)
        self.route_limits.append(route)
        return route

    # --- gateway --------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op = frame.get("op")
            if op == 1:
                await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
            elif op == 2:
                self.identify_payload = frame["d"]
                self.identified.set()
                await self.dispatch("READY", self._ready_payload(frame["d"]))
                await self.dispatch("GUILD_CREATE", self._guild_payload())
                self.ready_sent.set()
            elif op == 6:  # RESUME: this fake keeps no sessions
                await ws.send_str(json.dumps({"op": 9, "d": False, "s": None, "t": None}))
        return ws

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        if self._ws is None or self._ws.closed:
            raise RuntimeError("no gateway connection: the bot has not connected")
        conformance.discord_event(event, data)
        self._seq += 1
        await self._ws.send_str(json.dumps({"op": 0, "s": self._seq, "t": event, "d": data}))

    def _ready_payload(self, identify: dict[str, Any]) -> dict[str, Any]:
        return {
            "v": 10,
            "user": self.bot_user.private_payload(),
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": "fake-session",
            "resume_gateway_url": self.gateway_url,
            "shard": identify.get("shard", [0, 1]),
            "application": {"id": str(self.app_id), "flags": 0},
            "private_channels": [],
        }

    def _guild_payload(self) -> dict[str, Any]:
        """GUILD_CREATE: the guild as REST answers it (GuildResponse) plus the gateway's own fields."""
        return {
            "id": str(self.guild_id),
            "name": "VaniKeys Community",
            "icon": None,
            "description": None,
            "home_header": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "application_id": None,
            "region": "deprecated",
            "afk_channel_id": None,
            "system_channel_id": None,
            "widget_enabled": False,
            "widget_channel_id": None,
            "max_presences": None,
            "max_members": 25000000,
            "max_stage_video_channel_users": 50,
            "max_video_channel_users": 25,
            "vanity_url_code": None,
            "premium_subscription_count": 0,
            "rules_channel_id": None,
            "safety_alerts_channel_id": None,
            "public_updates_channel_id": None,
            "nsfw": False,
            "incidents_data": None,
            "owner_id": str(self.owner.id),
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "features": [],
            "mfa_level": 0,
            "system_channel_flags": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "large": False,
            "unavailable": False,
            "member_count": len(self.users),
            "joined_at": _now(),
            "roles": [
                {
                    "id": str(self.guild_id),
                    "name": "@everyone",
                    "permissions": "2248473465835073",
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                    "icon": None,
                    "unicode_emoji": None,
                    "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
                }
            ],
            "emojis": [],
            "stickers": [],
            "members": [self._member(self.bot_user)],
            "channels": [self._guild_channel()],
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
        }

    def _guild_channel(self) -> dict[str, Any]:
        """The guild's text channel as Discord sends it (GuildChannelResponse)."""
        return {
            "id": str(self.channel_id),
            "type": 0,
            "name": "pulls",
            "guild_id": str(self.guild_id),
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "flags": 0,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "topic": None,
        }

    def _member(self, user: FakeUser) -> dict[str, Any]:
        """A guild member as Discord sends one (GuildMemberResponse's fields, with the interaction's permissions)."""
        return {
            "user": user.payload(),
            "roles": [],
            "joined_at": _now(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": str(user.permissions),
            "avatar": None,
            "banner": None,
            "nick": None,
            "communication_disabled_until": None,
            "pending": False,
            "premium_since": None,
        }

    # --- sending events as users ---------------------------------------------

    async def slash(
        self,
        user: FakeUser,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        in_dm: bool = False,
    ) -> FakeInteraction:
        """A user runs /name with options (a chat-input command interaction).

        An option's value may be a FakeUser (a user option) or CHANNEL (the guild channel, a channel option):
        both are sent as ids with their `resolved` data, as Discord does.
        """
        data: dict[str, Any] = {"id": str(self._next_id()), "name": name, "type": 1, "options": []}
        # As Discord does: the published command's id, and its server for a server's own copy (tests may also run
        # a command nothing published yet: a fresh id then)
        published = [*self.commands.get("global", []), *([] if in_dm else self.commands.get(str(self.guild_id), []))]
        for command in published[::-1]:  # a server's own copy first
            if command["name"] == name:
                data |= {"id": command["id"]} | ({"guild_id": command["guild_id"]} if command.get("guild_id") else {})
                break
        resolved: dict[str, dict[str, Any]] = {}
        for key, value in (options or {}).items():
            if isinstance(value, FakeUser):
                data["options"].append({"name": key, "type": 6, "value": str(value.id)})
                resolved.setdefault("users", {})[str(value.id)] = value.payload()
                member = {k: v for k, v in self._member(value).items() if k != "user"}
                resolved.setdefault("members", {})[str(value.id)] = member
            elif value is CHANNEL:
                data["options"].append({"name": key, "type": 7, "value": str(self.channel_id)})
                resolved.setdefault("channels", {})[str(self.channel_id)] = self._guild_channel() | {
                    "permissions": str(ALL_PERMISSIONS)
                }
            else:
                data["options"].append({"name": key, "type": _option_type(value), "value": value})
        if resolved:
            data["resolved"] = resolved
        return await self._interact(user, 2, data, in_dm=in_dm)

    async def type_command(
        self, user: FakeUser, typed: str, options: dict[str, Any] | None = None, *, in_dm: bool = False
    ) -> FakeInteraction:
        """A user runs a command as their client shows it, in their client's language (`fake.locales`): the command
        and option names they typed may be localized ones. As Discord does, the interaction carries the published
        command's id and its DEFAULT names. LookupError for a name the client would not show (nothing published
        under it in that locale)."""
        locale = self.locales.get(user.id, "en-US")
        published = [*self.commands.get("global", []), *([] if in_dm else self.commands.get(str(self.guild_id), []))]

        def shown(item: dict[str, Any]) -> str:
            return str((item.get("name_localizations") or {}).get(locale, item["name"]))

        command = next((c for c in published if shown(c) == typed), None)
        if command is None:
            raise LookupError(f"a {locale} client shows no command /{typed}")
        named = {}
        for key, value in (options or {}).items():
            option = next((o for o in command.get("options", []) if shown(o) == key), None)
            if option is None:
                raise LookupError(f"/{typed} has no option {key!r} in {locale}")
            named[option["name"]] = value
        return await self.slash(user, command["name"], named, in_dm=in_dm)

    async def autocomplete(self, user: FakeUser, name: str, options: dict[str, Any], focused: str) -> FakeInteraction:
        data = {
            "id": str(self._next_id()),
            "name": name,
            "type": 1,
            "options": [
                {"name": k, "type": _option_type(v), "value": v, **({"focused": True} if k == focused else {})}
                for k, v in options.items()
            ],
        }
        return await self._interact(user, 4, data, in_dm=False)

    async def press(self, user: FakeUser, message_id: int, custom_id: str) -> FakeInteraction:
        """A user presses a button on a message (a component interaction, type 3)."""
        message = self.messages[message_id]
        in_dm = message["channel_id"] != str(self.channel_id)
        return await self._interact(
            user, 3, {"custom_id": custom_id, "component_type": 2}, in_dm=in_dm, message=message
        )

    async def say(self, user: FakeUser, content: str, *, mention_bot: bool = True) -> int:
        """A user posts a message in the guild channel (MESSAGE_CREATE)."""
        message_id = self._next_id()
        data = {
            "id": str(message_id),
            "channel_id": str(self.channel_id),
            "guild_id": str(self.guild_id),
            "author": user.payload(),
            "member": {k: v for k, v in self._member(user).items() if k != "user"},
            "content": content,
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [self.bot_user.payload()] if mention_bot else [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
        }
        await self.dispatch("MESSAGE_CREATE", data)
        return message_id

    async def _interact(
        self, user: FakeUser, kind: int, data: dict[str, Any], *, in_dm: bool, message: dict[str, Any] | None = None
    ) -> FakeInteraction:
        interaction = FakeInteraction(
            id=self._next_id(),
            token=f"tok-{self._next_id()}",
            type=kind,
            user=user,
            channel_id=self.dm_channel_for(user.id) if in_dm else self.channel_id,
            guild_id=None if in_dm else self.guild_id,
            created=self.now(),
        )
        self.interactions[interaction.id] = interaction
        payload: dict[str, Any] = {
            "id": str(interaction.id),
            "application_id": str(self.app_id),
            "type": kind,
            "data": data,
            "token": interaction.token,
            "version": 1,
            "locale": self.locales.get(user.id, "en-US"),
            "entitlements": [],
            "app_permissions": str(self.bot_permissions if not in_dm else ALL_PERMISSIONS),
            "attachment_size_limit": 8388608,
            "channel_id": str(interaction.channel_id),
        }
        if in_dm:
            payload["user"] = user.payload()
            payload["channel"] = {
                "id": str(interaction.channel_id),
                "type": 1,
                "flags": 0,
                "last_message_id": None,
                "recipients": [user.payload()],
            }
            payload["context"] = 1
            payload["authorizing_integration_owners"] = {"0": "0"}
        else:
            payload["guild_id"] = str(self.guild_id)
            payload["guild"] = {"id": str(self.guild_id), "locale": self.guild_locale, "features": []}
            payload["guild_locale"] = self.guild_locale
            payload["member"] = self._member(user)
            payload["channel"] = self._guild_channel()
            payload["context"] = 0
            payload["authorizing_integration_owners"] = {"0": str(self.guild_id)}
        if message is not None:
            payload["message"] = message
            interaction.original_id = int(message["id"])
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

    def dm_channel_for(self, user_id: int) -> int:
        if user_id not in self.dm_channels:
            self.dm_channels[user_id] = self._next_id()
        return self.dm_channels[user_id]

    # --- waiting and reading, for tests ---------------------------------------

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until predicate() is truthy (re-checked on every request), and return its value."""

        async def check() -> Any:
            async with self._changed:
                while not (value := predicate()):
                    await self._changed.wait()
                return value

        return await asyncio.wait_for(check(), timeout)

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m["channel_id"] == str(channel_id) and not m.get("deleted")]

    def dms_to(self, user_id: int) -> list[dict[str, Any]]:
        channel = self.dm_channels.get(user_id)
        return (
            []
            if channel is None
            else [m for m in self.channel_messages(channel) if m["author"]["id"] == str(self.bot_user.id)]
        )

    def public_messages(self) -> list[dict[str, Any]]:
        """What everyone in the guild channel can see: non-ephemeral, non-deleted messages."""
        return [m for m in self.channel_messages(self.channel_id) if not m["flags"] & EPHEMERAL]

    def ephemeral_messages(self, user_id: int) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages.values()
            if m["flags"] & EPHEMERAL and m.get("visible_to") == str(user_id) and not m.get("deleted")
        ]

    def messages_of(self, interaction: FakeInteraction) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m.get("interaction_id") == interaction.id and not m.get("deleted")]

    # --- REST -------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"]
        body, uploads = await _read_body(request)
        files = [(name, len(data)) for name, data in uploads]
        self.uploads.extend(uploads)
        record = RecordedRequest(request.method, path, dict(request.query), body, files=files)
        self.requests.append(record)
        bucket = self._bucket(request.method, path)
        try:
            if self.bot_token is not None and request.headers.get("Authorization") != f"Bot {self.bot_token}":
                raise DiscordError(401, 0, "401: Unauthorized")
            if bucket is not None and bucket[0].spent(bucket[1], self.now()):
                response = bucket[0].too_many(bucket[1], self.now())
                self.rate_limited.append(record)
            else:
                self._files = files
                response = await self._route(request.method, path, dict(request.query), body)
        except DiscordError as err:
            response = err.response()
        finally:
            self._files = []
        if bucket is not None and response.status != 429:
            bucket[0].take(bucket[1], self.now(), response)
        record.status = response.status
        conformance.discord_exchange(
            request.method,
            path,
            record.query,
            body,
            response.status,
            response.body if isinstance(response.body, bytes) else b"",
        )
        async with self._changed:
            self._changed.notify_all()
        return response

    def _bucket(self, method: str, path: str) -> tuple[RouteLimit, str] | None:
        for route in self.route_limits:
            if route.method == method and (match := route.pattern.fullmatch(path)) is not None:
                return route, (match.group(1) if match.groups() else "")
        return None

    async def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> web.Response:
        parts = path.strip("/").split("/")
        match (method, parts):
            case ("GET", ["users", "@me"]):
                return _json(self.bot_user.private_payload())
            case ("GET", ["gateway", "bot"]):
                return _json(
                    {
                        "url": self.gateway_url,
                        "shards": 1,
                        "session_start_limit": {
                            "total": 1000,
                            "remaining": 999,
                            "reset_after": 0,
                            "max_concurrency": 1,
                        },
                    }
                )
            case ("GET", ["oauth2", "applications", "@me"]) | ("GET", ["applications", "@me"]):
                return _json(self._application())
            case ("PUT", ["applications", _, "commands"]):
                return _json(self._sync("global", body))
            case ("PUT", ["applications", _, "guilds", guild_id, "commands"]):
                return _json(self._sync(guild_id, body))
            case ("GET", ["applications", _, "commands"]):
                return _json(self.commands.get("global", []))
            case ("GET", ["applications", _, "guilds", guild_id, "commands"]):
                return _json(self.commands.get(guild_id, []))
            case ("POST", ["interactions", interaction_id, token, "callback"]):
                return self._callback(int(interaction_id), token, body, query)
            case ("POST", ["webhooks", _, token]):
                return self._followup(token, body, query)
            case ("GET", ["webhooks", _, token, "messages", "@original"]):
                return _json(self._message(self._original(token)))
            case ("PATCH", ["webhooks", _, token, "messages", message_id]):
                interaction = self._by_token(token)
                target = self._original(token) if message_id == "@original" else int(message_id)
                if (
                    self.messages.get(target, {}).get("interaction_id") != interaction.id
                    and target != interaction.original_id
                ):
                    raise DiscordError(404, 10008, "Unknown Message")
                return _json(self._edit(target, body))
            case ("DELETE", ["webhooks", _, token, "messages", message_id]):
                target = self._original(token) if message_id == "@original" else int(message_id)
                self._message(target)["deleted"] = True
                return web.Response(status=204)
            case ("POST", ["users", "@me", "channels"]):
                user_id = int(body["recipient_id"])
                if user_id not in self.users:
                    raise DiscordError(400, 50033, "Invalid Recipients")
                channel = self.dm_channel_for(user_id)
                return _json(
                    {
                        "id": str(channel),
                        "type": 1,
                        "last_message_id": None,
                        "flags": 0,
                        "recipients": [self.users[user_id].payload()],
                    }
                )
            case ("POST", ["channels", channel_id, "messages"]):
                return _json(self._channel_post(int(channel_id), body))
            case ("PATCH", ["channels", channel_id, "messages", message_id]):
                self._require(int(channel_id), VIEW_CHANNEL)
                message = self._message(int(message_id))
                if message["channel_id"] != channel_id:
                    raise DiscordError(404, 10008, "Unknown Message")
                if message["author"]["id"] != str(self.bot_user.id) or message["flags"] & EPHEMERAL:
                    raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
                return _json(self._edit(int(message_id), self._without_unpermitted_embeds(int(channel_id), body)))
            case ("DELETE", ["channels", channel_id, "messages", message_id]):
                self._require(int(channel_id), VIEW_CHANNEL)
                message = self._message(int(message_id))
                if message["channel_id"] != channel_id or message["flags"] & EPHEMERAL:
                    raise DiscordError(404, 10008, "Unknown Message")
                if message["author"]["id"] != str(self.bot_user.id):
                    raise DiscordError(403, 50013, "Missing Permissions")
                message["deleted"] = True
                return web.Response(status=204)
        raise DiscordError(404, 0, f"404: Not Found ({method} {path})")

    def _application(self) -> dict[str, Any]:
        """The bot's application as GET /applications/@me answers it (PrivateApplicationResponse)."""
        return {
            "id": str(self.app_id),
            "name": "VaniKeys",
            "icon": None,
            "description": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "00" * 32,
            "flags": 0,
            "flags_new": "0",
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "approximate_guild_count": 1,
            "approximate_user_install_count": 0,
            "approximate_user_authorization_count": 0,
            "explicit_content_filter": 0,
            "eligible_oauth2_scopes": ["bot", "applications.commands"],
            "owner": self.owner.payload(),
            "team": None,
            "rpc_origins": [],
            "bot": self.bot_user.payload(),
            "integration_types_config": {"0": {}, "1": {}},
        } | (
            {
                "install_params": self.install_params,
                "integration_types_config": {"0": {"oauth2_install_params": self.install_params}},
            }
            if self.install_params is not None
            else {}
        )

    def _sync(self, scope: str, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, list):
            raise DiscordError(400, 50035, "Invalid Form Body")
        synced = []
        _check_unique(body)
        for command in body:
            _check_command(command)
            synced.append(self._command_answer(command, None if scope == "global" else scope))
        self.commands[scope] = synced
        return synced

    def _command_answer(self, command: dict[str, Any], guild_id: str | None) -> dict[str, Any]:
        """A synced command as Discord answers it (ApplicationCommandResponse): its defaults filled in,
        permissions as a string."""
        permissions = command.get("default_member_permissions")
        answer = command | {
            "id": str(self._next_id()),
            "application_id": str(self.app_id),
            "version": str(self._next_id()),
            "type": command.get("type", 1),
            "default_member_permissions": None if permissions is None else str(permissions),
            "integration_types": command.get("integration_types") or [0],
            "contexts": command.get("contexts"),
            "nsfw": bool(command.get("nsfw")),
            "description": command.get("description", ""),
        }
        if guild_id is not None:
            answer["guild_id"] = guild_id
        return answer

    # interactions

    def _by_token(self, token: str) -> FakeInteraction:
        for interaction in self.interactions.values():
            if interaction.token == token:
                if self.now() - interaction.created > TOKEN_TTL_S:
                    raise DiscordError(401, 50027, "Invalid Webhook Token")
                if interaction.acked_with is None:
                    raise DiscordError(404, 10015, "Unknown Webhook")
                return interaction
        raise DiscordError(404, 10015, "Unknown Webhook")

    def _original(self, token: str) -> int:
        interaction = self._by_token(token)
        if interaction.original_id is None or self.messages.get(interaction.original_id, {}).get("deleted"):
            raise DiscordError(404, 10008, "Unknown Message")
        return interaction.original_id

    def _callback(self, interaction_id: int, token: str, body: Any, query: dict[str, str]) -> web.Response:
        interaction = self.interactions.get(interaction_id)
        if interaction is None or interaction.token != token:
            raise DiscordError(404, 10062, "Unknown interaction")
        delay = self.now() - interaction.created
        if interaction.acked_with is not None:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if delay > ACK_DEADLINE_S:
            raise DiscordError(404, 10062, "Unknown interaction")
        kind = body["type"]
        data = body.get("data") or {}
        interaction.acked_with, interaction.ack_delay_s = kind, delay
        resource: dict[str, Any] = {"type": kind}
        if kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            ephemeral = bool(data.get("flags", 0) & EPHEMERAL)
            message = self._store(
                interaction.channel_id,
                data if kind == CHANNEL_MESSAGE else {},
                ephemeral=ephemeral,
                loading=kind == DEFERRED_CHANNEL_MESSAGE,
                interaction=interaction,
            )
            interaction.original_id = int(message["id"])
            interaction.original_ephemeral = ephemeral
            resource["message"] = message
        elif kind == UPDATE_MESSAGE:
            if interaction.original_id is None:
                raise DiscordError(400, 50035, "Invalid Form Body: no message to update")
            resource["message"] = self._edit(interaction.original_id, data)
        elif kind == AUTOCOMPLETE_RESULT:
            choices = data.get("choices", [])
            if len(choices) > 25:
                raise DiscordError(400, 50035, "Invalid Form Body: at most 25 choices")
            interaction.autocomplete_choices = choices
        elif kind != DEFERRED_UPDATE:
            raise DiscordError(400, 50035, f"Invalid Form Body: unknown callback type {kind}")
        answer: dict[str, Any] = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "response_message_loading": kind == DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": interaction.original_ephemeral,
            }
        }
        if interaction.original_id:
            answer["interaction"]["response_message_id"] = str(interaction.original_id)
        if kind in (CHANNEL_MESSAGE, UPDATE_MESSAGE):
            # the spec's InteractionCallbackResponse carries a resource only for a message sent or updated
            answer["resource"] = resource
        if query.get("with_response") in ("1", "true", "True"):
            return _json(answer)
        return web.Response(status=204)

    def _followup(self, token: str, body: Any, query: dict[str, str]) -> web.Response:
        interaction = self._by_token(token)
        original = self.messages.get(interaction.original_id or 0)
        if original is not None and not original.get("deleted") and original["flags"] & LOADING:
            # Discord: the first follow-up after a defer replaces the thinking message, keeping its flags.
            message = self._edit(interaction.original_id, body)  # type: ignore[arg-type]
        else:
            message = self._store(
                interaction.channel_id,
                body,
                ephemeral=bool(body.get("flags", 0) & EPHEMERAL),
                loading=False,
                interaction=interaction,
            )
        if query.get("wait") in ("1", "true", "True"):
            return _json(message)
        return web.Response(status=204)

    # messages

    def _store(
        self,
        channel_id: int,
        body: dict[str, Any],
        *,
        ephemeral: bool,
        loading: bool,
        interaction: FakeInteraction | None,
    ) -> dict[str, Any]:
        _check_message(body, allow_empty=loading)
        message_id = self._next_id()
        flags = (EPHEMERAL if ephemeral else 0) | (LOADING if loading else 0)
        message: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": self.bot_user.payload(),
            "content": body.get("content") or "",
            "embeds": _embeds_answer(body.get("embeds") or []),
            "components": _components_answer(body.get("components") or []),
            "flags": flags,
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": self._attachments(body),
            "pinned": False,
            "type": 20 if interaction else 0,
        }
        if interaction is not None:
            message["interaction_id"] = interaction.id
            message["webhook_id"] = str(self.app_id)
            message["application_id"] = str(self.app_id)
            if ephemeral:
                message["visible_to"] = str(interaction.user.id)
        if channel_id == self.channel_id:
            message["guild_id"] = str(self.guild_id)
        self.messages[message_id] = message
        return self._public(message)

    def _attachments(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return (
            [
                {
                    "id": str(self._next_id()),
                    "filename": name,
                    "size": size,
                    "url": f"https://cdn.fake/{name}",
                    "proxy_url": f"https://cdn.fake/{name}",
                }
                for name, size in self._files
            ]
            if self._files
            else []
        )

    def _message(self, message_id: int) -> dict[str, Any]:
        message = self.messages.get(message_id)
        if message is None or message.get("deleted"):
            raise DiscordError(404, 10008, "Unknown Message")
        return message

    def _edit(self, message_id: int, body: dict[str, Any]) -> dict[str, Any]:
        message = self._message(message_id)
        for key in ("content", "embeds", "components"):
            if key in body:
                message[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
        message["embeds"] = _embeds_answer(message["embeds"])
        message["components"] = _components_answer(message["components"])
        if self._files:
            message["attachments"] = self._attachments(body)
        message["flags"] &= ~LOADING  # any edit with content replaces the thinking state
        _check_message(message, allow_empty=False)
        message["edited_timestamp"] = _now()
        message.setdefault("edits", 0)
        message["edits"] += 1
        message.setdefault("history", []).append({k: message[k] for k in ("content", "embeds", "components")})
        return self._public(message)

    def _channel_post(self, channel_id: int, body: dict[str, Any]) -> dict[str, Any]:
        dm_owner = next((uid for uid, ch in self.dm_channels.items() if ch == channel_id), None)
        if dm_owner is not None and dm_owner in self.closed_dms:
            raise DiscordError(403, 50007, "Cannot send messages to this user")
        if dm_owner is None and channel_id != self.channel_id:
            raise DiscordError(404, 10003, "Unknown Channel")
        self._require(channel_id, VIEW_CHANNEL | SEND_MESSAGES | (ATTACH_FILES if self._files else 0))
        body = self._without_unpermitted_embeds(channel_id, body)
        return self._store(channel_id, body, ephemeral=False, loading=False, interaction=None)

    def _require(self, channel_id: int, permissions: int) -> None:
        """The bot's own permissions in the guild channel (DMs need none)."""
        if channel_id == self.channel_id and (self.bot_permissions & permissions) != permissions:
            raise DiscordError(403, 50013, "Missing Permissions")

    def _without_unpermitted_embeds(self, channel_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """Discord drops the embeds of a bot without Embed Links, silently."""
        if channel_id == self.channel_id and not self.bot_permissions & EMBED_LINKS and body.get("embeds"):
            return {**body, "embeds": []}
        return body

    @staticmethod
    def _public(message: dict[str, Any]) -> dict[str, Any]:
        return {
            k: v for k, v in message.items() if k not in ("interaction_id", "visible_to", "deleted", "edits", "history")
        }


# --- what Discord adds to a message it stores (MessageResponse) ------------------------


def _embeds_answer(embeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Embeds as Discord answers them: a "rich" type, every field's `inline` given."""
    return [
        {"type": "rich"}
        | embed
        | ({"fields": [{"inline": False} | f for f in embed["fields"]]} if embed.get("fields") else {})
        for embed in embeds
    ]


def _components_answer(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Components as Discord answers them: each with a numeric `id` (numbered in order where the bot set none),
    a Unicode emoji without the null `id` a request may carry (ComponentEmojiResponse)."""
    ids = itertools.count(1)

    def numbered(component: dict[str, Any]) -> dict[str, Any]:
        answer = {"id": next(ids)} | component
        if isinstance(component.get("emoji"), dict) and component["emoji"].get("id") is None:
            answer["emoji"] = {k: v for k, v in component["emoji"].items() if k != "id"}  # a Unicode emoji
        if "components" in component:
            answer["components"] = [numbered(child) for child in component["components"]]
        return answer

    return [numbered(component) for component in components]


# --- validation: Discord's limits ---------------------------------------------------


def _check_message(body: dict[str, Any], *, allow_empty: bool) -> None:
    content = body.get("content") or ""
    embeds = body.get("embeds") or []
    components = body.get("components") or []
    if len(content) > 2000:
        raise DiscordError(400, 50035, "Invalid Form Body: content must be 2000 or fewer in length")
    if not allow_empty and not content and not embeds and not components:
        raise DiscordError(400, 50006, "Cannot send an empty message")
    if len(embeds) > 10:
        raise DiscordError(400, 50035, "Invalid Form Body: at most 10 embeds")
    total = 0
    for embed in embeds:
        total += _check_embed(embed)
    if total > 6000:
        raise DiscordError(400, 50035, "Invalid Form Body: embeds exceed 6000 characters")
    if len(components) > 5:
        raise DiscordError(400, 50035, "Invalid Form Body: at most 5 action rows")
    custom_ids = []
    for row in components:
        if row.get("type") != 1 or not 1 <= len(row.get("components", [])) <= 5:
            raise DiscordError(400, 50035, "Invalid Form Body: an action row holds 1 to 5 components")
        for item in row["components"]:
            if "custom_id" in item:
                if not 1 <= len(item["custom_id"]) <= 100:
                    raise DiscordError(400, 50035, "Invalid Form Body: custom_id must be 1 to 100 characters")
                custom_ids.append(item["custom_id"])
            if len(item.get("label") or "") > 80:
                raise DiscordError(400, 50035, "Invalid Form Body: a button label is at most 80 characters")
    if len(custom_ids) != len(set(custom_ids)):
        raise DiscordError(400, 50035, "Invalid Form Body: custom_ids must be unique in a message")


def _check_embed(embed: dict[str, Any]) -> int:
    limits = {"title": 256, "description": 4096}
    size = 0
    for key, limit in limits.items():
        text = embed.get(key) or ""
        if len(text) > limit:
            raise DiscordError(400, 50035, f"Invalid Form Body: embed {key} is longer than {limit}")
        size += len(text)
    fields = embed.get("fields") or []
    if len(fields) > 25:
        raise DiscordError(400, 50035, "Invalid Form Body: at most 25 embed fields")
    for item in fields:
        if not item.get("name") or not item.get("value"):
            raise DiscordError(400, 50035, "Invalid Form Body: embed fields need a name and a value")
        if len(item["name"]) > 256 or len(item["value"]) > 1024:
            raise DiscordError(400, 50035, "Invalid Form Body: embed field too long")
        size += len(item["name"]) + len(item["value"])
    footer = (embed.get("footer") or {}).get("text") or ""
    author = (embed.get("author") or {}).get("name") or ""
    if len(footer) > 2048 or len(author) > 256:
        raise DiscordError(400, 50035, "Invalid Form Body: embed footer/author too long")
    return size + len(footer) + len(author)


def _check_name(item: dict[str, Any]) -> None:
    """A chat-input command's or option's name and each of its localizations: Discord's regex, lower case."""
    for name in [item.get("name", ""), *(item.get("name_localizations") or {}).values()]:
        if not COMMAND_NAME.match(name) or name != name.lower():
            raise DiscordError(400, 50035, f"Invalid Form Body: APPLICATION_COMMAND_INVALID_NAME {name!r}")


def _check_unique(siblings: list[dict[str, Any]]) -> None:
    """Names are unique among siblings (commands of one sync, options of one command), in every locale."""
    locales = {locale for item in siblings for locale in item.get("name_localizations") or {}}
    for locale in (None, *locales):
        names = [
            (item.get("name_localizations") or {}).get(locale, item.get("name")) if locale else item.get("name")
            for item in siblings
        ]
        if len(names) != len(set(names)):
            raise DiscordError(400, 50035, f"Invalid Form Body: APPLICATION_COMMANDS_DUPLICATE_NAME ({locale})")


def _check_command(command: dict[str, Any]) -> None:
    name = command.get("name", "")
    if command.get("type", 1) == 1:
        _check_name(command)
        _check_unique(command.get("options", []))
        for option in command.get("options", []):
            _check_name(option)
    if not name or len(name) > 32 or name != name.lower():
        raise DiscordError(400, 50035, f"Invalid Form Body: bad command name {name!r}")
    if command.get("type", 1) == 1 and not 1 <= len(command.get("description", "")) <= 100:
        raise DiscordError(400, 50035, f"Invalid Form Body: /{name} needs a 1-100 character description")
    for option in command.get("options", []):
        if not 1 <= len(option.get("description", "")) <= 100:
            raise DiscordError(
                400, 50035, f"Invalid Form Body: option {option.get('name')} of /{name} needs a description"
            )
        if len(option.get("choices") or []) > 25:
            raise DiscordError(400, 50035, "Invalid Form Body: at most 25 choices")


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


async def _read_body(request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
    """The JSON body (or a multipart form's payload_json) and the files uploaded with it."""
    if not request.can_read_body:
        return None, []
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        raw = form.get("payload_json")
        if isinstance(raw, web.FileField):
            raw = raw.file.read()
        if isinstance(raw, (bytes, bytearray)):
            raw = raw.decode()
        files = [
            (value.filename, value.file.read())
            for name, value in form.items()
            if isinstance(value, web.FileField) and name != "payload_json"
        ]
        return (json.loads(str(raw)) if raw is not None else None), files
    text = await request.text()
    return (json.loads(text) if text else None), []


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only when the content type is exactly "application/json" (no charset)
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def _now() -> str:
    return datetime.now(UTC).isoformat()
