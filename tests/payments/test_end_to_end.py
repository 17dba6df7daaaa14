"""Stripe to balance through the real bot: bot.app.create_app on a real SQLite file, the real webhook
server, the real stripe library against the loopback fake; refunds after spending leave debt and freeze."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from bot.answers import KeyDelivery, OrderView, ServiceError, UserRef
from bot.app import App, create_app
from bot.config import Settings
from payments.checkout import CheckoutClient
from payments.webhook import RunningWebhook, webhook_server
from tests.payments.fake_stripe import FakeStripe
from tests.payments.helpers import post_event, settings_for
from tests.payments.stripe_events import completed_session, dispute, event_json

BUYER = UserRef("discord", "555000111", "buyer")


@dataclass
class RecordingFrontEnd:
    platform: str = "discord"
    notices: list[tuple[UserRef, str]] = field(default_factory=list)
    deliveries: int = 0

    async def deliver_private(self, user: UserRef, delivery: KeyDelivery) -> bool:
        self.deliveries += 1
        return True

    async def order_progress(self, order: OrderView) -> None:
        pass

    async def order_finished(self, order: OrderView) -> None:
        pass

    async def notify(self, user: UserRef, text: str) -> None:
        self.notices.append((user, text))


@dataclass
class Stack:
    app: App
    hook: RunningWebhook
    fake: FakeStripe
    frontend: RecordingFrontEnd
    http: aiohttp.ClientSession

    async def check_out(self, pack: str) -> tuple[str, str]:
        """/topup through the service and the buyer paying; returns (Stripe's completed event, charge id)."""
        answer = await self.app.service.topup(BUYER, pack)
        assert answer.configured and answer.url and answer.pack is not None
        form = self.fake.created_sessions[-1]
        metadata = {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}
        price = int(form["line_items[0][price_data][unit_amount]"])
        intent, charge = self.fake.add_payment(metadata, price)
        session_id = answer.url.rsplit("/", 1)[1]
        session = completed_session(session_id, metadata, price, payment_intent=intent)
        return event_json("checkout.session.completed", session), charge

    async def buy(self, pack: str) -> str:
        """check_out, then Stripe delivering the completed event once; returns the charge id."""
        event, charge = await self.check_out(pack)
        status, _ = await post_event(self.http, self.hook.url, event)
        assert status == 200
        return charge

    async def account(self) -> tuple[int, int]:
        account = await self.app.ledger.account(BUYER)
        return account.balance, account.debt


@pytest.fixture
async def stack(tmp_path: Path, fake_stripe: FakeStripe, http: aiohttp.ClientSession) -> AsyncIterator[Stack]:
    settings = Settings(
        db_path=tmp_path / "vanikeys.db",
        vault_key_file=tmp_path / "vault.key",
        backend="python",
        pull_budget_cpu=60,
        free_pulls_per_day=0,
        pull_price=10,
    )
    stripe_settings = settings_for(fake_stripe)
    async with create_app(settings, checkout=CheckoutClient(stripe_settings), resume_jobs=False) as app:
        frontend = RecordingFrontEnd()
        app.service.register_frontend(frontend)
        async with webhook_server(stripe_settings, app.service.apply_instruction) as hook:
            yield Stack(app, hook, fake_stripe, frontend, http)
        await app.service.checkout.close()  # type: ignore[union-attr]


async def test_purchase_replayed_100_times_concurrently_credits_once(stack: Stack) -> None:
    payload, _ = await stack.check_out("500")
    answers = await asyncio.gather(*(post_event(stack.http, stack.hook.url, payload) for _ in range(100)))
    assert {status for status, _ in answers} == {200}
    assert sum(body["applied"] for _, body in answers) == 1
    assert await stack.account() == (500, 0)
    assert [text for _, text in stack.frontend.notices] == [
        "Payment received ($3.99): 500 tokens added to your balance. Thank you!"
    ]
    assert await stack.app.ledger.audit() == []


async def test_refund_after_spending_records_debt_freezes_and_a_top_up_settles(stack: Stack) -> None:
    charge = await stack.buy("100")
    await stack.app.service.pull(BUYER, None, "ab", allow_easy=True)  # a real pull: 10 tokens
    assert await stack.account() == (90, 0)
    stack.fake.add_refund(charge, 99)
    refunded = event_json("charge.refunded", stack.fake.charges[charge])
    await asyncio.gather(*(post_event(stack.http, stack.hook.url, refunded) for _ in range(10)))
    assert await stack.account() == (0, 10)

    balance = await stack.app.service.balance(BUYER)
    assert (balance.tokens, balance.debt, balance.frozen) == (0, 10, True)
    with pytest.raises(ServiceError) as frozen:
        await stack.app.service.pull(BUYER, None, "ab", allow_easy=True)
    assert frozen.value.code == "account_frozen"
    refund_notices = [text for _, text in stack.frontend.notices if text.startswith("Your payment was refunded")]
    assert len(refund_notices) == 1  # ten deliveries of the event, one notice
    assert refund_notices[0].startswith("Your payment was refunded ($0.99): 100 tokens taken back.")

    await stack.buy("100")
    assert await stack.account() == (90, 0)
    await stack.app.service.pull(BUYER, None, "ab", allow_easy=True)
    assert await stack.account() == (80, 0)
    assert await stack.app.ledger.audit() == []


async def test_a_failed_refund_gives_back_exactly_what_it_took_through_the_real_ledger(stack: Stack) -> None:
    charge = await stack.buy("100")
    await stack.app.service.pull(BUYER, None, "ab", allow_easy=True)  # 10 tokens spent
    refund = stack.fake.add_refund(charge, 99)
    await post_event(stack.http, stack.hook.url, event_json("charge.refunded", stack.fake.charges[charge]))
    assert await stack.account() == (0, 10)  # 90 from the balance, 10 owed
    failed = event_json("refund.failed", stack.fake.fail_refund(refund))
    answers = await asyncio.gather(*(post_event(stack.http, stack.hook.url, failed) for _ in range(20)))
    assert sum(body["applied"] for _, body in answers) == 1
    assert await stack.account() == (90, 0)  # as if the refund had never been
    assert (await stack.app.service.balance(BUYER)).frozen is False
    notices = [text for _, text in stack.frontend.notices if "did not go through" in text]
    assert notices == ["The refund of $0.99 did not go through (failed), so the tokens it took back are yours again."]
    assert await stack.app.ledger.audit() == []


async def test_dispute_claws_back_once_through_the_real_ledger(stack: Stack) -> None:
    charge = await stack.buy("500")
    opened = dispute(stack.fake.charges[charge], 399)
    for _ in range(3):
        await post_event(stack.http, stack.hook.url, event_json("charge.dispute.created", opened))
    assert await stack.account() == (0, 0)
    assert stack.frontend.notices[-1][1].startswith("Your payment ($3.99) is disputed with your bank: 500 tokens")
    assert await stack.app.ledger.audit() == []
