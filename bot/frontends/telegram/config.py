"""Telegram-only settings, from the environment (a .env file honoured).

The shared Settings carry the token; everything else here has a default, so
`TELEGRAM_TOKEN` alone runs the bot with long polling and Stars top-ups.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from bot.config import ConfigError
from gpu_worker.errors import VanikeysError
from gpu_worker.numbers import parse_int
from bot.frontends.telegram.outbox import OutboxLimits


@dataclass(frozen=True)
class StarsPack:
    """A top-up paid in Telegram Stars (currency XTR)."""

    pack_id: str
    tokens: int
    stars: int


DEFAULT_STARS_PACKS = (
    StarsPack("small", 100, 50),
    StarsPack("medium", 500, 225),
    StarsPack("large", 1200, 500),
)


@dataclass(frozen=True)
class TelegramConfig:
    token: str
    api_base_url: str = "https://api.telegram.org/bot"
    api_file_url: str = "https://api.telegram.org/file/bot"
    # webhook mode when webhook_url is set; long polling otherwise
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    poll_timeout_s: float = 10.0
    cooldown_s: float = 3.0              # per user, between paid actions (pulls, orders)
    stars_packs: tuple[StarsPack, ...] = DEFAULT_STARS_PACKS
    admin_ids: frozenset[int] = frozenset()  # may run /refundstars
    concurrent_updates: int = 32
    # Telegram's rules for digital goods: tokens are sold for Stars. A Stripe card link only where
    # the operator turns it on knowingly (TELEGRAM_STRIPE_TOPUP=on), e.g. for goods Telegram allows.
    stripe_topup: bool = False
    stale_after_s: float = 300.0         # commands older than this (queued while the bot was down) are refused
    odds_cooldown_s: float = 2.0         # per user, between /odds (CPU-costly)
    reveal_wait_s: float = 10.0          # how long a pull waits for its public reveal before the DM goes anyway
    rolling_step_s: float = 0.6          # the suspense edit's pace (two steps, then the reveal)
    outbox: OutboxLimits = OutboxLimits()
    # Pulls, orders and /odds in flight at once from this front end; the rest wait their turn (already
    # acknowledged). A safety bound, not the pace: the grinding itself runs off the event loop (its own
    # executor, the odds worker process), and a pull gives its slot back once its result is stored. At 8 the
    # slots were the ceiling under load (Telegram pulls waited ~50 s for one while Discord's, unbounded, did not).
    heavy_concurrency: int = 64
    stop_grace_s: float = 3.0            # on shutdown, how long queued messages get before they are dropped

    @property
    def webhook_mode(self) -> bool:
        return bool(self.webhook_url)

    @property
    def webhook_path(self) -> str:
        path = self.webhook_url.split("://", 1)[-1].partition("/")[2] if self.webhook_url else ""
        return path or "telegram"

    def stars_pack(self, pack_id: str) -> StarsPack | None:
        return next((p for p in self.stars_packs if p.pack_id == pack_id), None)

    @classmethod
    def from_env(cls, token: str, environ: Mapping[str, str] | None = None,
                 *, dotenv_path: str | Path | None = ".env") -> TelegramConfig:
        values: dict[str, str] = {}
        if dotenv_path is not None and Path(dotenv_path).is_file():
            values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        kwargs: dict[str, object] = {}
        text = {k: v.strip() for k, v in values.items() if isinstance(v, str) and v.strip()}
        if "TELEGRAM_API_BASE_URL" in text:
            kwargs["api_base_url"] = text["TELEGRAM_API_BASE_URL"]
        if "TELEGRAM_API_FILE_URL" in text:
            kwargs["api_file_url"] = text["TELEGRAM_API_FILE_URL"]
        if "TELEGRAM_WEBHOOK_URL" in text:
            url = text["TELEGRAM_WEBHOOK_URL"]
            if not url.startswith("https://"):
                raise ConfigError(f"TELEGRAM_WEBHOOK_URL={url!r} must be an https:// URL Telegram can reach")
            kwargs["webhook_url"] = url
        if "TELEGRAM_WEBHOOK_LISTEN" in text:
            kwargs["webhook_listen"] = text["TELEGRAM_WEBHOOK_LISTEN"]
        if "TELEGRAM_WEBHOOK_PORT" in text:
            kwargs["webhook_port"] = _int("TELEGRAM_WEBHOOK_PORT", text["TELEGRAM_WEBHOOK_PORT"], 1)
        if "TELEGRAM_WEBHOOK_SECRET" in text:
            secret = text["TELEGRAM_WEBHOOK_SECRET"]
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
                raise ConfigError("TELEGRAM_WEBHOOK_SECRET may hold only A-Z, a-z, 0-9, _ and -, up to 256 characters")
            kwargs["webhook_secret"] = secret
        if "TELEGRAM_COOLDOWN_S" in text:
            kwargs["cooldown_s"] = float(_int("TELEGRAM_COOLDOWN_S", text["TELEGRAM_COOLDOWN_S"], 0))
        if "TELEGRAM_STRIPE_TOPUP" in text:
            kwargs["stripe_topup"] = _switch("TELEGRAM_STRIPE_TOPUP", text["TELEGRAM_STRIPE_TOPUP"])
        if "TELEGRAM_STALE_AFTER_S" in text:
            kwargs["stale_after_s"] = float(_int("TELEGRAM_STALE_AFTER_S", text["TELEGRAM_STALE_AFTER_S"], 1))
        if "TELEGRAM_ODDS_COOLDOWN_S" in text:
            kwargs["odds_cooldown_s"] = float(_int("TELEGRAM_ODDS_COOLDOWN_S", text["TELEGRAM_ODDS_COOLDOWN_S"], 0))
        if "TELEGRAM_GROUP_MESSAGES_PER_MINUTE" in text:
            kwargs["outbox"] = OutboxLimits(group_messages=_int(
                "TELEGRAM_GROUP_MESSAGES_PER_MINUTE", text["TELEGRAM_GROUP_MESSAGES_PER_MINUTE"], 1))
        if "TELEGRAM_STARS_PACKS" in text:
            kwargs["stars_packs"] = parse_stars_packs(text["TELEGRAM_STARS_PACKS"])
        if "TELEGRAM_ADMIN_IDS" in text:
            kwargs["admin_ids"] = frozenset(
                _int("TELEGRAM_ADMIN_IDS", part, 1) for part in text["TELEGRAM_ADMIN_IDS"].split(",") if part.strip()
            )
        return cls(token=token, **kwargs)  # type: ignore[arg-type]


def parse_stars_packs(text: str) -> tuple[StarsPack, ...]:
    """`small=100:50,medium=500:225` (pack=tokens:stars); `off` disables Stars top-ups."""
    if text.lower() == "off":
        return ()
    packs = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*([a-z0-9_]{1,16})=(\d+):(\d+)\s*", part)
        if not match or int(match.group(2)) < 1 or int(match.group(3)) < 1:
            raise ConfigError(
                f"TELEGRAM_STARS_PACKS part {part.strip()!r} is not pack=tokens:stars; write e.g. small=100:50,large=1200:500 or off"
            )
        packs.append(StarsPack(match.group(1), int(match.group(2)), int(match.group(3))))
    return tuple(packs)


def _int(var: str, text: str, minimum: int) -> int:
    try:
        return parse_int(text, what=var, minimum=minimum, maximum=10**9)
    except VanikeysError as err:
        raise ConfigError(f"{var}: {err.message}") from None


def _switch(var: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "on", "true", "yes"):
        return True
    if lowered in ("0", "off", "false", "no"):
        return False
    raise ConfigError(f"{var}={text.strip()!r}: set on or off")
