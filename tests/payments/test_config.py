from __future__ import annotations

from pathlib import Path

import pytest

from payments.config import StripeSettings, settings_from
from payments.errors import PaymentsError
from payments.packs import load_packs

KEYS = {"STRIPE_API_KEY": "sk_test_abc", "STRIPE_WEBHOOK_SECRET": "whsec_abc"}


def test_default_packs() -> None:
    catalog = load_packs({})
    assert [(p.pack_id, p.tokens, p.price_cents, p.currency) for p in catalog.packs] == [
        ("100", 100, 99, "usd"),
        ("500", 500, 399, "usd"),
        ("2500", 2500, 1499, "usd"),
        ("10000", 10000, 4999, "usd"),
    ]
    assert [p.price for p in catalog.packs] == ["$0.99", "$3.99", "$14.99", "$49.99"]
    assert catalog.get(" 10,000 tokens ").tokens == 10000


def test_packs_from_environment_are_exact_to_the_cent() -> None:
    catalog = load_packs({"VANIKEYS_PACKS": "1000=9.99, 50=0.5", "VANIKEYS_CURRENCY": "EUR"})
    assert [(p.tokens, p.price_cents, p.price) for p in catalog.packs] == [(50, 50, "€0.50"), (1000, 999, "€9.99")]


@pytest.mark.parametrize(
    "spec, words",
    [
        ("100", "is not tokens=price"),
        ("abc=1.00", "is not tokens=price"),
        ("100=cheap", "is not a number"),
        ("100=0.999", "whole number of cents"),
        ("100=NaN", "whole number of cents"),
        ("100=0.49", "Stripe's minimum"),
        ("0=1.00", "at least 1 token"),
        ("100=1.00,100=2.00", "same token count twice"),
    ],
)
def test_bad_pack_specs_say_what_to_write(spec: str, words: str) -> None:
    with pytest.raises(PaymentsError) as caught:
        load_packs({"VANIKEYS_PACKS": spec})
    assert caught.value.code == "bad_config" and words in str(caught.value)
    assert "VANIKEYS_PACKS" in str(caught.value)


@pytest.mark.parametrize("currency", ["jpy", "dollars", "us"])
def test_currencies_without_cents_are_refused(currency: str) -> None:
    with pytest.raises(PaymentsError, match="VANIKEYS_CURRENCY"):
        load_packs({"VANIKEYS_CURRENCY": currency})


def test_unconfigured_stripe_is_none() -> None:
    assert settings_from({}) is None
    assert StripeSettings.from_env({}, dotenv_path=None) is None


@pytest.mark.parametrize(
    "env, missing",
    [
        ({"STRIPE_API_KEY": "sk_test_abc"}, "STRIPE_WEBHOOK_SECRET"),
        ({"STRIPE_WEBHOOK_SECRET": "whsec_abc"}, "STRIPE_API_KEY"),
    ],
)
def test_half_configured_stripe_names_the_missing_variable(env: dict[str, str], missing: str) -> None:
    with pytest.raises(PaymentsError, match=f"^{missing} is not set"):
        settings_from(env)


@pytest.mark.parametrize(
    "env, words",
    [
        ({**KEYS, "STRIPE_API_KEY": "pk_test_abc"}, "STRIPE_API_KEY does not look like a Stripe secret key"),
        ({**KEYS, "STRIPE_WEBHOOK_SECRET": "abc"}, "STRIPE_WEBHOOK_SECRET does not look like"),
        ({**KEYS, "STRIPE_SUCCESS_URL": "vanikeys.example/ok"}, "STRIPE_SUCCESS_URL="),
        ({**KEYS, "VANIKEYS_WEBHOOK_PORT": "http"}, "VANIKEYS_WEBHOOK_PORT="),
    ],
)
def test_unusable_values_are_named(env: dict[str, str], words: str) -> None:
    with pytest.raises(PaymentsError) as caught:
        settings_from(env)
    assert words in str(caught.value)
    assert "sk_test_abc" not in str(caught.value) and "whsec_abc" not in str(caught.value)


def test_urls_follow_the_public_address_unless_set() -> None:
    settings = settings_from({**KEYS, "VANIKEYS_PUBLIC_URL": "https://bot.example/"})
    assert settings is not None
    assert (settings.success_url, settings.cancel_url) == (
        "https://bot.example/checkout/success",
        "https://bot.example/checkout/cancel",
    )
    assert (settings.webhook_host, settings.webhook_port, settings.api_base) == ("127.0.0.1", 8080, None)
    explicit = settings_from(
        {**KEYS, "STRIPE_SUCCESS_URL": "https://t.me/vanikeys_bot", "VANIKEYS_WEBHOOK_PORT": "9000"}
    )
    assert (
        explicit is not None and explicit.success_url == "https://t.me/vanikeys_bot" and explicit.webhook_port == 9000
    )
    assert "sk_test_abc" not in repr(settings) and "whsec_abc" not in repr(settings)


def test_dotenv_file_is_honoured_and_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("STRIPE_API_KEY=sk_test_fromfile\nSTRIPE_WEBHOOK_SECRET=whsec_fromfile\nVANIKEYS_PACKS=10=0.50\n")
    settings = StripeSettings.from_env({"STRIPE_WEBHOOK_SECRET": "whsec_fromenv"}, dotenv_path=dotenv)
    assert settings is not None
    assert (settings.api_key, settings.webhook_secret) == ("sk_test_fromfile", "whsec_fromenv")
    assert [p.tokens for p in settings.packs.packs] == [10]
