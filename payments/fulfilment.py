"""Stripe events to ledger instructions: what each paid, refunded or disputed payment means in tokens.

Idempotency keys come from Stripe object ids, so every retry and every
duplicate event of one payment collapses onto one ledger row:
  stripe:checkout:<session id>   completed (paid) and async_payment_succeeded
  stripe:refund:<refund id>      one per refund of the charge
  stripe:refund-reversed:<refund id>  that refund failed or was cancelled: its clawback undone
  stripe:dispute:<dispute id>    a dispute (or inquiry) opened; also applied by its `closed` event,
                                 which Stripe may deliver first
  stripe:dispute-closed:<dispute id>  that clawback undone when it closes in our favour
Clawbacks are proportional to the money taken back, in whole tokens, rounding
in the buyer's favour; refunds are counted cumulatively so that partial
refunds adding up to the whole payment take back exactly what was credited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gpu_worker.i18n import _, ngettext, use_locale
from payments.errors import PaymentsError
from payments.events import LedgerInstruction
from payments.packs import PackCatalog, format_money
from payments.stripe_api import StripeApi

log = logging.getLogger(__name__)

HANDLED_EVENTS = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "charge.refunded",
    "refund.failed",
    "refund.updated",
    "charge.refund.updated",
    "charge.dispute.created",
    "charge.dispute.closed",
)
_DEAD_REFUND_STATUSES = ("failed", "canceled")
# A dispute we won, or an inquiry that closed without a chargeback: the money stayed with us.
_RETURNED_DISPUTE_STATUSES = ("won", "warning_closed")


class Unhonourable(Exception):
    """A verified event whose metadata or amount cannot be honoured: recorded for the operator, never credited."""

    def __init__(
        self, reason: str, purchase: Purchase | None = None, amount_cents: int = 0, currency: str = ""
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.purchase = purchase
        self.amount_cents = amount_cents
        self.currency = currency


OUR_METADATA = ("platform", "user_id", "pack_id", "tokens")


@dataclass(frozen=True)
class Purchase:
    """What our metadata says a payment bought (set by checkout.py, read back from Stripe)."""

    platform: str
    user_id: str
    pack_id: str
    tokens: int
    locale: str | None = None  # the language the buyer bought in: what they are told about this payment is in it

    @classmethod
    def from_metadata(cls, metadata: Any) -> Purchase | None:
        """The purchase our checkout metadata describes, or None for metadata we did not write (wrong
        types, no tokens).
        """
        if not isinstance(metadata, dict):
            return None
        platform, user_id = metadata.get("platform"), metadata.get("user_id")
        pack_id, tokens = metadata.get("pack_id"), metadata.get("tokens")
        if not (
            isinstance(platform, str)
            and platform
            and isinstance(user_id, str)
            and user_id
            and isinstance(pack_id, str)
            and isinstance(tokens, str)
            and tokens.isascii()
            and tokens.isdigit()
            and int(tokens) > 0
        ):  # isdigit() alone accepts "²", which int() refuses
            return None
        locale = metadata.get("locale")
        return cls(platform, user_id, pack_id, int(tokens), locale if isinstance(locale, str) else None)


def tokens_for(money: int, paid: int, tokens: int) -> int:
    """Whole tokens that `money` of a `paid` payment bought, rounded down, never more than `tokens`."""
    if paid <= 0:
        return 0
    return tokens * max(0, min(money, paid)) // paid


class Fulfilment:
    """Turns verified Stripe events into ledger instructions: purchases, refunds and disputes, each idempotent."""

    def __init__(self, api: StripeApi, packs: PackCatalog | None = None) -> None:
        """packs: what is on sale; a checkout is credited only when it names one of them and paid its price."""
        self._api = api
        self._packs = packs

    async def instructions(self, event_type: str, obj: dict[str, Any]) -> list[LedgerInstruction]:
        """The instructions one verified event asks for (none for events that change nothing)."""
        if event_type == "checkout.session.completed" and obj.get("payment_status") == "paid":
            return self._purchase(obj)
        if event_type == "checkout.session.async_payment_succeeded":
            return self._purchase(obj)
        if event_type == "charge.refunded":
            return await self._refunds(obj)
        if (
            event_type in ("refund.failed", "refund.updated", "charge.refund.updated")
            and obj.get("status") in _DEAD_REFUND_STATUSES
        ):
            return await self._refund_reversed(obj)
        if event_type == "charge.dispute.created":
            return await self._dispute(obj, closed=False)
        if event_type == "charge.dispute.closed":
            return await self._dispute(obj, closed=True)
        return []

    def _purchase(self, session: dict[str, Any]) -> list[LedgerInstruction]:
        metadata = session.get("metadata")
        purchase = Purchase.from_metadata(metadata)
        paid, currency = int(session.get("amount_total") or 0), str(session.get("currency") or "")
        if session.get("mode") != "payment" or purchase is None:
            if (
                session.get("mode") == "payment"
                and isinstance(metadata, dict)
                and any(name in metadata for name in OUR_METADATA)
            ):
                raise Unhonourable(
                    f"checkout {session.get('id')} carries VaniKeys metadata that cannot be honoured "
                    f"({_shown(metadata)})",
                    amount_cents=paid,
                    currency=currency,
                )
            log.warning("checkout session %s is not a VaniKeys pack purchase; ignored", session.get("id"))
            return []
        self._check_against_pack(session, purchase, paid, currency)
        with use_locale(purchase.locale):
            notice = ngettext(
                "Payment received ({money}): {n} token added to your balance. Thank you!",
                "Payment received ({money}): {n} tokens added to your balance. Thank you!",
                purchase.tokens,
                money=format_money(paid, currency),
            )
        return [
            LedgerInstruction(
                platform=purchase.platform,
                user_id=purchase.user_id,
                tokens=purchase.tokens,
                idempotency_key=f"stripe:checkout:{session['id']}",
                reason="purchase",
                notice=notice,
                stripe_id=session["id"],
                pack_id=purchase.pack_id,
                amount_cents=paid,
                currency=currency,
                locale=purchase.locale,
            )
        ]

    def _check_against_pack(self, session: dict[str, Any], purchase: Purchase, paid: int, currency: str) -> None:
        """Defence in depth behind the signature: credit only a pack on sale, for its tokens, at its price."""
        if self._packs is None:
            return
        where = f"checkout {session.get('id')}"
        try:
            pack = self._packs.get(purchase.pack_id)
        except PaymentsError:
            raise Unhonourable(
                f"{where} names pack {purchase.pack_id!r}, which is not on sale", purchase, paid, currency
            ) from None
        if purchase.tokens != pack.tokens:
            raise Unhonourable(
                f"{where} asks for {purchase.tokens:,} tokens but pack {pack.pack_id} holds {pack.tokens:,}",
                purchase,
                paid,
                currency,
            )
        if paid != pack.price_cents or currency != pack.currency:
            raise Unhonourable(
                f"{where} paid {format_money(paid, currency or '?')} but pack {pack.pack_id} costs {pack.price}",
                purchase,
                paid,
                currency,
            )

    async def _purchase_of(self, payment_intent_id: Any) -> tuple[Purchase, dict[str, Any]] | None:
        if not isinstance(payment_intent_id, str):
            return None
        intent = await self._api.payment_intent(payment_intent_id)
        purchase = Purchase.from_metadata(intent.get("metadata"))
        if purchase is None:
            log.warning("payment intent %s is not a VaniKeys pack purchase; ignored", payment_intent_id)
            return None
        return purchase, intent

    async def _refunds(self, charge: dict[str, Any]) -> list[LedgerInstruction]:
        found = await self._purchase_of(charge.get("payment_intent"))
        if found is None:
            return []
        purchase, _intent = found
        paid, currency = int(charge["amount"]), str(charge.get("currency") or "usd")
        instructions: list[LedgerInstruction] = []
        refunded = taken = 0
        for refund in await self._api.refunds_of(charge["id"]):
            if refund.get("status") in _DEAD_REFUND_STATUSES:
                continue
            refunded += int(refund["amount"])
            take = tokens_for(refunded, paid, purchase.tokens) - taken
            taken += take
            if take:
                with use_locale(purchase.locale):
                    notice = ngettext(
                        "Your payment was refunded ({money}): {n} token taken back.",
                        "Your payment was refunded ({money}): {n} tokens taken back.",
                        take,
                        money=format_money(int(refund["amount"]), currency),
                    )
                instructions.append(
                    LedgerInstruction(
                        platform=purchase.platform,
                        user_id=purchase.user_id,
                        tokens=-take,
                        idempotency_key=f"stripe:refund:{refund['id']}",
                        reason="refund",
                        notice=notice,
                        stripe_id=refund["id"],
                        pack_id=purchase.pack_id,
                        amount_cents=int(refund["amount"]),
                        currency=currency,
                        locale=purchase.locale,
                    )
                )
        return instructions

    async def _refund_reversed(self, refund: dict[str, Any]) -> list[LedgerInstruction]:
        """A refund that failed or was cancelled gave the buyer nothing back: undo its clawback exactly.

        charge.refunded reads refunds' live statuses, so a refund already dead when it is
        processed was never clawed back, and the bot then has nothing to undo.
        """
        if not isinstance(refund.get("charge"), str):
            return []
        charge = await self._api.charge(refund["charge"])
        found = await self._purchase_of(charge.get("payment_intent"))
        if found is None:
            return []
        purchase, _intent = found
        amount, currency = int(refund["amount"]), str(refund.get("currency") or "usd")
        with use_locale(purchase.locale):
            notice = _(
                "The refund of {money} did not go through ({status}), so the tokens it took back are yours again.",
                money=format_money(amount, currency),
                status=refund["status"],
            )
        return [
            LedgerInstruction(
                platform=purchase.platform,
                user_id=purchase.user_id,
                tokens=0,
                reverses=f"stripe:refund:{refund['id']}",
                idempotency_key=f"stripe:refund-reversed:{refund['id']}",
                reason="refund_reversed",
                notice=notice,
                stripe_id=refund["id"],
                pack_id=purchase.pack_id,
                amount_cents=amount,
                currency=currency,
                locale=purchase.locale,
            )
        ]

    async def _dispute(self, dispute: dict[str, Any], *, closed: bool) -> list[LedgerInstruction]:
        """A dispute's clawback; when it closed in the buyer's favour, that clawback undone.

        Stripe may deliver `closed` before `created`: a closed dispute was opened, so its
        clawback (the same key as `created`'s) is applied first and the return reverses
        exactly what it took. Crediting the return on its own would give the buyer the
        disputed tokens twice until `created` arrived.
        """
        charge = await self._api.charge(dispute["charge"])
        found = await self._purchase_of(charge.get("payment_intent"))
        if found is None:
            return []
        purchase, _intent = found
        paid, refunded = int(charge["amount"]), int(charge.get("amount_refunded") or 0)
        # A refunded part was already clawed back by its refund: a dispute only reaches the rest.
        amount, currency = int(dispute["amount"]), str(dispute.get("currency") or "usd")
        tokens = tokens_for(refunded + amount, paid, purchase.tokens) - tokens_for(refunded, paid, purchase.tokens)
        with use_locale(purchase.locale):
            money = format_money(amount, currency)
            disputed = ngettext(
                "Your payment ({money}) is disputed with your bank: {n} token taken back.",
                "Your payment ({money}) is disputed with your bank: {n} tokens taken back.",
                tokens,
                money=money,
            )
            returned = _(
                "The dispute over your payment ({money}) was closed in your favour: the tokens it took back are "
                "yours again.",
                money=money,
            )
        instructions = (
            []
            if not tokens
            else [
                LedgerInstruction(
                    platform=purchase.platform,
                    user_id=purchase.user_id,
                    tokens=-tokens,
                    idempotency_key=f"stripe:dispute:{dispute['id']}",
                    reason="dispute",
                    notice=disputed,
                    stripe_id=dispute["id"],
                    pack_id=purchase.pack_id,
                    amount_cents=amount,
                    currency=currency,
                    locale=purchase.locale,
                )
            ]
        )
        if closed and dispute.get("status") in _RETURNED_DISPUTE_STATUSES:
            # Reverses whatever the clawback took, even one applied when less of the charge was refunded.
            instructions.append(
                LedgerInstruction(
                    platform=purchase.platform,
                    user_id=purchase.user_id,
                    tokens=0,
                    reverses=f"stripe:dispute:{dispute['id']}",
                    idempotency_key=f"stripe:dispute-closed:{dispute['id']}",
                    reason="dispute_closed",
                    notice=returned,
                    stripe_id=dispute["id"],
                    pack_id=purchase.pack_id,
                    amount_cents=amount,
                    currency=currency,
                    locale=purchase.locale,
                )
            )
        return instructions


def _shown(metadata: dict[str, Any]) -> str:
    """Our metadata fields, shortened, for an operator's record."""
    return ", ".join(f"{name}={str(metadata.get(name))[:40]!r}" for name in OUR_METADATA if name in metadata)
