"""Stripe Checkout Sessions for token packs: one hosted payment page per /topup.

The buyer's platform, user id, pack and token count ride on the session and on
its payment intent (metadata), so the webhook can credit the session and claw
back refunds and disputes of its charge without a database lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gpu_worker.i18n import PSEUDO, _, current
from payments.config import StripeSettings
from payments.errors import PaymentsError
from payments.packs import Pack, PackCatalog
from payments.stripe_api import StripeApi

# Stripe accepts only letters, digits, dashes and underscores in client_reference_id.
_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
# Our locales as Stripe Checkout's `locale` parameter names them (its list: the stripe library's
# SessionCreateParams.locale); the pseudo-locale's page is English.
STRIPE_LOCALES = {"en": "en", "es": "es", "pt_BR": "pt-BR", "ru": "ru", PSEUDO: "en"}


def in_language(url: str) -> str:
    """`url` with the buyer's language (`lang=`): the page Stripe sends them back to speaks it."""
    return f"{url}{'&' if '?' in url else '?'}lang={current()}"


def stripe_locale(locale: str) -> str:
    """The Checkout page's language for one of our locales; "auto" (the browser's) for any other."""
    return STRIPE_LOCALES.get(locale, "auto")


@dataclass(frozen=True)
class CheckoutLink:
    """A Checkout Session made for one buyer and pack: its hosted page, its id and the pack."""

    url: str  # Stripe's hosted page; for this buyer only
    session_id: str  # cs_…
    pack: Pack


@dataclass(frozen=True)
class Buyer:
    """Who pays, as recorded in Stripe metadata and read back by the webhook."""

    platform: str
    user_id: str

    @property
    def reference(self) -> str:
        """The buyer as Stripe's client_reference_id: "platform-user_id"."""
        return f"{self.platform}-{self.user_id}"


def purchase_metadata(buyer: Buyer, pack: Pack) -> dict[str, str]:
    """The metadata a session carries so the webhook can credit the right account with the right pack, and tell the
    buyer in the language they bought in (the current locale)."""
    return {
        "platform": buyer.platform,
        "user_id": buyer.user_id,
        "pack_id": pack.pack_id,
        "tokens": str(pack.tokens),
        "locale": current(),
    }


class CheckoutClient:
    """Makes Stripe Checkout Sessions for the packs on sale (the webhook credits them once paid)."""

    def __init__(self, settings: StripeSettings, api: StripeApi | None = None) -> None:
        self.settings = settings
        self._api = api or StripeApi(settings)

    @property
    def packs(self) -> PackCatalog:
        """The packs on sale."""
        return self.settings.packs

    async def create_checkout(self, platform: str, user_id: str, pack_id: str) -> CheckoutLink:
        """A fresh Checkout Session for one pack. PaymentsError: bad_pack, bad_user, stripe_unavailable."""
        pack = self.packs.get(pack_id)
        buyer = _buyer(platform, user_id)
        session = await self._api.create_checkout_session(self.session_params(buyer, pack))
        url, session_id = session.get("url"), session.get("id")
        if not isinstance(url, str) or not isinstance(session_id, str):
            raise PaymentsError(
                "stripe_unavailable", _("Stripe did not return a payment page: please try again in a minute")
            )
        return CheckoutLink(url=url, session_id=session_id, pack=pack)

    def session_params(self, buyer: Buyer, pack: Pack) -> dict[str, Any]:
        """The Checkout Session parameters for `buyer` and `pack`: one line item at the pack's price, with our
        metadata; the page, the pack's name and its description in the current locale.
        """
        metadata = purchase_metadata(buyer, pack)
        return {
            "mode": "payment",
            "client_reference_id": buyer.reference,
            "locale": stripe_locale(current()),
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": pack.currency,
                        "unit_amount": pack.price_cents,
                        "product_data": {"name": pack.title, "description": pack.description},
                    },
                }
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": in_language(self.settings.success_url),
            "cancel_url": in_language(self.settings.cancel_url),
        }

    async def close(self) -> None:
        """Close the Stripe HTTP client."""
        await self._api.close()


def _buyer(platform: str, user_id: str) -> Buyer:
    if not _ID.fullmatch(platform) or not _ID.fullmatch(user_id):
        raise PaymentsError(
            "bad_user", _("this account cannot be named in a payment: top up from Discord or Telegram instead")
        )
    return Buyer(platform, user_id)
