"""The one way payments talks to Stripe's API: the real stripe library, async, over aiohttp.

`api_base` points it elsewhere (tests: a loopback fake). Every call becomes
PaymentsError("stripe_unavailable") on failure, with Stripe's own message logged
(never shown to buyers: it can name internals).
"""

from __future__ import annotations

import logging
from typing import Any

import stripe

from gpu_worker.i18n import _
from payments.config import StripeSettings
from payments.errors import PaymentsError

log = logging.getLogger(__name__)


class StripeApi:
    """The few Stripe calls the payments code makes, async; Stripe's failures become
    PaymentsError("stripe_unavailable").
    """

    def __init__(self, settings: StripeSettings, *, timeout_s: float = 20) -> None:
        base = {"api": settings.api_base} if settings.api_base else None
        self._http = stripe.AIOHTTPClient(timeout=timeout_s)
        self._client = stripe.StripeClient(
            settings.api_key,
            base_addresses=base,  # type: ignore[arg-type]
            http_client=self._http,
            max_network_retries=settings.max_network_retries,
        )

    async def create_checkout_session(self, params: dict[str, Any]) -> dict[str, Any]:
        """Create a Checkout Session from `params`; the session as a dict."""
        return await self._call("create checkout session", self._client.v1.checkout.sessions.create_async(params))  # type: ignore[arg-type]

    async def payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        """The PaymentIntent with this id, as a dict."""
        return await self._call(
            "retrieve payment intent", self._client.v1.payment_intents.retrieve_async(payment_intent_id)
        )

    async def charge(self, charge_id: str) -> dict[str, Any]:
        """The Charge with this id, as a dict."""
        return await self._call("retrieve charge", self._client.v1.charges.retrieve_async(charge_id))

    async def refunds_of(self, charge_id: str) -> list[dict[str, Any]]:
        """Every refund of a charge, oldest first (Stripe lists newest first)."""
        refunds: list[dict[str, Any]] = []
        params: dict[str, Any] = {"charge": charge_id, "limit": 100}
        while True:
            page = await self._call("list refunds", self._client.v1.refunds.list_async(params))  # type: ignore[arg-type]
            refunds.extend(page["data"])
            if not page.get("has_more") or not page["data"]:
                return list(reversed(refunds))
            params = {**params, "starting_after": page["data"][-1]["id"]}

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._http.close_async()

    async def _call(self, what: str, request: Any) -> dict[str, Any]:
        try:
            result = await request
        except stripe.StripeError as err:
            log.error("Stripe could not %s: %s (%s)", what, type(err).__name__, err.user_message or err)
            raise PaymentsError(
                "stripe_unavailable", _("Stripe did not answer as expected: please try again in a minute")
            ) from err
        answer: dict[str, Any] = result.to_dict(recursive=True)
        return answer
