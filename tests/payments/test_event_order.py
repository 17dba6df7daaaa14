"""Stripe events of one checkout's life delivered in every order: the balance never exceeds what was paid.

Each life is a run of changes to the payment on Stripe (paid, refunded, a refund failing, a dispute opened and
closed), each sending one event. Stripe may deliver them in any order, but never before they happened: when an
event arrives, Stripe's live objects (what the webhook looks up) are at least as new as that event. So before
each delivery the fake is moved to the newest state any delivered event has seen. Every order runs through the
real webhook server and the real ledger on SQLite and PostgreSQL; after each ledger change the buyer's balance
is read back and must stay within the tokens paid for, and the end must match what Stripe kept.
"""

from __future__ import annotations

import copy
import itertools
import random
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.answers import UserRef
from bot.app import App, create_app
from bot.config import Settings
from payments.events import ApplyOutcome, LedgerInstruction
from payments.webhook import RunningWebhook, webhook_server
from tests.payments.fake_stripe import FakeStripe
from tests.payments.helpers import post_event, settings_for
from tests.payments.stripe_events import completed_session, dispute, event_json
from tests.postgres import require_postgres, shared_server

PACK_TOKENS, PACK_CENTS = 500, 399  # pack "500" at $3.99


@dataclass
class Step:
    event_type: str
    obj: dict[str, Any]
    state: tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]  # intent, charge, refunds after the change


@dataclass
class Life:
    """One payment's history on the fake: the events it sent, in the order they happened."""

    fake: FakeStripe
    user_id: str
    intent: str = ""
    charge: str = ""
    steps: list[Step] = field(default_factory=list)

    def pay(self, *, asynchronous: bool = False) -> Life:
        metadata = {"platform": "test", "user_id": self.user_id, "pack_id": "500", "tokens": str(PACK_TOKENS)}
        self.intent, self.charge = self.fake.add_payment(metadata, PACK_CENTS)
        session = completed_session(f"cs_{self.user_id}", metadata, PACK_CENTS, payment_intent=self.intent)
        if asynchronous:
            self._sent("checkout.session.completed", {**session, "payment_status": "unpaid"})
            return self._sent("checkout.session.async_payment_succeeded", session)
        return self._sent("checkout.session.completed", session)

    def refund(self, amount: int) -> tuple[Life, dict[str, Any]]:
        refund = self.fake.add_refund(self.charge, amount)
        return self._sent("charge.refunded", self.fake.charges[self.charge]), refund

    def refund_fails(self, refund: dict[str, Any], event_type: str = "refund.failed", status: str = "failed") -> Life:
        return self._sent(event_type, self.fake.fail_refund(refund, status))

    def refund_updated(self, refund: dict[str, Any]) -> Life:
        return self._sent("refund.updated", refund)

    def dispute(self, amount: int, *, closed: str | None, inquiry: bool = False) -> Life:
        opened = dispute(
            self.fake.charges[self.charge], amount, status="warning_needs_response" if inquiry else "needs_response"
        )
        self._sent("charge.dispute.created", opened)
        return self if closed is None else self._sent("charge.dispute.closed", {**opened, "status": closed})

    def _sent(self, event_type: str, obj: dict[str, Any]) -> Life:
        fake = self.fake
        state = (fake.payment_intents[self.intent], fake.charges[self.charge], fake.refunds[self.charge])
        self.steps.append(Step(event_type, copy.deepcopy(obj), copy.deepcopy(state)))
        return self

    def restore(self, step: int) -> None:
        intent, charge, refunds = copy.deepcopy(self.steps[step].state)
        self.fake.payment_intents[self.intent], self.fake.charges[self.charge] = intent, charge
        self.fake.refunds[self.charge] = refunds


def _dispute_won(life: Life) -> int:
    life.pay().dispute(PACK_CENTS, closed="won")
    return PACK_TOKENS


def _async_dispute_won(life: Life) -> int:
    life.pay(asynchronous=True).dispute(PACK_CENTS, closed="won")
    return PACK_TOKENS


def _refund_then_dispute_lost(life: Life) -> int:
    life.pay().refund(100)[0].dispute(PACK_CENTS - 100, closed="lost")
    return 0


