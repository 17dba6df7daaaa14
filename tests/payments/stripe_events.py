"""Stripe webhook events as Stripe sends them: a JSON event signed with `t=<ts>,v1=<HMAC-SHA256>`."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any


def sign(payload: str, secret: str, *, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event_json(event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> str:
    return json.dumps(
        {
            "id": event_id or f"evt_test_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
            "data": {"object": obj},
        }
    )


def completed_session(
    session_id: str,
    metadata: dict[str, str],
    amount: int,
    *,
    payment_status: str = "paid",
    payment_intent: str | None = None,
) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": payment_status,
        "amount_total": amount,
        "currency": "usd",
        "client_reference_id": f"{metadata.get('platform')}-{metadata.get('user_id')}",
        "metadata": metadata,
        "payment_intent": payment_intent or f"pi_test_{secrets.token_hex(8)}",
    }


def dispute(
    charge: dict[str, Any], amount: int, *, status: str = "needs_response", with_intent: bool = True
) -> dict[str, Any]:
    obj = {
        "id": f"dp_test_{secrets.token_hex(12)}",
        "object": "dispute",
        "amount": amount,
        "currency": charge["currency"],
        "charge": charge["id"],
        "status": status,
        "reason": "fraudulent",
    }
    if with_intent:
        obj["payment_intent"] = charge["payment_intent"]
    return obj
