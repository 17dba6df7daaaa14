"""Telegram Mini App authentication: `initData` signed by Telegram with the bot's token, fresh, and used once to pull.

Telegram signs the fields it hands the Mini App: the check string is every field but
`hash`, as `key=value`, sorted by key, joined by newlines; the key is
HMAC-SHA256(key="WebAppData", msg=bot_token); the hash is HMAC-SHA256(key, check string) in hex.
`auth_date` older than the allowed age (or from the future) is refused: a leaked initData
does not work for long. Within that age, the state-changing call (a pull) also needs a
one-time token handed out by an authenticated read, so a recorded pull request cannot be sent twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import parse_qsl

from bot.i18n import N_

MAX_INIT_DATA_CHARS = 4096
FUTURE_SKEW_S = 60.0
TOKEN_TTL_S = 600.0
MAX_TOKENS = 50_000


class InitDataError(Exception):
    """initData that is missing, malformed, forged or stale; the message says which (never echoes the data)."""


@dataclass(frozen=True)
class MiniAppUser:
    """The Telegram user a verified initData names, when it was signed, and its hash (an id for the session)."""

    user_id: str
    display_name: str
    auth_date: int
    digest: str  # the verified hash: identifies this initData without keeping it
    language_code: str | None = None  # the person's Telegram language, as their updates carry it


def secret_key(bot_token: str) -> bytes:
    """The HMAC key Telegram signs a bot's Mini App initData with: HMAC-SHA256("WebAppData", bot token)."""
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def sign(fields: dict[str, str], bot_token: str) -> str:
    """The hash Telegram would put on these fields (tests and the benchmark sign with it)."""
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    return hmac.new(secret_key(bot_token), check.encode(), hashlib.sha256).hexdigest()


def verify(init_data: str | None, bot_token: str, *, max_age_s: float, now: float | None = None) -> MiniAppUser:
    """The user of a Telegram Mini App's initData, after checking Telegram's signature for this bot and its age.

    InitDataError (one line) for data that is missing, too long, malformed, unsigned, undated, dated in the future,
    older than `max_age_s` or without a user.
    """
    if not init_data:
        raise InitDataError(N_("open this page from the bot's button in Telegram"))
    if len(init_data) > MAX_INIT_DATA_CHARS:
        raise InitDataError("initData is too long")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InitDataError("initData is not a query string") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise InitDataError("initData repeats a field")
        fields[key] = value
    given = fields.pop("hash", "")
    expected = sign(fields, bot_token)
    if not given or not hmac.compare_digest(given.lower(), expected):
        raise InitDataError(N_("initData is not signed by Telegram for this bot"))
    try:
        auth_date = int(fields.get("auth_date", ""))
    except ValueError:
        raise InitDataError("initData has no auth_date") from None
    now = time.time() if now is None else now
    if auth_date > now + FUTURE_SKEW_S:
        raise InitDataError("initData is dated in the future")
    if now - auth_date > max_age_s:
        raise InitDataError(N_("this Mini App session has expired: close it and open it again from the bot"))
    try:
        user = json.loads(fields.get("user", ""))
        user_id = str(int(user["id"]))
    except (ValueError, KeyError, TypeError):
        raise InitDataError("initData names no user") from None
    name = " ".join(str(user.get(k, "")) for k in ("first_name", "last_name") if user.get(k)).strip()
    return MiniAppUser(
        user_id=user_id,
        display_name=name[:64] or str(user.get("username", ""))[:64],
        auth_date=auth_date,
        digest=expected,
        language_code=code[:20] if isinstance(code := user.get("language_code"), str) else None,
    )


class PullTokens:
    """One-time tokens for the Mini App's pull: issued to a verified user, consumed once, expiring."""

    def __init__(self, ttl_s: float = TOKEN_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def issue(self, user_id: str, now: float | None = None) -> str:
        """A fresh single-use token for `user_id`, valid `ttl_s` seconds (the oldest are dropped past MAX_TOKENS)."""
        now = time.monotonic() if now is None else now
        token = secrets.token_urlsafe(18)
        self._tokens[token] = (user_id, now + self.ttl_s)
        while len(self._tokens) > MAX_TOKENS:
            self._tokens.popitem(last=False)
        return token

    def consume(self, token: str, user_id: str, now: float | None = None) -> bool:
        """Use up `token`: True only if it was issued to `user_id` and has not expired; never valid twice."""
        now = time.monotonic() if now is None else now
        held = self._tokens.pop(token, None) if isinstance(token, str) else None
        return held is not None and held[0] == user_id and held[1] >= now
