from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from payments.webhook import RunningWebhook
from tests.payments.fake_stripe import FakeStripe
from tests.payments.helpers import WEBHOOK_SECRET, RecordingLedger, post_event
from tests.payments.stripe_events import completed_session, dispute, event_json, sign

BUYER = {"platform": "discord", "user_id": "1001", "pack_id": "500", "tokens": "500"}
WHO = ("discord", "1001")


async def bought(fake_stripe: FakeStripe, http: aiohttp.ClientSession, webhook: RunningWebhook, session_id: str) -> str:
    """BUYER pays 399 cents for the 500 pack and Stripe says so once; returns the charge id."""
    intent, charge_id = fake_stripe.add_payment(BUYER, 399)
    await post_event(
        http,
        webhook.url,
        event_json("checkout.session.completed", completed_session(session_id, BUYER, 399, payment_intent=intent)),
    )
    return charge_id


async def test_paid_checkout_credits_the_buyer(
    webhook: RunningWebhook, ledger: RecordingLedger, http: aiohttp.ClientSession
) -> None:
    status, body = await post_event(
        http, webhook.url, event_json("checkout.session.completed", completed_session("cs_test_a", BUYER, 399))
    )
    assert (status, body["applied"]) == (200, 1)
    assert ledger.balances[WHO] == 500
    [instruction] = ledger.applied.values()
    assert instruction.idempotency_key == "stripe:checkout:cs_test_a"
    assert (instruction.reason, instruction.pack_id, instruction.amount_cents) == ("purchase", "500", 399)
    assert instruction.notice == "Payment received ($3.99): 500 tokens added to your balance. Thank you!"


async def test_same_event_replayed_100_times_concurrently_credits_once(
    webhook: RunningWebhook, ledger: RecordingLedger, http: aiohttp.ClientSession
) -> None:
    payload = event_json("checkout.session.completed", completed_session("cs_test_b", BUYER, 399))
    answers = await asyncio.gather(*(post_event(http, webhook.url, payload) for _ in range(100)))
    assert {status for status, _ in answers} == {200}
    assert sum(body["applied"] for _, body in answers) == 1
    assert ledger.calls == 100 and ledger.balances[WHO] == 500 and len(ledger.applied) == 1


async def test_completed_then_async_succeeded_credit_once_in_either_order(
    webhook: RunningWebhook, ledger: RecordingLedger, http: aiohttp.ClientSession
) -> None:
    unpaid = completed_session("cs_test_c", BUYER, 399, payment_status="unpaid")
    paid = completed_session("cs_test_c", BUYER, 399)
    assert (await post_event(http, webhook.url, event_json("checkout.session.completed", unpaid)))[0] == 200
    assert ledger.balances.get(WHO, 0) == 0  # a bank debit still clearing buys nothing yet
    await post_event(http, webhook.url, event_json("checkout.session.async_payment_succeeded", paid))
    await post_event(http, webhook.url, event_json("checkout.session.completed", paid))
    await post_event(http, webhook.url, event_json("checkout.session.async_payment_succeeded", paid))
    assert ledger.balances[WHO] == 500 and list(ledger.applied) == ["stripe:checkout:cs_test_c"]


async def test_failed_async_payment_and_foreign_sessions_credit_nothing(
    webhook: RunningWebhook, ledger: RecordingLedger, http: aiohttp.ClientSession
) -> None:
    failed = completed_session("cs_test_d", BUYER, 399, payment_status="unpaid")
    foreign = completed_session("cs_test_e", {"order": "t-shirt"}, 2000)
    for event in (
        event_json("checkout.session.async_payment_failed", failed),
        event_json("checkout.session.completed", foreign),
        event_json(
            "checkout.session.completed", {**completed_session("cs_test_f", BUYER, 399), "mode": "subscription"}
        ),
        event_json("customer.created", {"id": "cus_1", "object": "customer"}),
    ):
        status, body = await post_event(http, webhook.url, event)
        assert status == 200 and body.get("applied", 0) == 0
    assert ledger.calls == 0


