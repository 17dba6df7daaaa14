"""Address formats: the identifier a public key gets, and the secret people import.

Each format is data (prefix, alphabet) plus one function from an affine point
to an identifier. Everything else in the project (patterns, odds, the
kernels, verification) reads these definitions rather than repeating them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import base58
import coincurve
from Crypto.Hash import RIPEMD160, keccak

from .errors import VanikeysError
from .i18n import _

# secp256k1 group order and field prime (SEC 2, section 2.4.1).
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
FIELD_PRIME = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
HEX_ALPHABET = "0123456789abcdef"

SecretKind = Literal["wif", "hex"]


@dataclass(frozen=True)
class SecretExport:
    """A secret in the form its ecosystem's wallets import."""

    kind: SecretKind
    value: str
    jwk: str | None = None  # JSON text of a private JWK (did:key only)


def sha256(data: bytes) -> bytes:
    """SHA-256 digest of `data` (32 bytes)."""
    return hashlib.sha256(data).digest()


def ripemd160(data: bytes) -> bytes:
    """RIPEMD-160 digest of `data` (20 bytes), from OpenSSL or, where it lacks one, pycryptodome."""
    # OpenSSL 3 may ship without RIPEMD-160; pycryptodome always has it.
    try:
        return hashlib.new("ripemd160", data).digest()
    except ValueError:
        return RIPEMD160.new(data).digest()


def keccak256(data: bytes) -> bytes:
    """Keccak-256 digest of `data` (32 bytes; Ethereum's, not NIST SHA3-256)."""
    return keccak.new(data=data, digest_bits=256).digest()


def compressed_pubkey(x: int, y: int) -> bytes:
    """SEC1 compressed encoding of the point (x, y): 0x02/0x03 by y's parity, then x in 32 bytes."""
    return bytes([2 + (y & 1)]) + x.to_bytes(32, "big")


def _btc_identifier(x: int, y: int) -> str:
    hash160 = ripemd160(sha256(compressed_pubkey(x, y)))
    return base58.b58encode_check(b"\x00" + hash160).decode()


def _did_identifier(x: int, y: int) -> str:
    # multicodec secp256k1-pub (0xe7, varint-encoded as e7 01) + compressed key.
    return "did:key:z" + base58.b58encode(b"\xe7\x01" + compressed_pubkey(x, y)).decode()


def _eth_address_bytes(x: int, y: int) -> bytes:
    return keccak256(x.to_bytes(32, "big") + y.to_bytes(32, "big"))[-20:]


def eip55(address20: bytes) -> str:
    """EIP-55 mixed-case checksum encoding of a 20-byte address."""
    lower = address20.hex()
    digest = keccak256(lower.encode()).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(lower))


def _eth_identifier(x: int, y: int) -> str:
    return eip55(_eth_address_bytes(x, y))


def _trx_identifier(x: int, y: int) -> str:
    return base58.b58encode_check(b"\x41" + _eth_address_bytes(x, y)).decode()


