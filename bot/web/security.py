"""Who is asking (behind a trusted reverse proxy only), how often they may ask, and the headers every page carries."""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web

# A strict policy: everything from this origin only. The Mini App is framed by Telegram's web client.
CSP = (
    "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The Mini App shows card images it fetched with its signed header (blob: URLs of its own making).
MINIAPP_CSP = CSP.replace("img-src 'self'", "img-src 'self' blob:").replace(
    "frame-ancestors 'none'", "frame-ancestors https://web.telegram.org https://*.telegram.org"
)
MAX_CLIENTS = 20_000  # rate-limit buckets kept; the least recently seen go first


class TrustedProxies:
    """X-Forwarded-For counts only when the peer is one of these (VANIKEYS_TRUSTED_PROXIES); the pages build no
    absolute addresses, so X-Forwarded-Proto and -Host are not needed."""

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def trusts(self, address: str | None) -> bool:
        """Whether `address` is in one of the configured proxy networks (whose X-Forwarded-For is believed)."""
        if not address or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def client(self, request: web.Request) -> str:
        """The client's address: the peer, or the last untrusted hop a trusted proxy reported."""
        peer = request.remote or "unknown"
        if not self.trusts(peer):
            return peer
        hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return _valid_ip(hop) or peer
        return peer


def _valid_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per client: `per_minute` requests a minute on average, bursts up to `burst` (a third of that)."""

    def __init__(self, per_minute: int, *, burst: int | None = None) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, per_minute // 3))
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def wait_s(self, client: str, cost: float = 1.0, now: float | None = None) -> float:
        """0 when the request may go ahead (and is counted), else seconds until it may."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.pop(client, None) or _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[client] = bucket
        while len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.rate if self.rate > 0 else math.inf


def secure_headers(response: web.StreamResponse, *, miniapp: bool) -> None:
    """Set the security headers on `response`: CSP, no sniffing, no referrer, no framing.

    With `miniapp`, the CSP lets Telegram's web clients frame the page and the page show blob: card images.
    """
    response.headers["Content-Security-Policy"] = MINIAPP_CSP if miniapp else CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if not miniapp:
        response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-store")