async def test_forged_expired_and_tampered_signatures_get_400_and_credit_nothing(
    webhook: RunningWebhook, ledger: RecordingLedger, http: aiohttp.ClientSession
) -> None:
    payload = event_json("checkout.session.completed", completed_session("cs_test_g", BUYER, 399))
    now = int(time.time())
    tampered = payload.replace('"tokens": "500"', '"tokens": "50000"')
    assert tampered != payload
    attempts = {
        "forged with another secret": (payload, sign(payload, "whsec_attacker")),
        "expired (301 s old)": (payload, sign(payload, WEBHOOK_SECRET, timestamp=now - 301)),
        "tampered body": (tampered, sign(payload, WEBHOOK_SECRET)),
        "timestamp moved": (payload, sign(payload, WEBHOOK_SECRET).replace(f"t={now}", f"t={now + 1}", 1)),
        "no v1 signature": (payload, f"t={now}"),
        "v0 scheme only": (payload, sign(payload, WEBHOOK_SECRET).replace("v1=", "v0=")),
        "garbage header": (payload, "hello"),
        "empty header": (payload, ""),
    }
    for name, (body, header) in attempts.items():
        status, answer = await post_event(http, webhook.url, body, signature=header)
        assert (name, status, answer) == (name, 400, {"error": "bad signature"})
    async with http.post(webhook.url, data=payload) as response:  # no Stripe-Signature header at all
        assert response.status == 400
    assert ledger.calls == 0


async def test_signature_within_tolerance_is_accepted(
    webhook: RunningWebhook, ledger: RecordingLedger, http: aiohttp.ClientSession
) -> None:
    payload = event_json("checkout.session.completed", completed_session("cs_test_h", BUYER, 399))
    header = sign(payload, WEBHOOK_SECRET, timestamp=int(time.time()) - 280)
    assert (await post_event(http, webhook.url, payload, signature=header))[0] == 200
    assert ledger.balances[WHO] == 500


async def test_bad_json_gets_400(webhook: RunningWebhook, ledger: RecordingLedger, http: aiohttp.ClientSession) -> None:
    for payload in (
        '{"type": "checkout.session.completed", "data": ',
        "[1, 2]",
        '"event"',
        '{"id": "evt_1", "type": "checkout.session.completed"}',
    ):
        status, _ = await post_event(http, webhook.url, payload)  # correctly signed, unusable inside
        assert (payload, status) == (payload, 400)
    raw = b'{"type": "\xff\xfe"}'
    async with http.post(webhook.url, data=raw, headers={"Stripe-Signature": sign("x", WEBHOOK_SECRET)}) as response:
        assert response.status == 400
    assert ledger.calls == 0


async def test_ledger_failure_answers_500_so_stripe_retries(
    webhook: RunningWebhook, ledger: RecordingLedger, http: aiohttp.ClientSession
) -> None:
    payload = event_json("checkout.session.completed", completed_session("cs_test_i", BUYER, 399))
    ledger.fail_next = 1
    assert (await post_event(http, webhook.url, payload))[0] == 500
    assert ledger.balances.get(WHO, 0) == 0
    assert (await post_event(http, webhook.url, payload))[0] == 200  # Stripe's retry
    assert ledger.balances[WHO] == 500


async def test_full_refund_after_tokens_were_spent_leaves_debt(
    webhook: RunningWebhook, ledger: RecordingLedger, fake_stripe: FakeStripe, http: aiohttp.ClientSession
) -> None:
    charge_id = await bought(fake_stripe, http, webhook, "cs_test_j")
    ledger.balances[WHO] -= 430  # spent on pulls
    refund = fake_stripe.add_refund(charge_id, 399)
    payload = event_json("charge.refunded", fake_stripe.charges[charge_id])
    for _ in range(3):
        assert (await post_event(http, webhook.url, payload))[0] == 200
    assert (ledger.balances[WHO], ledger.debts[WHO]) == (0, 430)
    clawback = ledger.applied[f"stripe:refund:{refund['id']}"]
    assert (clawback.tokens, clawback.reason) == (-500, "refund")
    assert clawback.notice == "Your payment was refunded ($3.99): 500 tokens taken back."


async def test_partial_refunds_take_back_exactly_what_was_credited(
    webhook: RunningWebhook, ledger: RecordingLedger, fake_stripe: FakeStripe, http: aiohttp.ClientSession
) -> None:
    charge_id = await bought(fake_stripe, http, webhook, "cs_test_k")
    taken = []
    for cents in (100, 100, 99, 100):  # 399 in all, none a whole number of tokens
        fake_stripe.add_refund(charge_id, cents)
        payload = event_json("charge.refunded", fake_stripe.charges[charge_id])
        await post_event(http, webhook.url, payload)
        await post_event(http, webhook.url, payload)  # each event delivered twice
        taken.append(500 - ledger.balances[WHO])
    assert taken == [125, 250, 374, 500]  # 500·refunded/399, rounded down, cumulative
    assert ledger.debts.get(WHO, 0) == 0


