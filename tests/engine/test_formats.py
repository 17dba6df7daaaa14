"""Formats against published vectors and against independent libraries (ecdsa, eth-keys)."""

from __future__ import annotations

import base64
import hashlib
import json

import base58
import coincurve
import ecdsa
import pytest
from eth_keys import keys as eth_keys
from hypothesis import given, settings, strategies as st

from gpu_worker.errors import VanikeysError
from gpu_worker.formats import (
    CURVE_ORDER,
    FORMATS,
    eip55,
    get_format,
    identifier_from_secret,
    parse_pubkey,
    parse_secret_hex,
)

secrets_st = st.integers(min_value=1, max_value=CURVE_ORDER - 1)


# Private key 1 is the generator: its addresses are widely published.
@pytest.mark.parametrize(
    ("format_id", "identifier"),
    [
        ("btc", "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"),
        ("eth", "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"),
        ("trx", "TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2HC"),
    ],
)
def test_generator_identifiers(format_id: str, identifier: str) -> None:
    assert identifier_from_secret(get_format(format_id), 1) == identifier


def test_bitcoin_wiki_compressed_wif() -> None:
    # en.bitcoin.it "Wallet import format": the example key, compressed form.
    secret = 0x0C28FCA386C7A227600B2FE50B7CAE11EC86D3BF1FBE471BE89827E19D72AA1D
    assert get_format("btc").export_secret(secret).value == "KwdMAjGmerYanjeui5SHS7JkmpZvVipYvB2LJGU1ZxJwYvP98617"
    assert get_format("btc").export_secret(1).value == "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn"


@pytest.mark.parametrize(
    "address",
    [  # EIP-55's own test cases
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ],
)
def test_eip55_vectors(address: str) -> None:
    assert eip55(bytes.fromhex(address[2:])) == address


def test_did_key_spec_example_roundtrips() -> None:
    # did:key method spec, secp256k1 example: decode its key, re-encode it ourselves.
    did = "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"
    raw = base58.b58decode(did.removeprefix("did:key:z"))
    assert raw[:2] == b"\xe7\x01" and len(raw) == 35
    x, y = coincurve.PublicKey(raw[2:]).point()
    assert FORMATS["did"].identifier_from_point(x, y) == did


def _independent_point(secret: int) -> tuple[int, int]:
    key = ecdsa.SigningKey.from_secret_exponent(secret, curve=ecdsa.SECP256k1).get_verifying_key()
    point = key.pubkey.point
    return point.x(), point.y()


def _independent_btc(secret: int) -> str:
    x, y = _independent_point(secret)
    pub = bytes([2 + (y & 1)]) + x.to_bytes(32, "big")
    h160 = hashlib.new("ripemd160", hashlib.sha256(pub).digest()).digest()
    payload = b"\x00" + h160
    checksum = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return base58.b58encode(payload + checksum).decode()


@settings(max_examples=25, deadline=None)
@given(secrets_st)
def test_btc_matches_independent_derivation(secret: int) -> None:
    assert identifier_from_secret(FORMATS["btc"], secret) == _independent_btc(secret)


@settings(max_examples=25, deadline=None)
@given(secrets_st)
def test_eth_and_trx_match_eth_keys(secret: int) -> None:
    address = eth_keys.PrivateKey(secret.to_bytes(32, "big")).public_key.to_checksum_address()
    assert identifier_from_secret(FORMATS["eth"], secret) == address
    trx_payload = b"\x41" + bytes.fromhex(address[2:])
    assert identifier_from_secret(FORMATS["trx"], secret) == base58.b58encode_check(trx_payload).decode()


@settings(max_examples=25, deadline=None)
@given(secrets_st)
def test_did_and_jwk_match_independent_derivation(secret: int) -> None:
    x, y = _independent_point(secret)
    pub = bytes([2 + (y & 1)]) + x.to_bytes(32, "big")
    did = identifier_from_secret(FORMATS["did"], secret)
    assert did == "did:key:z" + base58.b58encode(b"\xe7\x01" + pub).decode()
    assert did.startswith(FORMATS["did"].prefix)
    export = FORMATS["did"].export_secret(secret)
    assert export.jwk is not None
    jwk = json.loads(export.jwk)

    def unb64(value: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")

    assert (unb64(jwk["x"]), unb64(jwk["y"]), unb64(jwk["d"])) == (x, y, secret)
    assert jwk["crv"] == "secp256k1" and jwk["kty"] == "EC"


@settings(max_examples=25, deadline=None)
@given(secrets_st)
def test_wif_decodes_to_the_secret(secret: int) -> None:
    raw = base58.b58decode_check(FORMATS["btc"].export_secret(secret).value)
    assert raw[0] == 0x80 and raw[-1] == 0x01 and int.from_bytes(raw[1:33], "big") == secret


@pytest.mark.parametrize("fmt", list(FORMATS.values()), ids=lambda f: f.id)
def test_every_identifier_starts_with_the_fixed_prefix_and_uses_the_alphabet(fmt) -> None:
    for secret in (1, 2, 3, 12345, CURVE_ORDER - 1):
        body = fmt.body(identifier_from_secret(fmt, secret))
        alphabet = fmt.alphabet if fmt.case_sensitive else fmt.alphabet + fmt.alphabet.upper()
        assert body and set(body) <= set(alphabet)


def test_bad_inputs_are_specific() -> None:
    with pytest.raises(VanikeysError, match="use one of btc, did, eth, trx"):
        get_format("doge")
    with pytest.raises(VanikeysError) as err:
        parse_secret_hex("12")
    assert err.value.code == "bad_secret"
    with pytest.raises(VanikeysError):
        parse_secret_hex("00" * 32)  # zero is not a key
    with pytest.raises(VanikeysError):
        parse_secret_hex(format(CURVE_ORDER, "064x"))
    with pytest.raises(VanikeysError) as err:
        parse_pubkey("02" + "ff" * 32)  # x not on the curve
    assert err.value.code == "bad_pubkey"
    with pytest.raises(VanikeysError):
        FORMATS["btc"].body("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy")
