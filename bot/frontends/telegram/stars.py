"""Top-ups in Telegram Stars (XTR): invoices, pre-checkout validation, exactly-once credit, refunds.

The invoice payload names the pack, its tokens and price and the buyer, so a
payment can be checked and credited without any state of ours; the credit's
idempotency key is Telegram's charge id, so a successful_payment update that
arrives twice (a restart before the offset was confirmed, a webhook retry)
credits once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from telegram import Bot, LabeledPrice, Message, PreCheckoutQuery, SuccessfulPayment, TransactionPartnerUser
from telegram.error import BadRequest

from bot.frontends.telegram.config import StarsPack, TelegramConfig
from bot.i18n import PEOPLE, _, current, ngettext, use_locale
from payments.events import LedgerInstruction

log = logging.getLogger(__name__)

CURRENCY = "XTR"
TITLE_MAX = 32  # Telegram's sendInvoice: title 1-32 characters, description 1-255
DESCRIPTION_MAX = 255
_PAYLOAD = re.compile(r"stars1:([a-z0-9_]{1,16}):(\d{1,9}):(\d{1,9}):(\d{1,20})")


@dataclass(frozen=True)
class StarsPayload:
    """What an invoice's payload carries: the pack, its tokens and price in Stars, and the buyer's Telegram id."""

    pack_id: str
    tokens: int
    stars: int
    user_id: int

    def encode(self) -> str:
        """The payload string (`stars1:pack:tokens:stars:user`), at most 64 bytes as Telegram requires."""
        return f"stars1:{self.pack_id}:{self.tokens}:{self.stars}:{self.user_id}"

    @classmethod
    def decode(cls, text: str) -> StarsPayload | None:
        """The payload in `text`, or None when it is not one of ours (or malformed)."""
        match = _PAYLOAD.fullmatch(text)
        if not match:
            return None
        return cls(match.group(1), int(match.group(2)), int(match.group(3)), int(match.group(4)))


def credit_key(charge_id: str) -> str:
    """The ledger's idempotency key for crediting this charge: a payment update that arrives twice credits once."""
    return f"telegram-stars:{charge_id}"


def refund_key(charge_id: str) -> str:
    """The ledger's idempotency key for taking this charge's tokens back, distinct from its credit's."""
    return f"telegram-stars-refund:{charge_id}"


async def send_invoice(bot: Bot, chat_id: int, user_id: int, pack: StarsPack) -> Message:
    """Send `pack`'s Stars invoice to `chat_id`, payable by `user_id` alone (pre-checkout refuses anyone else);
    returns the sent message, raises TelegramError when Telegram refuses."""
    payload = StarsPayload(pack.pack_id, pack.tokens, pack.stars, user_id)
    texts = invoice_texts(pack)
    return await bot.send_invoice(
        chat_id=chat_id,
        title=texts.title,
        description=texts.description,
        payload=payload.encode(),
        provider_token="",
        currency=CURRENCY,
        prices=[LabeledPrice(texts.label, pack.stars)],
    )


@dataclass(frozen=True)
class InvoiceTexts:
    """What a Stars invoice says, in the buyer's language: its title, description and price label."""

    title: str  # 1-32 characters (Telegram's limit)
    description: str  # 1-255 characters
    label: str


def invoice_texts(pack: StarsPack) -> InvoiceTexts:
    """An invoice's texts in the current locale (the buyer's), each within Telegram's limits whatever the language."""
    title = ngettext("{n} VaniKeys token", "{n} VaniKeys tokens", pack.tokens)
    description = ngettext(
        "{n} token for pulls and orders, credited as soon as the payment clears.",
        "{n} tokens for pulls and orders, credited as soon as the payment clears.",
        pack.tokens,
    )
    label = ngettext("{n} token", "{n} tokens", pack.tokens)
    return InvoiceTexts(_fit(title, TITLE_MAX), _fit(description, DESCRIPTION_MAX), label)


