"""Secrets sealed to the bot: a worker's result carries no private key in the clear.

A RunPod job's output waits in RunPod's job store (up to 30 minutes) until the
bot fetches it. So the bot sends its X25519 public key with every job
(`seal_to`), and the worker replaces each hit's secret with a sealed box that
only the bot can open:

    "sealed:" + base64url(ephemeral X25519 public key ‖ AES-GCM nonce ‖ ciphertext and tag)

The AES-256-GCM key is HKDF-SHA256 of the X25519 shared secret (the ECIES
construction). The associated data binds the box to its hit's identifier
and secret kind, so a box cannot be moved onto another hit. The bot derives
its key pair from the vault key, so boxes from jobs submitted before a
restart still open after it.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import VanikeysError
from .job import SEALED_PREFIX, GrindHit, GrindResult

_BOX_INFO = b"vanikeys sealed secret v1"
_KEY_INFO = b"vanikeys result sealing key v1"
_NONCE_BYTES = 12
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def seal_result(result: GrindResult, seal_to: str) -> GrindResult:
    """The same result with every secret sealed to the X25519 public key `seal_to` (64 hex digits)."""
    recipient = X25519PublicKey.from_public_bytes(bytes.fromhex(seal_to))
    return result.model_copy(update={"results": [_seal_hit(hit, recipient) for hit in result.results]})


class ResultSealer:
    """The bot's side: the key pair results are sealed to, and the opening of sealed results."""

    def __init__(self, private_key: X25519PrivateKey) -> None:
        self._private = private_key
        self.public_hex = private_key.public_key().public_bytes(*_RAW).hex()

    @classmethod
    def from_vault_key(cls, vault_key: bytes) -> ResultSealer:
        """The same key pair for the same vault key: results stay openable across restarts."""
        seed = HKDF(hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(vault_key)
        return cls(X25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def generate(cls) -> ResultSealer:
        """A sealer with a fresh X25519 key pair (one per bot process; its public half goes out with each job)."""
        return cls(X25519PrivateKey.generate())

    def open_result(self, result: GrindResult) -> GrindResult:
        """Every hit opened; VanikeysError("verification_failed") if any hit is not a box sealed to us."""
        return result.model_copy(update={"results": [self._open_hit(hit) for hit in result.results]})

    def _open_hit(self, hit: GrindHit) -> GrindHit:
        if not hit.sealed:
            raise VanikeysError("verification_failed", "a hit's secret was not sealed: the worker ignored seal_to")
        try:
            box = base64.urlsafe_b64decode(hit.secret[len(SEALED_PREFIX) :])
        except (binascii.Error, ValueError):
            raise VanikeysError("verification_failed", "a sealed secret is not base64") from None
        ephemeral, nonce, sealed = box[:32], box[32 : 32 + _NONCE_BYTES], box[32 + _NONCE_BYTES :]
        if len(ephemeral) != 32 or len(nonce) != _NONCE_BYTES:
            raise VanikeysError("verification_failed", "a sealed secret is too short")
        shared = self._private.exchange(X25519PublicKey.from_public_bytes(ephemeral))
        try:
            secret = AESGCM(_box_key(shared, ephemeral)).decrypt(nonce, sealed, _associated_data(hit))
        except InvalidTag:
            raise VanikeysError("verification_failed", "a sealed secret does not open with this bot's key") from None
        if len(secret) != 32:
            raise VanikeysError("verification_failed", "a sealed secret is not 32 bytes")
        return hit.model_copy(update={"secret": secret.hex()})


def _seal_hit(hit: GrindHit, recipient: X25519PublicKey) -> GrindHit:
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes(*_RAW)
    nonce = os.urandom(_NONCE_BYTES)
    key = _box_key(ephemeral.exchange(recipient), ephemeral_public)
    sealed = AESGCM(key).encrypt(nonce, bytes.fromhex(hit.secret), _associated_data(hit))
    box = base64.urlsafe_b64encode(ephemeral_public + nonce + sealed).decode()
    return hit.model_copy(update={"secret": SEALED_PREFIX + box})


def _box_key(shared: bytes, ephemeral_public: bytes) -> bytes:
    return HKDF(hashes.SHA256(), length=32, salt=ephemeral_public, info=_BOX_INFO).derive(shared)


def _associated_data(hit: GrindHit) -> bytes:
    return f"{hit.secret_kind}|{hit.identifier}".encode()
