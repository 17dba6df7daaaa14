"""StripeSettings from the environment (a .env file honoured, real variables win).

Stripe is configured when STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET are both set;
`StripeSettings.from_env()` returns None when neither is, and raises
PaymentsError("bad_config") naming the variable when only one is or a value is unusable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from payments.errors import PaymentsError
from payments.packs import PackCatalog, load_packs

WEBHOOK_TOLERANCE_S = 300  # Stripe's own default: a signed event older than this is refused
WEBHOOK_PATH = "/stripe/webhook"
SUCCESS_PATH = "/checkout/success"
CANCEL_PATH = "/checkout/cancel"


@dataclass(frozen=True)
class StripeSettings:
    api_key: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    success_url: str
    cancel_url: str
    packs: PackCatalog
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8080            # 0: any free port (tests)
    api_base: str | None = None         # None: Stripe's own; tests point it at a loopback fake
    max_network_retries: int = 2

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *,
                 dotenv_path: str | Path | None = ".env") -> StripeSettings | None:
        values: dict[str, str] = {}
        if dotenv_path is not None and Path(dotenv_path).is_file():
            values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        return settings_from(values)


def settings_from(values: Mapping[str, str]) -> StripeSettings | None:
    api_key = values.get("STRIPE_API_KEY", "").strip()
    secret = values.get("STRIPE_WEBHOOK_SECRET", "").strip()
    if not api_key and not secret:
        return None
    if not api_key or not secret:
        missing = "STRIPE_API_KEY" if not api_key else "STRIPE_WEBHOOK_SECRET"
        raise PaymentsError("bad_config", f"{missing} is not set: set both STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET, "
                                          "or neither to run without payments")
    if not api_key.startswith(("sk_", "rk_")):
        raise PaymentsError("bad_config", "STRIPE_API_KEY does not look like a Stripe secret key: "
                                          "use the sk_… (or restricted rk_…) key from the Stripe dashboard")
    if not secret.startswith("whsec_"):
        raise PaymentsError("bad_config", "STRIPE_WEBHOOK_SECRET does not look like a webhook signing secret: "
                                          "use the whsec_… secret of your webhook endpoint")
    public = values.get("VANIKEYS_PUBLIC_URL", "").strip().rstrip("/") or "http://localhost:8080"
    success_url = _url(values, "STRIPE_SUCCESS_URL", public + SUCCESS_PATH)
    cancel_url = _url(values, "STRIPE_CANCEL_URL", public + CANCEL_PATH)
    api_base = values.get("STRIPE_API_BASE", "").strip().rstrip("/") or None
    if api_base is not None:
        _url(values, "STRIPE_API_BASE", api_base)
    port_text = values.get("VANIKEYS_WEBHOOK_PORT", "").strip() or "8080"
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise PaymentsError("bad_config", f"VANIKEYS_WEBHOOK_PORT={port_text!r} is not a port: set a number from 1 to 65535")
    return StripeSettings(
        api_key=api_key,
        webhook_secret=secret,
        success_url=success_url,
        cancel_url=cancel_url,
        packs=load_packs(values),
        webhook_host=values.get("VANIKEYS_WEBHOOK_HOST", "").strip() or "127.0.0.1",
        webhook_port=int(port_text),
        api_base=api_base,
    )


def _url(values: Mapping[str, str], name: str, default: str) -> str:
    url = values.get(name, "").strip() or default
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PaymentsError("bad_config", f"{name}={url!r} is not an http(s) URL: set a full address such as "
                                          "https://example.com/path (for the success and cancel pages, "
                                          "VANIKEYS_PUBLIC_URL alone is enough)")
    return url
