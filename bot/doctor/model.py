"""What a doctor check finds, one line each, and the context the checks share (settings, HTTP, clocks)."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import aiohttp

from bot.settings import VanikeysSettings
from gpu_worker.i18n import _, gettext_now

Status = Literal["ok", "fail", "warn", "skip"]
SYMBOLS = {"ok": "✓", "fail": "✗", "warn": "✗", "skip": "-"}


@dataclass(frozen=True)
class Finding:
    """One check's result: ok, warn (worth fixing, not required), fail (exit code 1) or skip, and how to fix it."""

    check: str  # "discord token"
    status: Status  # fail: a required check failed (non-zero exit); warn: worth fixing, not fatal
    detail: str
    fix: str = ""

    def line(self) -> str:
        """The finding as one printed line, with its fix for a warning or failure, in the current locale: `check` is
        the English name (JSON keeps it), marked where it is written and translated here."""
        text = _(
            "{symbol} {check}: {detail}", symbol=SYMBOLS[self.status], check=gettext_now(self.check), detail=self.detail
        )
        if self.status == "warn":
            text = _("{line} (not required)", line=text)
        return (
            _("{line} — fix: {fix}", line=text, fix=self.fix) if self.fix and self.status in ("fail", "warn") else text
        )

    def to_json(self) -> dict[str, Any]:
        """The finding as a JSON object."""
        return asdict(self)


def ok(check: str, detail: str) -> Finding:
    """A passed check."""
    return Finding(check, "ok", detail)


def fail(check: str, detail: str, fix: str) -> Finding:
    """A failed required check, with what to do about it."""
    return Finding(check, "fail", detail, fix)


def warn(check: str, detail: str, fix: str) -> Finding:
    """A problem worth fixing that does not stop the bot, with what to do about it."""
    return Finding(check, "warn", detail, fix)


def skip(check: str, detail: str) -> Finding:
    """A check not run (its service is not configured), with why."""
    return Finding(check, "skip", detail)


@dataclass
class Context:
    """What the checks share. The API bases default to the real services; tests point them at the fakes."""

    settings: VanikeysSettings
    http: aiohttp.ClientSession
    discord_api: str = "https://discord.com/api/v10"
    stripe_api: str = "https://api.stripe.com"
    ssl_context: ssl.SSLContext | None = None  # None: the system's trust store
    clock: Callable[[], float] = time.time
    min_free_bytes: int = 1 << 30
    max_clock_skew_s: float = 30.0
    timeout_s: float = 10.0
    server_dates: list[tuple[str, float, float]] = field(default_factory=list)  # (service, their time, ours)

    async def call(self, service: str, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        """(HTTP status, JSON body or None); each Date header is kept to measure the clock's skew."""
        sent = self.clock()
        async with self.http.request(
            method,
            url,
            ssl=self.ssl_context if self.ssl_context is not None else True,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            **kwargs,
        ) as response:
            text = await response.text()
            received = self.clock()
            stamp = response.headers.get("Date")
            if stamp:
                try:
                    self.server_dates.append((service, parsedate_to_datetime(stamp).timestamp(), (sent + received) / 2))
                except (TypeError, ValueError):
                    pass
            try:
                body = json.loads(text) if text else None
            except ValueError:
                body = None
            return response.status, body