def _fit(text: str, limit: int) -> str:
    """`text` cut to `limit` characters with an ellipsis (a wordier language's longest pack must still send)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def pre_checkout_problem(query: PreCheckoutQuery, config: TelegramConfig) -> str | None:
    """Why this payment must not go ahead (shown to the payer), or None. No I/O: answered within 10 s."""
    payload = StarsPayload.decode(query.invoice_payload)
    if payload is None:
        return _("This invoice is not one of ours any more; send /topup for a fresh one.")
    if payload.user_id != query.from_user.id:
        return _("This invoice belongs to someone else; send /topup in a private chat with the bot for your own.")
    if query.currency != CURRENCY or query.total_amount != payload.stars:
        return _("The amount does not match the invoice; send /topup for a fresh one.")
    pack = config.stars_pack(payload.pack_id)
    if pack is None or (pack.tokens, pack.stars) != (payload.tokens, payload.stars):
        return _("This pack's price has changed; send /topup for a fresh invoice.")
    return None


def credit_instruction(payment: SuccessfulPayment, payer_id: int) -> LedgerInstruction | None:
    """The ledger credit for a completed Stars payment, or None when it cannot be ours."""
    payload = StarsPayload.decode(payment.invoice_payload)
    if (
        payload is None
        or payload.user_id != payer_id
        or payment.currency != CURRENCY
        or payment.total_amount != payload.stars
    ):
        return None
    return LedgerInstruction(
        platform="telegram",
        user_id=str(payer_id),
        tokens=payload.tokens,
        idempotency_key=credit_key(payment.telegram_payment_charge_id),
        reason="purchase",
        notice=_arrived(payload),
        stripe_id="",
        pack_id=payload.pack_id,
        amount_cents=payload.stars,
        currency="xtr",
        locale=current(),  # the payer's: this runs for their payment update
    )


def _arrived(payload: StarsPayload) -> str:
    stars = ngettext("{n} Star", "{n} Stars", payload.stars)
    return ngettext(
        "⭐ {n} token has arrived (paid with {stars}).",
        "⭐ {n} tokens have arrived (paid with {stars}).",
        payload.tokens,
        stars=stars,
    )


@dataclass(frozen=True)
class StarCharge:
    """A Stars payment found among the bot's transactions: its charge id, its payer and what it bought."""

    charge_id: str
    user_id: int
    payload: StarsPayload


async def find_charge(bot: Bot, charge_id: str, *, pages: int = 50) -> StarCharge | None:
    """Look a payment up in the bot's Star transactions (newest first, 100 a page)."""
    for page in range(pages):
        batch = await bot.get_star_transactions(offset=page * 100, limit=100)
        for tx in batch.transactions:
            source = tx.source
            if tx.id != charge_id or not isinstance(source, TransactionPartnerUser):  # only a user's partner pays
                continue
            payload = StarsPayload.decode(source.invoice_payload or "")
            if payload is None:
                return None
            return StarCharge(charge_id, source.user.id, payload)
        if len(batch.transactions) < 100:
            return None
    return None


def refund_instruction(charge: StarCharge) -> LedgerInstruction:
    """The ledger debit that takes `charge`'s tokens back (debt when already spent), exactly once by its refund key;
    the buyer is told in their own language when the bot has seen it (an operator's refund runs in theirs)."""
    locale = PEOPLE.of("telegram", str(charge.user_id))
    with use_locale(locale):
        stars = ngettext("{n} Star", "{n} Stars", charge.payload.stars)
        notice = ngettext(
            "↩️ Your {stars} were refunded; {n} token was taken back.",
            "↩️ Your {stars} were refunded; {n} tokens were taken back.",
            charge.payload.tokens,
            stars=stars,
        )
    return LedgerInstruction(
        platform="telegram",
        user_id=str(charge.user_id),
        tokens=-charge.payload.tokens,
        idempotency_key=refund_key(charge.charge_id),
        reason="refund",
        notice=notice,
        stripe_id="",
        pack_id=charge.payload.pack_id,
        amount_cents=charge.payload.stars,
        currency="xtr",
        locale=locale,
    )


async def refund_on_telegram(bot: Bot, charge: StarCharge) -> bool:
    """Give the Stars back; True also when Telegram says it was refunded already (a retried refund)."""
    try:
        return await bot.refund_star_payment(user_id=charge.user_id, telegram_payment_charge_id=charge.charge_id)
    except BadRequest as err:
        if "CHARGE_ALREADY_REFUNDED" in err.message.upper():
            return True
        raise
