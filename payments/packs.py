"""Token packs on sale: defaults, overridable with VANIKEYS_PACKS / VANIKEYS_CURRENCY.

VANIKEYS_PACKS="100=0.99,500=3.99,2500=14.99,10000=49.99": tokens=price in the
currency's main unit. A pack's id is its token count ("/topup 500").
Prices are parsed as decimals to the exact cent; no floats touch money.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from gpu_worker.i18n import _, babel_locale, ngettext
from gpu_worker.localized import Localized
from payments.errors import PaymentsError

DEFAULT_PACKS = "100=0.99,500=3.99,2500=14.99,10000=49.99"
DEFAULT_CURRENCY = "usd"
STRIPE_MINIMUM_CENTS = 50  # Stripe refuses smaller charges in the main two-decimal currencies
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}
# Stripe's zero- and three-decimal currencies: prices here are always in cents, so refuse them.
_NOT_TWO_DECIMAL = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
    "bhd",
    "jod",
    "kwd",
    "omr",
    "tnd",
    "isk",
    "huf",
    "twd",
}


@dataclass(frozen=True)
class Pack:
    """One token pack on sale: the tokens it gives and its price in the smallest currency unit."""

    pack_id: str  # the token count as digits: "500"
    tokens: int
    price_cents: int  # in the smallest unit of `currency`
    currency: str  # ISO code, lower case: "usd"

    @property
    def price(self) -> str:
        """The price as people read it ("$4.99", or "4.99 CHF" for a currency without a symbol here)."""
        return format_money(self.price_cents, self.currency)

    @property
    def title(self) -> str:
        """The pack's name on Stripe's Checkout page and a Stars invoice, in the current locale (at most 32
        characters in every shipped locale for any pack up to 10^9 tokens: Telegram's limit for a title)."""
        return ngettext("{n} VaniKeys token", "{n} VaniKeys tokens", self.tokens)

    @property
    def description(self) -> str:
        """What the pack is for, one line under its name, in the current locale."""
        return _("Tokens for pulls and orders, credited as soon as the payment clears.")


def format_money(cents: int, currency: str) -> str:
    """`cents` in `currency` as the current locale writes money: "$4.99", "4,99 US$", "US$ 4,99"."""
    from babel.numbers import format_currency

    if babel_locale() == "en":  # the English form needs no CLDR data, and names a currency without a symbol after it
        amount = f"{cents // 100:,}.{cents % 100:02d}"
        symbol = _SYMBOLS.get(currency)
        return f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"
    return format_currency(Decimal(cents) / 100, currency.upper(), locale=babel_locale())


@dataclass(frozen=True)
class PackCatalog:
    """The packs on sale, smallest first; pack ids are unique."""

    packs: tuple[Pack, ...]

    def get(self, pack_id: str) -> Pack:
        """The pack named by its token count ("500", "2,500", "2500 tokens"); PaymentsError("bad_pack") otherwise."""
        wanted = re.sub(r"[\s,_]|tokens?$", "", pack_id.strip().lower())
        for pack in self.packs:
            if pack.pack_id == wanted:
                return pack
        raise PaymentsError(
            "bad_pack",
            _("there is no pack {pack}: choose one of {packs}", pack=repr(pack_id.strip()[:20]), packs=self.describe()),
        )

    def describe(self) -> str:
        """The packs as one line: "500 ($4.99), 1200 ($9.99), ..."."""
        return ", ".join(f"{p.pack_id} ({p.price})" for p in self.packs)


def load_packs(environ: Mapping[str, str]) -> PackCatalog:
    """The catalogue from VANIKEYS_PACKS and VANIKEYS_CURRENCY in `environ` (defaults when unset).

    PaymentsError("bad_config") for an unsupported currency, a malformed pack or a pack id given twice.
    """
    currency = environ.get("VANIKEYS_CURRENCY", "").strip().lower() or DEFAULT_CURRENCY
    if not re.fullmatch(r"[a-z]{3}", currency) or currency in _NOT_TWO_DECIMAL:
        raise PaymentsError(
            "bad_config",
            Localized(
                lambda: _(
                    "{setting} is not supported: set a three-letter code with cents, such as usd, eur or gbp",
                    setting=f"VANIKEYS_CURRENCY={currency!r}",
                )
            ),
        )
    spec = environ.get("VANIKEYS_PACKS", "").strip() or DEFAULT_PACKS
    packs = sorted((_parse_pack(item, currency) for item in spec.split(",")), key=lambda p: p.tokens)
    if len({p.pack_id for p in packs}) != len(packs):
        raise PaymentsError(
            "bad_config",
            Localized(
                lambda: _(
                    "{variable} lists the same token count twice: give each pack its own count",
                    variable="VANIKEYS_PACKS",
                )
            ),
        )
    return PackCatalog(tuple(packs))


def _parse_pack(item: str, currency: str) -> Pack:
    tokens_text, sep, price_text = item.partition("=")
    entry, price_shown = repr(item.strip()), repr(price_text.strip())

    def fix() -> str:
        return _("write packs as tokens=price, e.g. {example}", example='VANIKEYS_PACKS="100=0.99,500=3.99"')

    if not sep or not tokens_text.strip().isdigit():
        raise PaymentsError(
            "bad_config",
            Localized(
                lambda: _(
                    "{variable} entry {entry} is not tokens=price: {fix}",
                    variable="VANIKEYS_PACKS",
                    entry=entry,
                    fix=fix(),
                )
            ),
        )
    tokens = int(tokens_text.strip())
    try:
        price = Decimal(price_text.strip())
    except InvalidOperation:
        raise PaymentsError(
            "bad_config",
            Localized(
                lambda: _(
                    "{variable} price {price} is not a number: {fix}",
                    variable="VANIKEYS_PACKS",
                    price=price_shown,
                    fix=fix(),
                )
            ),
        ) from None
    cents = price * 100
    if not price.is_finite() or cents != cents.to_integral_value():
        raise PaymentsError(
            "bad_config",
            Localized(
                lambda: _(
                    "{variable} price {price} is not a whole number of cents: {fix}",
                    variable="VANIKEYS_PACKS",
                    price=price_shown,
                    fix=fix(),
                )
            ),
        )
    if tokens <= 0 or cents < STRIPE_MINIMUM_CENTS:
        raise PaymentsError(
            "bad_config",
            Localized(
                lambda: _(
                    "{variable} entry {entry} needs at least 1 token and a price of at least {minimum} "
                    "(Stripe's minimum)",
                    variable="VANIKEYS_PACKS",
                    entry=entry,
                    minimum=format_money(STRIPE_MINIMUM_CENTS, currency),
                )
            ),
        )
    return Pack(pack_id=str(tokens), tokens=tokens, price_cents=int(cents), currency=currency)
