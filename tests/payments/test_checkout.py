from __future__ import annotations

import pytest

from gpu_worker.i18n import _, ngettext, use_locale
from payments.checkout import CheckoutClient
from payments.errors import PaymentsError
from payments.events import ApplyOutcome
from payments.fulfilment import Fulfilment
from payments.stripe_api import StripeApi
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
    assert form["success_url"] == "https://vanikeys.example/checkout/success?lang=en"  # the page speaks the buyer's
    assert form["cancel_url"] == "https://vanikeys.example/checkout/cancel?lang=en"
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


async def test_a_portuguese_buyer_gets_the_checkout_page_and_the_pack_in_portuguese(
    checkout: CheckoutClient, fake_stripe: FakeStripe
) -> None:
    with use_locale("pt_BR"):
        await checkout.create_checkout("telegram", "42", "2500")
        name = ngettext("{n} VaniKeys token", "{n} VaniKeys tokens", 2500)
        description = _("Tokens for pulls and orders, credited as soon as the payment clears.")
    assert name == "2.500 tokens VaniKeys" and description.startswith("Tokens para giros e pedidos")
    [form] = fake_stripe.created_sessions
    assert form["locale"] == "pt-BR"  # Stripe's own page in Portuguese: a value Stripe takes (the fake refuses others)
    assert form["line_items[0][price_data][product_data][name]"] == name
    assert form["line_items[0][price_data][product_data][description]"] == description
    # the buyer's language rides with the payment, so the webhook tells them in it
    assert form["metadata[locale]"] == form["payment_intent_data[metadata][locale]"] == "pt_BR"
    assert form["success_url"].endswith("/checkout/success?lang=pt_BR")  # ... and so does the page after it


@pytest.mark.parametrize(("locale", "stripe"), [("en", "en"), ("es", "es"), ("ru", "ru"), ("en_XA", "en")])
async def test_every_locale_is_one_stripe_takes(
    checkout: CheckoutClient, fake_stripe: FakeStripe, locale: str, stripe: str
) -> None:
    with use_locale(locale):
        link = await checkout.create_checkout("discord", "7", "100")
    assert link.url and fake_stripe.created_sessions[-1]["locale"] == stripe


async def test_an_unknown_pack_is_refused_in_the_buyers_language(checkout: CheckoutClient) -> None:
    with use_locale("es"), pytest.raises(PaymentsError) as err:
        await checkout.create_checkout("telegram", "42", "7")
    assert err.value.message.startswith("no existe el paquete '7': elige uno de 100 (0,99")


async def test_what_the_buyer_is_told_after_paying_is_in_the_language_they_bought_in(fake_stripe: FakeStripe) -> None:
    session = {
        "id": "cs_test_pt",
        "mode": "payment",
        "payment_status": "paid",
        "amount_total": 399,
        "currency": "usd",
        "metadata": {"platform": "telegram", "user_id": "42", "pack_id": "500", "tokens": "500", "locale": "pt_BR"},
    }
    api = StripeApi(settings_for(fake_stripe))
    fulfilment = Fulfilment(api)
    [credit] = await fulfilment.instructions("checkout.session.completed", session)
    assert credit.locale == "pt_BR"
    assert credit.notice == "Pagamento recebido (US$\xa03,99): 500 tokens adicionados ao seu saldo. Valeu!"
    told = credit.notice_for(ApplyOutcome(True, 190, 0, 190))  # 310 of them paid a debt off
    assert told.endswith("310 deles quitaram o que sua conta devia; giros e pedidos estão liberados de novo.")
    old = dict(session, metadata={k: v for k, v in session["metadata"].items() if k != "locale"})
    [english] = await fulfilment.instructions("checkout.session.completed", old)  # a session made before this
    assert english.notice.startswith("Payment received ($3.99): 500 tokens")
    await api.close()