def _refunds_one_failing(life: Life) -> int:
    life.pay()
    _, first = life.refund(100)
    life.refund_fails(first)
    _, second = life.refund(200)
    life.refund_updated(second)
    return PACK_TOKENS - PACK_TOKENS * 200 // PACK_CENTS


def _inquiry_closed_then_refunded(life: Life) -> int:
    life.pay().dispute(PACK_CENTS, closed="warning_closed", inquiry=True).refund(PACK_CENTS)
    return 0


def _whole_life(life: Life) -> int:
    life.pay(asynchronous=True)
    _, refund = life.refund(100)
    life.refund_fails(refund, "charge.refund.updated", "canceled").dispute(PACK_CENTS, closed="won")
    return PACK_TOKENS


# (life, how many orders to try: None = every permutation, else that many drawn with a fixed seed)
LIVES: list[tuple[Callable[[Life], int], int | None]] = [
    (_dispute_won, None),
    (_async_dispute_won, None),
    (_refund_then_dispute_lost, None),
    (_refunds_one_failing, None),
    (_inquiry_closed_then_refunded, None),
    (_whole_life, 90),
]


def _orders(events: int, sample: int | None, seed: str) -> list[tuple[int, ...]]:
    every = list(itertools.permutations(range(events)))
    return every if sample is None else random.Random(seed).sample(every, sample)


@dataclass
class Watch:
    """The bot's apply, reading the buyer's balance back after every ledger change."""

    app: App
    highest: dict[str, int] = field(default_factory=dict)

    async def apply(self, instruction: LedgerInstruction) -> ApplyOutcome:
        outcome = await self.app.service.apply_instruction(instruction)
        account = await self.app.ledger.account(UserRef(instruction.platform, instruction.user_id))
        self.highest[instruction.user_id] = max(self.highest.get(instruction.user_id, 0), account.balance)
        return outcome


@pytest.fixture(params=["sqlite", "postgres"])
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    base = Settings(db_path=tmp_path / "vanikeys.db", vault_key=secrets.token_hex(32), backend="python")
    if request.param == "sqlite":
        return base
    require_postgres()
    return base.replace(db_url=await shared_server(request.config).fresh_database())


@pytest.fixture
async def hook(settings: Settings, fake_stripe: FakeStripe) -> AsyncIterator[tuple[RunningWebhook, Watch]]:
    async with create_app(settings, resume_jobs=False) as app:
        watch = Watch(app)
        async with webhook_server(settings_for(fake_stripe), watch.apply) as running:
            yield running, watch


@pytest.mark.parametrize(("life", "sample"), LIVES, ids=[life.__name__.strip("_") for life, _ in LIVES])
async def test_every_delivery_order_keeps_the_balance_within_what_was_paid(
    life: Callable[[Life], int],
    sample: int | None,
    hook: tuple[RunningWebhook, Watch],
    fake_stripe: FakeStripe,
    http: aiohttp.ClientSession,
) -> None:
    running, watch = hook
    events = len(_history(life, fake_stripe, "probe")[0].steps)
    for n, order in enumerate(_orders(events, sample, life.__name__)):
        history, expected = _history(life, fake_stripe, f"buyer{n}")
        newest = 0
        for index in order:
            newest = max(newest, index)
            history.restore(newest)
            step = history.steps[index]
            status, body = await post_event(http, running.url, event_json(step.event_type, step.obj))
            assert status == 200, (order, step.event_type, body)
            assert watch.highest.get(history.user_id, 0) <= PACK_TOKENS, (
                f"delivered in the order {[history.steps[i].event_type for i in order]}, the balance reached "
                f"{watch.highest[history.user_id]} for {PACK_TOKENS} tokens paid"
            )
        account = await watch.app.ledger.account(UserRef("test", history.user_id))
        assert (account.balance, account.debt) == (expected, 0), [history.steps[i].event_type for i in order]
    assert await watch.app.ledger.audit() == []


def _history(life: Callable[[Life], int], fake: FakeStripe, user_id: str) -> tuple[Life, int]:
    """The life lived on the fake for a new buyer, and the balance it should end with."""
    history = Life(fake, user_id)
    return history, life(history)
