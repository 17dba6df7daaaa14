"""Telegram-only settings: the Telegram view of the one typed configuration (bot/settings.py).

The shared Settings carry the token; everything else here has a default, so
`TELEGRAM_TOKEN` alone runs the bot with long polling and Stars top-ups.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.config import ConfigError
from bot.frontends.telegram.outbox import OutboxLimits
from bot.settings import VanikeysSettings, load_settings
from gpu_worker.i18n import N_
from gpu_worker.localized import phrase


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
    """How the Telegram front end runs: the bot token, the Bot API's address, polling or webhook, cooldowns, Stars
    packs, operators, and the outbox's and handlers' bounds. Immutable; every field but the token has a default."""

    token: str
    api_base_url: str = "https://api.telegram.org/bot"
    api_file_url: str = "https://api.telegram.org/file/bot"
    # webhook mode when webhook_url is set; long polling otherwise
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    poll_timeout_s: float = 10.0
    cooldown_s: float = 3.0  # per user, between paid actions (pulls, orders)
    stars_packs: tuple[StarsPack, ...] = DEFAULT_STARS_PACKS
    admin_ids: frozenset[int] = frozenset()  # may run /refundstars
    concurrent_updates: int = 32
    # Telegram's rules for digital goods: tokens are sold for Stars. A Stripe card link only where
    # the operator turns it on knowingly (TELEGRAM_STRIPE_TOPUP=on), e.g. for goods Telegram allows.
    stripe_topup: bool = False
    stale_after_s: float = 300.0  # commands older than this (queued while the bot was down) are refused
    odds_cooldown_s: float = 2.0  # per user, between /odds (CPU-costly)
    reveal_wait_s: float = 10.0  # how long a pull waits for its public reveal before the DM goes anyway
    rolling_step_s: float = 0.6  # the suspense edit's pace (two steps, then the reveal)
    outbox: OutboxLimits = field(default_factory=OutboxLimits)
    # Pulls, orders and /odds in flight at once from this front end; the rest wait their turn (already
    # acknowledged). A safety bound, not the pace: the grinding itself runs off the event loop (its own
    # executor, the odds worker process), and a pull gives its slot back once its result is stored. At 8 the
    # slots were the ceiling under load (Telegram pulls waited ~50 s for one while Discord's, unbounded, did not).
    heavy_concurrency: int = 64
    stop_grace_s: float = (
        3.0  # on shutdown, how long queued messages get to go before they are kept for after the restart
    )

    @property
    def webhook_mode(self) -> bool:
        """True when updates arrive by webhook (`webhook_url` is set); long polling otherwise."""
        return bool(self.webhook_url)

    @property
    def webhook_path(self) -> str:
        """The path the webhook server listens on: `webhook_url`'s path, or `telegram` when it has none."""
        path = self.webhook_url.split("://", 1)[-1].partition("/")[2] if self.webhook_url else ""
        return path or "telegram"

    def stars_pack(self, pack_id: str) -> StarsPack | None:
        """The pack on sale with this id, or None (unknown, or Stars top-ups are off)."""
        return next((p for p in self.stars_packs if p.pack_id == pack_id), None)

    @classmethod
    def from_env(
        cls, token: str, environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env"
    ) -> TelegramConfig:
        """From `environ` (default: the process environment) over the .env file at `dotenv_path`, through the one
        typed configuration; ConfigError names a bad value."""
        return cls.from_settings(token, load_settings(environ, dotenv_path=dotenv_path))

    @classmethod
    def from_settings(cls, token: str, one: VanikeysSettings) -> TelegramConfig:
        """The Telegram view of already loaded settings; raises ConfigError for a malformed TELEGRAM_STARS_PACKS."""
        config = cls(
            token=token,
            api_base_url=one.telegram_api_base_url,
            api_file_url=one.telegram_api_file_url,
            webhook_url=one.telegram_webhook_url,
            webhook_listen=one.telegram_webhook_listen,
            webhook_port=one.telegram_webhook_port,
            cooldown_s=one.telegram_cooldown_s,
            admin_ids=frozenset(one.telegram_admin_ids),
            stripe_topup=one.telegram_stripe_topup,
            stale_after_s=one.telegram_stale_after_s,
            odds_cooldown_s=one.telegram_odds_cooldown_s,
            outbox=OutboxLimits(group_messages=one.telegram_group_messages_per_minute),
        )
        if one.telegram_webhook_secret is not None:
            config = replace(config, webhook_secret=one.telegram_webhook_secret)
        if one.telegram_stars_packs is not None:
            config = replace(config, stars_packs=parse_stars_packs(one.telegram_stars_packs))
        return config


def parse_stars_packs(text: str) -> tuple[StarsPack, ...]:
    """`small=100:50,medium=500:225` (pack=tokens:stars); `off` disables Stars top-ups."""
    if text.lower() == "off":
        return ()
    packs = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*([a-z0-9_]{1,16})=(\d+):(\d+)\s*", part)
        if not match or int(match.group(2)) < 1 or int(match.group(3)) < 1:
            raise ConfigError(
                phrase(
                    N_(
                        "TELEGRAM_STARS_PACKS part {part} is not pack=tokens:stars; "
                        "write e.g. small=100:50,large=1200:500 or off"
                    ),
                    part=repr(part.strip()),
                )
            )
        packs.append(StarsPack(match.group(1), int(match.group(2)), int(match.group(3))))
    return tuple(packs)