async def test_refunds_beyond_one_page_are_all_counted(
    webhook: RunningWebhook, ledger: RecordingLedger, fake_stripe: FakeStripe, http: aiohttp.ClientSession
) -> None:
    charge_id = await bought(fake_stripe, http, webhook, "cs_test_r")
    for _ in range(120):
        fake_stripe.add_refund(charge_id, 1)
    await post_event(http, webhook.url, event_json("charge.refunded", fake_stripe.charges[charge_id]))
    assert ledger.balances[WHO] == 500 - 500 * 120 // 399
    assert sum("starting_after=" in request for request in fake_stripe.requests) == 1


async def test_failed_refunds_take_nothing(
    webhook: RunningWebhook, ledger: RecordingLedger, fake_stripe: FakeStripe, http: aiohttp.ClientSession
) -> None:
    charge_id = await bought(fake_stripe, http, webhook, "cs_test_l")
    fake_stripe.add_refund(charge_id, 399, status="failed")
    await post_event(http, webhook.url, event_json("charge.refunded", fake_stripe.charges[charge_id]))
    assert ledger.balances[WHO] == 500 and len(ledger.applied) == 1


async def test_a_refund_that_fails_later_gives_its_tokens_back_once(
    webhook: RunningWebhook, ledger: RecordingLedger, fake_stripe: FakeStripe, http: aiohttp.ClientSession
) -> None:
    charge_id = await bought(fake_stripe, http, webhook, "cs_test_rf")
    refund = fake_stripe.add_refund(charge_id, 200)
    await post_event(http, webhook.url, event_json("charge.refunded", fake_stripe.charges[charge_id]))
    assert ledger.balances[WHO] == 500 - 500 * 200 // 399
    failed = fake_stripe.fail_refund(refund)
    for event_type in ("refund.failed", "refund.updated", "charge.refund.updated", "refund.failed"):
        status, _ = await post_event(http, webhook.url, event_json(event_type, failed))
        assert status == 200
    assert ledger.balances[WHO] == 500 and ledger.debts.get(WHO, 0) == 0
    [reversal] = [i for i in ledger.applied.values() if i.reason == "refund_reversed"]
    assert reversal.reverses == f"stripe:refund:{refund['id']}" and "did not go through" in reversal.notice
    # a later charge.refunded sees the refund as failed: nothing is taken again
    await post_event(http, webhook.url, event_json("charge.refunded", fake_stripe.charges[charge_id]))
    assert ledger.balances[WHO] == 500


async def test_a_refund_that_succeeds_or_failed_before_any_clawback_moves_nothing_back(
    webhook: RunningWebhook, ledger: RecordingLedger, fake_stripe: FakeStripe, http: aiohttp.ClientSession
) -> None:
    charge_id = await bought(fake_stripe, http, webhook, "cs_test_rg")
    refund = fake_stripe.add_refund(charge_id, 399)
    _, answer = await post_event(http, webhook.url, event_json("refund.updated", refund))
    assert answer["instructions"] == 0
    _, answer = await post_event(http, webhook.url, event_json("refund.failed", fake_stripe.fail_refund(refund)))
    assert answer["applied"] == 0 and ledger.balances[WHO] == 500


async def test_dispute_claws_back_and_a_won_dispute_returns_the_tokens(
    webhook: RunningWebhook, ledger: RecordingLedger, fake_stripe: FakeStripe, http: aiohttp.ClientSession
) -> None:
    charge_id = await bought(fake_stripe, http, webhook, "cs_test_m")
    ledger.balances[WHO] -= 100
    opened = dispute(fake_stripe.charges[charge_id], 399)
    for _ in range(2):
        assert (await post_event(http, webhook.url, event_json("charge.dispute.created", opened)))[0] == 200
    assert (ledger.balances[WHO], ledger.debts[WHO]) == (0, 100)
    assert ledger.applied[f"stripe:dispute:{opened['id']}"].tokens == -500
    lost = {**opened, "status": "lost"}
    await post_event(http, webhook.url, event_json("charge.dispute.closed", lost))
    assert (ledger.balances[WHO], ledger.debts[WHO]) == (0, 100)
    won = {**opened, "status": "won"}
    for _ in range(2):
        await post_event(http, webhook.url, event_json("charge.dispute.closed", won))
    assert (ledger.balances[WHO], ledger.debts[WHO]) == (400, 0)


