"""Private keys at rest: AES-256-GCM, bound to their row, purged a grace period after delivery.

The vault key comes from VANIKEYS_VAULT_KEY (64 hex characters or urlsafe
base64 of 32 bytes) or from a key file created on first run with mode 0600.
The associated data binds each ciphertext to its job, position and
identifier, so rows cannot be swapped. Nothing here logs or formats a secret.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.storage import Database, Tx

KEY_BYTES = 32


class VaultError(Exception):
    """The vault key is missing, malformed, or not the key these secrets were sealed with."""


def parse_vault_key(text: str) -> bytes:
    text = text.strip()
    try:
        raw = bytes.fromhex(text) if len(text) == 2 * KEY_BYTES else base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise VaultError("VANIKEYS_VAULT_KEY must be 32 bytes as 64 hex characters or urlsafe base64: "
                         "generate one with `python -c 'import secrets; print(secrets.token_hex(32))'`")
    return raw


def load_or_create_key_file(path: Path) -> bytes:
    """Read the key file, or create it (mode 0600, exclusively, so two processes agree on one key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it this instant
            text = path.read_text().strip()
            if text:
                return parse_vault_key(text)
            time.sleep(0.02)
        raise VaultError(f"the vault key file {path} is empty: restore it from backup or set VANIKEYS_VAULT_KEY")
    key = secrets.token_bytes(KEY_BYTES)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


@dataclass(frozen=True)
class SealedSecret:
    job_id: str
    position: int
    identifier: str
    secret_kind: str   # "private_key" | "offset"
    secret: int

    def __repr__(self) -> str:
        return f"SealedSecret(job_id={self.job_id!r}, position={self.position}, identifier={self.identifier!r}, secret=<redacted>)"

    __str__ = __repr__


class Vault:
    def __init__(self, db: Database, key: bytes, *, grace_s: float) -> None:
        if len(key) != KEY_BYTES:
            raise VaultError("the vault key must be 32 bytes")
        self.db = db
        self._aead = AESGCM(key)
        self.grace_s = grace_s

    def __repr__(self) -> str:
        return "Vault(<key redacted>)"

    @staticmethod
    def _aad(job_id: str, position: int, identifier: str) -> bytes:
        return f"vanikeys-vault-v1|{job_id}|{position}|{identifier}".encode()

    async def store(self, tx: Tx, job_id: str, position: int, identifier: str, secret_kind: str, secret: int) -> None:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, secret.to_bytes(32, "big"), self._aad(job_id, position, identifier))
        await tx.execute(
            "INSERT INTO vault (job_id, position, identifier, secret_kind, nonce, ciphertext, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (job_id, position, identifier, secret_kind, nonce, sealed, time.time()),
        )

    async def issued_elsewhere(self, tx: Tx, job_id: str, identifiers: list[str]) -> list[str]:
        """Those of `identifiers` the vault has held for another job (purged rows keep their identifier).

        A fresh CSPRNG start per job makes a repeat impossible by chance; one means a
        replayed or forged grinder result, and a key two people hold is worth nothing.
        """
        repeated = [i for n, i in enumerate(identifiers) if i in identifiers[:n]]
        for identifier in dict.fromkeys(identifiers):
            if await tx.fetchone("SELECT 1 FROM vault WHERE identifier = ? AND job_id != ? LIMIT 1",
                                 (identifier, job_id)):
                repeated.append(identifier)
        return repeated

    async def open_job(self, job_id: str) -> list[SealedSecret]:
        """The job's secrets, decrypted, in position order; empty once purged."""
        rows = await self.db.fetchall(
            "SELECT position, identifier, secret_kind, nonce, ciphertext FROM vault "
            "WHERE job_id = ? AND ciphertext IS NOT NULL ORDER BY position",
            (job_id,),
        )
        opened: list[SealedSecret] = []
        for row in rows:
            try:
                plain = self._aead.decrypt(row["nonce"], row["ciphertext"],
                                           self._aad(job_id, row["position"], row["identifier"]))
            except InvalidTag:
                raise VaultError("a vault entry does not open with this vault key: set the VANIKEYS_VAULT_KEY "
                                 "(or key file) these keys were sealed with") from None
            opened.append(SealedSecret(job_id, row["position"], row["identifier"], row["secret_kind"],
                                       int.from_bytes(plain, "big")))
        return opened

    async def mark_delivered(self, tx: Tx, job_id: str, at: float) -> None:
        await tx.execute("UPDATE vault SET delivered_at = ? WHERE job_id = ? AND delivered_at IS NULL", (at, job_id))

    async def purge(self, now: float | None = None) -> int:
        """Erase the ciphertext of every secret delivered more than the grace period ago."""
        cutoff = (time.time() if now is None else now) - self.grace_s
        async with self.db.transaction() as tx:
            return await tx.execute(
                "UPDATE vault SET nonce = NULL, ciphertext = NULL, purged_at = ? "
                "WHERE delivered_at IS NOT NULL AND delivered_at <= ? AND purged_at IS NULL",
                (time.time(), cutoff),
            )
