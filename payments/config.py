"""StripeSettings: the payments view of the one typed configuration (bot/settings.py).

Stripe is configured when STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET are both set;
`StripeSettings.from_env()` returns None when neither is, and raises
PaymentsError("bad_config") naming the variable when only one is or a value is unusable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from gpu_worker.i18n import N_
from gpu_worker.localized import phrase
from payments.errors import PaymentsError
from payments.packs import PackCatalog, load_packs

if TYPE_CHECKING:
    from bot.settings import VanikeysSettings

WEBHOOK_TOLERANCE_S = 300  # Stripe's own default: a signed event older than this is refused
WEBHOOK_PATH = "/stripe/webhook"
SUCCESS_PATH = "/checkout/success"
CANCEL_PATH = "/checkout/cancel"


@dataclass(frozen=True)
class StripeSettings:
    """Stripe's part of the settings: keys, the Checkout return URLs, the packs on sale and the webhook's address."""

    api_key: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    success_url: str
    cancel_url: str
    packs: PackCatalog
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8080  # 0: any free port (tests)
    api_base: str | None = None  # None: Stripe's own; tests point it at a loopback fake
    max_network_retries: int = 2

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env"
    ) -> StripeSettings | None:
        """The Stripe settings from `environ` (default: the process environment) over .env.

        None when payments are not configured; PaymentsError("bad_config") for a half or invalid configuration.
        """
        return from_settings(_load(environ, dotenv_path))


def settings_from(values: Mapping[str, str]) -> StripeSettings | None:
    """StripeSettings from these values alone (no process environment, no .env)."""
    return from_settings(_load(values, None))


def _load(environ: Mapping[str, str] | None, dotenv_path: str | Path | None) -> VanikeysSettings:
    from bot.settings import ConfigError, load_settings

    try:
        return load_settings(environ, dotenv_path=dotenv_path)
    except ConfigError as exc:
        raise PaymentsError("bad_config", exc.localized or str(exc)) from None


def from_settings(one: VanikeysSettings) -> StripeSettings | None:
    """None when neither STRIPE_API_KEY nor STRIPE_WEBHOOK_SECRET is set; PaymentsError("bad_config") for half."""
    api_key = one.stripe_api_key or ""
    secret = one.stripe_webhook_secret or ""
    if not api_key and not secret:
        return None
    if not api_key or not secret:
        missing = "STRIPE_API_KEY" if not api_key else "STRIPE_WEBHOOK_SECRET"
        raise PaymentsError(
            "bad_config",
            phrase(
                N_("{missing} is not set: set both {key} and {secret}, or neither to run without payments"),
                missing=missing,
                key="STRIPE_API_KEY",
                secret="STRIPE_WEBHOOK_SECRET",
            ),
        )
    if not api_key.startswith(("sk_", "rk_")):
        raise PaymentsError(
            "bad_config",
            phrase(
                N_(
                    "{variable} does not look like a Stripe secret key: use the sk_… (or restricted rk_…) key from "
                    "the Stripe dashboard"
                ),
                variable="STRIPE_API_KEY",
            ),
        )
    if not secret.startswith("whsec_"):
        raise PaymentsError(
            "bad_config",
            phrase(
                N_(
                    "{variable} does not look like a webhook signing secret: use the whsec_… secret of your webhook "
                    "endpoint"
                ),
                variable="STRIPE_WEBHOOK_SECRET",
            ),
        )
    public = one.public_base_url.rstrip("/") or "http://localhost:8080"
    success_url = _url("STRIPE_SUCCESS_URL", one.stripe_success_url or public + SUCCESS_PATH)
    cancel_url = _url("STRIPE_CANCEL_URL", one.stripe_cancel_url or public + CANCEL_PATH)
    api_base = (one.stripe_api_base or "").rstrip("/") or None
    if api_base is not None:
        _url("STRIPE_API_BASE", api_base)
    return StripeSettings(
        api_key=api_key,
        webhook_secret=secret,
        success_url=success_url,
        cancel_url=cancel_url,
        packs=load_packs({"VANIKEYS_PACKS": one.packs, "VANIKEYS_CURRENCY": one.currency}),
        webhook_host=one.webhook_host,
        webhook_port=one.webhook_port,
        api_base=api_base,
    )


def _url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PaymentsError(
            "bad_config",
            phrase(
                N_(
                    "{setting} is not an http(s) URL: set a full address such as https://example.com/path (for the "
                    "success and cancel pages, {variable} alone is enough)"
                ),
                setting=f"{name}={url!r}",
                variable="VANIKEYS_PUBLIC_URL",
            ),
        )
    return url