async def test_inquiry_closed_without_chargeback_returns_the_tokens(
    webhook: RunningWebhook, ledger: RecordingLedger, fake_stripe: FakeStripe, http: aiohttp.ClientSession
) -> None:
    charge_id = await bought(fake_stripe, http, webhook, "cs_test_o")
    inquiry = dispute(fake_stripe.charges[charge_id], 399, status="warning_needs_response")
    await post_event(http, webhook.url, event_json("charge.dispute.created", inquiry))
    assert ledger.balances[WHO] == 0
    await post_event(http, webhook.url, event_json("charge.dispute.closed", {**inquiry, "status": "warning_closed"}))
    assert ledger.balances[WHO] == 500
    assert ledger.applied[f"stripe:dispute-closed:{inquiry['id']}"].reason == "dispute_closed"


async def test_dispute_after_a_refund_takes_back_only_the_unrefunded_part(
    webhook: RunningWebhook, ledger: RecordingLedger, fake_stripe: FakeStripe, http: aiohttp.ClientSession
) -> None:
    charge_id = await bought(fake_stripe, http, webhook, "cs_test_p")
    fake_stripe.add_refund(charge_id, 100)
    await post_event(http, webhook.url, event_json("charge.refunded", fake_stripe.charges[charge_id]))
    assert ledger.balances[WHO] == 375
    rest = dispute(fake_stripe.charges[charge_id], 299)
    await post_event(http, webhook.url, event_json("charge.dispute.created", rest))
    assert (ledger.balances[WHO], ledger.debts.get(WHO, 0)) == (0, 0)  # 500 in all, never 500 + 375


async def test_dispute_of_a_fully_refunded_payment_takes_nothing_more(
    webhook: RunningWebhook, ledger: RecordingLedger, fake_stripe: FakeStripe, http: aiohttp.ClientSession
) -> None:
    charge_id = await bought(fake_stripe, http, webhook, "cs_test_q")
    ledger.balances[WHO] += 50  # tokens from elsewhere, which a dispute must not reach
    fake_stripe.add_refund(charge_id, 399)
    await post_event(http, webhook.url, event_json("charge.refunded", fake_stripe.charges[charge_id]))
    status, body = await post_event(
        http, webhook.url, event_json("charge.dispute.created", dispute(fake_stripe.charges[charge_id], 399))
    )
    assert (status, body["instructions"]) == (200, 0)
    assert (ledger.balances[WHO], ledger.debts.get(WHO, 0)) == (50, 0)


async def test_refund_of_a_payment_that_is_not_ours_is_ignored(
    webhook: RunningWebhook, ledger: RecordingLedger, fake_stripe: FakeStripe, http: aiohttp.ClientSession
) -> None:
    _, charge_id = fake_stripe.add_payment({"order": "t-shirt"}, 2000)
    fake_stripe.add_refund(charge_id, 2000)
    status, body = await post_event(http, webhook.url, event_json("charge.refunded", fake_stripe.charges[charge_id]))
    assert (status, body["instructions"]) == (200, 0) and ledger.calls == 0


async def test_stripe_lookup_failure_answers_503_then_the_retry_claws_back(
    webhook: RunningWebhook, ledger: RecordingLedger, fake_stripe: FakeStripe, http: aiohttp.ClientSession
) -> None:
    charge_id = await bought(fake_stripe, http, webhook, "cs_test_n")
    fake_stripe.add_refund(charge_id, 399)
    payload = event_json("charge.refunded", fake_stripe.charges[charge_id])
    fake_stripe.fail_lookups = True
    assert (await post_event(http, webhook.url, payload))[0] == 503
    assert ledger.balances[WHO] == 500
    fake_stripe.fail_lookups = False
    assert (await post_event(http, webhook.url, payload))[0] == 200
    assert ledger.balances[WHO] == 0


async def test_health_and_landing_pages(webhook: RunningWebhook, http: aiohttp.ClientSession) -> None:
    base = webhook.url.removesuffix("/stripe/webhook")
    async with http.get(base + "/healthz") as response:
        assert response.status == 200 and json.loads(await response.text()) == {"ok": True}
    async with http.get(base + "/checkout/success") as response:
        assert response.status == 200 and "Payment received" in await response.text()
    async with http.get(base + "/checkout/cancel") as response:
        assert response.status == 200 and "nothing was charged" in await response.text()
    async with http.get(base + "/checkout/success?lang=es") as response:  # the buyer's language at /topup
        assert response.status == 200 and (await response.text()).startswith("Pago recibido.")
    async with http.get(base + "/checkout/cancel?lang=ru") as response:
        assert response.status == 200 and "ничего не списано" in await response.text()
    async with http.get(webhook.url) as response:
        assert response.status == 405
