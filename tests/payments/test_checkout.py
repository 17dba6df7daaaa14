from __future__ import annotations

import pytest

from payments.checkout import CheckoutClient
from payments.errors import PaymentsError
from tests.payments.fake_stripe import FakeStripe
from tests.payments.helpers import settings_for


@pytest.fixture
async def checkout(fake_stripe: FakeStripe):
    client = CheckoutClient(settings_for(fake_stripe))
    try:
        yield client
    finally:
        await client.close()


async def test_session_carries_buyer_pack_and_urls(checkout: CheckoutClient, fake_stripe: FakeStripe) -> None:
    link = await checkout.create_checkout("discord", "123456789012345678", "500")

    assert link.pack.tokens == 500 and link.pack.price_cents == 399
    assert link.session_id.startswith("cs_test_")
    assert link.url == f"https://checkout.stripe.com/c/pay/{link.session_id}"
    [form] = fake_stripe.created_sessions
    assert form["mode"] == "payment"
    assert form["client_reference_id"] == "discord-123456789012345678"
    for prefix in ("metadata", "payment_intent_data[metadata]"):
        assert form[f"{prefix}[platform]"] == "discord"
        assert form[f"{prefix}[user_id]"] == "123456789012345678"
        assert form[f"{prefix}[pack_id]"] == "500"
        assert form[f"{prefix}[tokens]"] == "500"
    assert form["line_items[0][quantity]"] == "1"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["line_items[0][price_data][unit_amount]"] == "399"
    assert form["line_items[0][price_data][product_data][name]"] == "500 VaniKeys tokens"
    assert form["success_url"] == "https://vanikeys.example/checkout/success"
    assert form["cancel_url"] == "https://vanikeys.example/checkout/cancel"
    assert not any(key.startswith("line_items[1]") for key in form)


async def test_pack_named_with_thousands_separator(checkout: CheckoutClient, fake_stripe: FakeStripe) -> None:
    link = await checkout.create_checkout("telegram", "42", "2,500")
    assert (link.pack.tokens, link.pack.price_cents) == (2500, 1499)
    assert fake_stripe.created_sessions[0]["line_items[0][price_data][unit_amount]"] == "1499"


async def test_unknown_pack_lists_the_real_ones_and_never_calls_stripe(
    checkout: CheckoutClient, fake_stripe: FakeStripe
) -> None:
    with pytest.raises(PaymentsError) as caught:
        await checkout.create_checkout("discord", "1", "300")
    assert caught.value.code == "bad_pack"
    assert "100 ($0.99), 500 ($3.99), 2500 ($14.99), 10000 ($49.99)" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert fake_stripe.requests == []


@pytest.mark.parametrize("user_id", ["", "a b", "x" * 101, "1/2", "id\nnext"])
async def test_user_ids_stripe_cannot_carry_are_refused(
    checkout: CheckoutClient, fake_stripe: FakeStripe, user_id: str
) -> None:
    with pytest.raises(PaymentsError) as caught:
        await checkout.create_checkout("discord", user_id, "100")
    assert caught.value.code == "bad_user"
    assert fake_stripe.requests == []


async def test_stripe_refusing_the_key_is_a_retry_later_error(fake_stripe: FakeStripe) -> None:
    fake_stripe.api_key = "sk_test_someone_else"
    client = CheckoutClient(settings_for(fake_stripe))
    try:
        with pytest.raises(PaymentsError) as caught:
            await client.create_checkout("discord", "1", "100")
    finally:
        await client.close()
    assert caught.value.code == "stripe_unavailable"
    assert "sk_test" not in str(caught.value)
    assert len(fake_stripe.requests) == 1
