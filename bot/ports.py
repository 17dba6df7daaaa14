"""The ports the service calls out through, defined below it: what it needs from a front end and from payments.

A front end translates its platform's events into `Service` calls and renders
the answers (bot/answers.py). The service calls back through `FrontEnd` for
what happens later or privately: key deliveries, order progress, notices.
Front ends (bot/frontends) and payments/ implement these; the service and
bot/delivery.py know only the protocols (docs/architecture.md, Layers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.answers import KeyDelivery, OrderView, UserRef

if TYPE_CHECKING:
    from payments.checkout import CheckoutLink
    from payments.packs import PackCatalog


@runtime_checkable
class FrontEnd(Protocol):
    """What the service needs from a front end to reach a person later or privately; never raises to the service."""

    platform: str  # "discord" | "telegram" | "console"; matches UserRef.platform

    async def deliver_private(self, user: UserRef, delivery: KeyDelivery) -> bool | None:
        """Send the secrets to the user privately. False (never raise) when that is impossible
        (DMs closed, chat never started); the key then stays in the vault for /keys. None when this front
        end cannot reach that person at all (the console is one person's screen): nothing was attempted,
        and the key is offered again when their own front end runs."""

    async def order_progress(self, order: OrderView) -> None:
        """Show an order's progress, editing in place at order.origin where the platform allows."""

    async def order_finished(self, order: OrderView) -> None:
        """An order found its key (and was delivered or not) or failed and was refunded."""

    async def notify(self, user: UserRef, text: str) -> None:
        """A one-line private notice: a payment credited, a refund, a clawback."""


class CheckoutProvider(Protocol):
    """What /topup needs from payments/ (payments.checkout.CheckoutClient is one)."""

    @property
    def packs(self) -> PackCatalog:
        """The token packs on sale, with their prices."""

    async def create_checkout(self, platform: str, user_id: str, pack_id: str) -> CheckoutLink:
        """A payment page for `pack_id` that credits `platform`:`user_id` once paid."""
