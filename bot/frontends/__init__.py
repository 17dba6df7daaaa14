"""The FrontEnd protocol: what the service needs from Discord, Telegram and the console.

A front end translates its platform's events into `Service` calls and renders
the answers (bot/answers.py). The service calls back through this protocol
for what happens later or privately: key deliveries, order progress, notices.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.answers import KeyDelivery, OrderView, UserRef


@runtime_checkable
class FrontEnd(Protocol):
    platform: str  # "discord" | "telegram" | "console"; matches UserRef.platform

    async def deliver_private(self, user: UserRef, delivery: KeyDelivery) -> bool:
        """Send the secrets to the user privately. False (never raise) when that is impossible
        (DMs closed, chat never started); the key then stays in the vault for /keys."""

    async def order_progress(self, order: OrderView) -> None:
        """Show an order's progress, editing in place at order.origin where the platform allows."""

    async def order_finished(self, order: OrderView) -> None:
        """An order found its key (and was delivered or not) or failed and was refunded."""

    async def notify(self, user: UserRef, text: str) -> None:
        """A one-line private notice: a payment credited, a refund, a clawback."""
