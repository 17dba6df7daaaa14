"""A loopback fake of the few Stripe API endpoints payments uses, speaking Stripe's wire format.

Form-encoded requests in (`metadata[platform]=…`, `line_items[0][price_data][unit_amount]=…`),
JSON objects out, Bearer-key authentication, Stripe's error envelope on failure.
Tests seed payment intents, charges and refunds, and read back what was posted.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# The Checkout Session `locale` values Stripe takes (the stripe library's SessionCreateParams.locale, v16).
CHECKOUT_LOCALES = frozenset(
    "auto bg cs da de el en en-GB es es-419 et fi fil fr fr-CA hi-IN hr hu id it ja ko lt lv ms mt nb nl pl pt "
    "pt-BR ro ru sk sl sv th tr vi zh zh-HK zh-TW".split()
)


def _id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


@dataclass
class FakeStripe:
    api_key: str
    created_sessions: list[dict[str, str]] = field(default_factory=list)  # posted form fields, flat
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by charge id, oldest first
    requests: list[str] = field(default_factory=list)
    fail_lookups: bool = False
    account: dict[str, Any] = field(
        default_factory=lambda: {
            "id": "acct_test_fake",
            "object": "account",
            "charges_enabled": True,
            "details_submitted": True,
        }
    )
    webhook_endpoints: list[dict[str, Any]] = field(default_factory=list)  # add_webhook_endpoint() seeds them
    url: str = ""
    _runner: web.AppRunner | None = None

    # --- seeding -----------------------------------------------------------

    def add_payment(self, metadata: dict[str, str], amount: int, currency: str = "usd") -> tuple[str, str]:
        """A succeeded payment intent with its charge; returns (payment_intent_id, charge_id)."""
        intent_id, charge_id = _id("pi"), _id("ch")
        self.payment_intents[intent_id] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": currency,
            "status": "succeeded",
            "metadata": dict(metadata),
            "latest_charge": charge_id,
        }
        self.charges[charge_id] = self.charge_object(charge_id, intent_id, amount, currency)
        self.refunds[charge_id] = []
        return intent_id, charge_id

    def charge_object(self, charge_id: str, intent_id: str, amount: int, currency: str) -> dict[str, Any]:
        refunded = sum(
            r["amount"] for r in self.refunds.get(charge_id, []) if r["status"] not in ("failed", "canceled")
        )
        return {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_refunded": refunded,
            "currency": currency,
            "payment_intent": intent_id,
            "paid": True,
            "refunded": refunded >= amount,
            "status": "succeeded",
            "metadata": {},
        }

    def add_refund(self, charge_id: str, amount: int, status: str = "succeeded") -> dict[str, Any]:
        refund = {
            "id": _id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge_id,
            "currency": self.charges[charge_id]["currency"],
            "status": status,
            "created": int(time.time()),
        }
        self.refunds[charge_id].append(refund)
        charge = self.charges[charge_id]
        self.charges[charge_id] = self.charge_object(
            charge_id, charge["payment_intent"], charge["amount"], charge["currency"]
        )
        return refund

    def fail_refund(self, refund: dict[str, Any], status: str = "failed") -> dict[str, Any]:
        """The card network sends a refund back (or it is cancelled): what refund.failed carries."""
        refund["status"] = status
        charge = self.charges[refund["charge"]]
        self.charges[refund["charge"]] = self.charge_object(
            refund["charge"], charge["payment_intent"], charge["amount"], charge["currency"]
        )
        return refund

    def add_webhook_endpoint(self, url: str, events: list[str], status: str = "enabled") -> dict[str, Any]:
        endpoint = {
            "id": _id("we"),
            "object": "webhook_endpoint",
            "url": url,
            "enabled_events": list(events),
            "status": status,
            "api_version": None,
            "livemode": False,
        }
        self.webhook_endpoints.append(endpoint)
        return endpoint

    # --- server ------------------------------------------------------------

    async def start(self) -> FakeStripe:
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/v1/checkout/sessions", self._create_session)
        app.router.add_get("/v1/payment_intents/{id}", self._payment_intent)
        app.router.add_get("/v1/charges/{id}", self._charge)
        app.router.add_get("/v1/refunds", self._list_refunds)
        app.router.add_get("/v1/account", self._account)
        app.router.add_get("/v1/webhook_endpoints", self._list_webhook_endpoints)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path_qs}")
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        if self.fail_lookups and request.method == "GET":
            return _error(500, "api_error", "Something went wrong on Stripe's end")
        return await handler(request)

    async def _create_session(self, request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        self.created_sessions.append(form)
        for required in ("mode", "success_url", "line_items[0][quantity]"):
            if required not in form:
                return _error(400, "invalid_request_error", f"Missing required param: {required}.", param=required)
        if form.get("locale", "auto") not in CHECKOUT_LOCALES:
            return _error(400, "invalid_request_error", f"Invalid locale: {form['locale']}", param="locale")
        session_id = _id("cs")
        metadata = {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}
        return web.json_response(
            {
                "id": session_id,
                "object": "checkout.session",
                "mode": form["mode"],
                "status": "open",
                "payment_status": "unpaid",
                "client_reference_id": form.get("client_reference_id"),
                "metadata": metadata,
                "url": f"https://checkout.stripe.com/c/pay/{session_id}",
                "success_url": form["success_url"],
                "cancel_url": form.get("cancel_url"),
                "amount_total": int(form.get("line_items[0][price_data][unit_amount]", "0")),
                "currency": form.get("line_items[0][price_data][currency]"),
            }
        )

    async def _payment_intent(self, request: web.Request) -> web.Response:
        intent = self.payment_intents.get(request.match_info["id"])
        if intent is None:
            return _error(404, "invalid_request_error", "No such payment_intent", code="resource_missing")
        return web.json_response(intent)

    async def _charge(self, request: web.Request) -> web.Response:
        charge = self.charges.get(request.match_info["id"])
        if charge is None:
            return _error(404, "invalid_request_error", "No such charge", code="resource_missing")
        return web.json_response(charge)

    async def _account(self, request: web.Request) -> web.Response:
        return web.json_response(self.account)

    async def _list_webhook_endpoints(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "10"))
        return web.json_response(
            {
                "object": "list",
                "url": "/v1/webhook_endpoints",
                "data": self.webhook_endpoints[:limit],
                "has_more": len(self.webhook_endpoints) > limit,
            }
        )

    async def _list_refunds(self, request: web.Request) -> web.Response:
        newest_first = list(reversed(self.refunds.get(request.query.get("charge", ""), [])))
        after = request.query.get("starting_after")
        if after:
            ids = [r["id"] for r in newest_first]
            newest_first = newest_first[ids.index(after) + 1 :]
        limit = int(request.query.get("limit", "10"))
        return web.json_response(
            {
                "object": "list",
                "url": "/v1/refunds",
                "data": newest_first[:limit],
                "has_more": len(newest_first) > limit,
            }
        )


def _error(status: int, kind: str, message: str, **extra: str) -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message, **extra}}, status=status)
