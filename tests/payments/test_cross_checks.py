"""Defence in depth behind the signature: a checkout is credited only for a pack on sale, at its price, in its
currency; an event that cannot be honoured is answered 200 and recorded for the operator (not 500 forever);
an event signed beyond the tolerance in the future is refused."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.app import create_app
from bot.payment_issues import PaymentIssues
from payments.events import PaymentIssue
from payments.webhook import RunningWebhook, webhook_server
from tests.bot.conftest import small_settings
from tests.payments.fake_stripe import FakeStripe
from tests.payments.helpers import WEBHOOK_SECRET, RecordingLedger, post_event, settings_for
from tests.payments.stripe_events import completed_session, event_json, sign

BUYER = {"platform": "discord", "user_id": "1001", "pack_id": "500", "tokens": "500"}


class Reported:
    def __init__(self) -> None:
        self.issues: list[PaymentIssue] = []

    async def __call__(self, issue: PaymentIssue) -> None:
        self.issues.append(issue)


@pytest.fixture
def reported() -> Reported:
    return Reported()


@pytest.fixture
async def checked(
    fake_stripe: FakeStripe, ledger: RecordingLedger, reported: Reported
) -> AsyncIterator[RunningWebhook]:
    async with webhook_server(settings_for(fake_stripe), ledger.apply, report=reported) as running:
        yield running


@pytest.mark.parametrize(
    ("metadata", "amount", "currency", "why"),
    [
        (BUYER, 99, "usd", "paid $0.99 but pack 500 costs $3.99"),
        (BUYER, 399, "eur", "paid €3.99 but pack 500 costs $3.99"),
        ({**BUYER, "tokens": "5000000"}, 399, "usd", "asks for 5,000,000 tokens but pack 500 holds 500"),
        ({**BUYER, "tokens": "9" * 40}, 399, "usd", "but pack 500 holds 500"),
        ({**BUYER, "pack_id": "777", "tokens": "777"}, 399, "usd", "names pack '777', which is not on sale"),
        ({**BUYER, "tokens": "lots"}, 399, "usd", "cannot be honoured"),
    ],
)
async def test_a_checkout_that_does_not_match_its_pack_is_recorded_not_credited(
    checked: RunningWebhook,
    ledger: RecordingLedger,
    reported: Reported,
    http: aiohttp.ClientSession,
    metadata: dict[str, str],
    amount: int,
    currency: str,
    why: str,
) -> None:
    session = {**completed_session("cs_test_x", metadata, amount), "currency": currency}
    payload = event_json("checkout.session.completed", session, event_id="evt_test_mismatch")
    for _ in range(2):  # Stripe retrying changes nothing
        status, body = await post_event(http, checked.url, payload)
        assert status == 200 and "recorded for the operator" in body["note"] and why in body["note"]
    assert ledger.calls == 0 and ledger.applied == {}
    assert [i.event_id for i in reported.issues] == ["evt_test_mismatch"] * 2
    assert why in reported.issues[0].reason and reported.issues[0].stripe_id == "cs_test_x"


async def test_a_matching_checkout_is_credited(
    checked: RunningWebhook, ledger: RecordingLedger, reported: Reported, http: aiohttp.ClientSession
) -> None:
    status, body = await post_event(
        http, checked.url, event_json("checkout.session.completed", completed_session("cs_test_ok", BUYER, 399))
    )
    assert (status, body["applied"]) == (200, 1) and ledger.balances[("discord", "1001")] == 500
    assert reported.issues == []


async def test_a_failed_record_answers_500_so_stripe_retries(
    fake_stripe: FakeStripe, ledger: RecordingLedger, http: aiohttp.ClientSession
) -> None:
    async def broken(issue: PaymentIssue) -> None:
        raise RuntimeError("database is locked")

    async with webhook_server(settings_for(fake_stripe), ledger.apply, report=broken) as running:
        status, _ = await post_event(
            http, running.url, event_json("checkout.session.completed", completed_session("cs_test_y", BUYER, 99))
        )
    assert status == 500 and ledger.calls == 0


@pytest.mark.parametrize(("ahead_s", "accepted"), [(0, True), (240, True), (301 + 60, False), (86400 * 365, False)])
async def test_events_signed_beyond_the_tolerance_in_the_future_are_refused(
    checked: RunningWebhook, ledger: RecordingLedger, http: aiohttp.ClientSession, ahead_s: int, accepted: bool
) -> None:
    payload = event_json("checkout.session.completed", completed_session(f"cs_test_f{ahead_s}", BUYER, 399))
    status, body = await post_event(
        http, checked.url, payload, signature=sign(payload, WEBHOOK_SECRET, timestamp=int(time.time()) + ahead_s)
    )
    if accepted:
        assert status == 200 and body["applied"] == 1
    else:
        assert status == 400 and body["error"] == "timestamp in the future" and ledger.calls == 0


async def test_the_bot_records_each_issue_once_for_the_operator(tmp_path: Path) -> None:
    async with create_app(small_settings(tmp_path)) as app:
        issues = PaymentIssues(app.db)
        issue = PaymentIssue(
            event_id="evt_1",
            event_type="checkout.session.completed",
            stripe_id="cs_1",
            reason="paid $0.99 but pack 500 costs $3.99",
            platform="discord",
            user_id="1001",
            amount_cents=99,
            currency="usd",
        )
        await issues.record(issue)
        await issues.record(issue)
        [row] = await issues.open_issues()
        assert row["stripe_id"] == "cs_1" and row["amount_cents"] == 99 and row["reason"].startswith("paid $0.99")
        assert await issues.resolve("evt_1") and not await issues.resolve("evt_1")
        assert await issues.open_issues() == []
