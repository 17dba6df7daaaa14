"""The container healthcheck: `python -m payments.healthcheck`, exit 0 when healthy.

With Stripe configured the bot serves /healthz next to the webhook, and a bot
that cannot answer it cannot take payments: that is unhealthy. Without Stripe
there is no HTTP server, and the container's own liveness is all there is to check.
"""

from __future__ import annotations

import json
import sys
import urllib.request

from payments.config import StripeSettings
from payments.errors import PaymentsError


def main() -> int:
    """The payments container's health check: 0 when the webhook answers {"ok": true} (or payments are off), else 1."""
    try:
        settings = StripeSettings.from_env()
    except PaymentsError as err:
        print(f"unhealthy: {err}")
        return 1
    if settings is None:
        print("healthy: payments not configured, no webhook to check")
        return 0
    host = "127.0.0.1" if settings.webhook_host in ("0.0.0.0", "::", "") else settings.webhook_host
    url = f"http://{host}:{settings.webhook_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            ok = response.status == 200 and json.loads(response.read()) == {"ok": True}
    except (OSError, ValueError) as err:
        print(f"unhealthy: {url}: {err}")
        return 1
    print(f"{'healthy' if ok else 'unhealthy'}: {url}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