def _b64url(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode()


@dataclass(frozen=True)
class AddressFormat:
    """One identifier format (btc, did, eth, trx): its fixed prefix, body alphabet, case rule and secret encoding.

    The identifier is a pure function of the public point; `body()` strips the fixed prefix patterns are matched
    against.
    """

    id: str
    title: str
    prefix: str  # the fixed start every identifier of this format has
    alphabet: str  # body alphabet, in canonical case
    case_sensitive: bool
    secret_kind: SecretKind
    _from_point: Callable[[int, int], str]

    def identifier_from_point(self, x: int, y: int) -> str:
        """The identifier of the public point (x, y)."""
        return self._from_point(x, y)

    def identifier(self, pubkey: coincurve.PublicKey) -> str:
        """The identifier of a coincurve public key."""
        x, y = pubkey.point()
        return self._from_point(x, y)

    def body(self, identifier: str) -> str:
        """The identifier without its fixed prefix; VanikeysError("bad_format") if it lacks the prefix."""
        if not identifier.startswith(self.prefix):
            raise VanikeysError(
                "bad_format", f"{identifier!r} is not a {self.title} identifier: it must start with {self.prefix!r}"
            )
        return identifier[len(self.prefix) :]

    def export_secret(self, secret: int) -> SecretExport:
        """The private key `secret` (1..n-1) as its owner imports it: WIF for btc, hex otherwise (did adds its JWK)."""
        secret_bytes = secret.to_bytes(32, "big")
        if self.secret_kind == "wif":
            # Mainnet WIF for a compressed public key: 0x80 || d || 0x01.
            return SecretExport("wif", base58.b58encode_check(b"\x80" + secret_bytes + b"\x01").decode())
        if self.id != "did":
            return SecretExport("hex", secret_bytes.hex())
        x, y = coincurve.PublicKey.from_secret(secret_bytes).point()
        jwk = {"kty": "EC", "crv": "secp256k1", "x": _b64url(x), "y": _b64url(y), "d": _b64url(secret)}
        return SecretExport("hex", secret_bytes.hex(), json.dumps(jwk, separators=(",", ":")))


FORMATS: dict[str, AddressFormat] = {
    f.id: f
    for f in (
        AddressFormat("btc", "Bitcoin (P2PKH)", "1", BASE58_ALPHABET, True, "wif", _btc_identifier),
        AddressFormat("did", "did:key (secp256k1)", "did:key:zQ3sh", BASE58_ALPHABET, True, "hex", _did_identifier),
        AddressFormat("eth", "Ethereum", "0x", HEX_ALPHABET, False, "hex", _eth_identifier),
        AddressFormat("trx", "TRON", "T", BASE58_ALPHABET, True, "hex", _trx_identifier),
    )
}


def get_format(format_id: str) -> AddressFormat:
    """The format named `format_id` (case and spaces ignored); VanikeysError("bad_format") lists the known ones."""
    try:
        return FORMATS[format_id.strip().lower()]
    except (KeyError, AttributeError):
        known = ", ".join(FORMATS)
        raise VanikeysError(
            "bad_format", _("unknown format {format}: use one of {known}", format=repr(format_id), known=known)
        ) from None


def check_secret(secret: int) -> int:
    """`secret` unchanged if it is a valid private key (1 <= secret < n); VanikeysError("bad_secret") otherwise."""
    if not 1 <= secret < CURVE_ORDER:
        raise VanikeysError("bad_secret", "a private key must be a number from 1 to n-1 (64 hex digits)")
    return secret


def parse_secret_hex(text: str) -> int:
    """A private key from exactly 64 hex digits (optional 0x); VanikeysError("bad_secret") says what to type."""
    cleaned = text.strip().lower().removeprefix("0x")
    if len(cleaned) != 64 or any(c not in HEX_ALPHABET for c in cleaned):
        raise VanikeysError("bad_secret", "a secret must be exactly 64 hex digits (32 bytes)")
    return check_secret(int(cleaned, 16))


def public_point(secret: int) -> tuple[int, int]:
    """The affine public point (x, y) of a valid private key; VanikeysError("bad_secret") for one out of range."""
    return coincurve.PublicKey.from_secret(check_secret(secret).to_bytes(32, "big")).point()


def identifier_from_secret(fmt: AddressFormat, secret: int) -> str:
    """The identifier in `fmt` of the key `secret`."""
    return fmt.identifier_from_point(*public_point(secret))


def parse_pubkey(text: str) -> coincurve.PublicKey:
    """A public key in compressed (33-byte) or uncompressed (65-byte) hex."""
    cleaned = text.strip().lower().removeprefix("0x")
    try:
        raw = bytes.fromhex(cleaned)
        if len(raw) not in (33, 65):
            raise ValueError
        return coincurve.PublicKey(raw)
    except ValueError:
        raise VanikeysError(
            "bad_pubkey",
            _("a public key must be 66 hex digits starting 02 or 03 (compressed) or 130 starting 04 (uncompressed)"),
        ) from None
