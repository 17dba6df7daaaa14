"""Private keys at rest: AES-256-GCM, bound to their row, purged a grace period after delivery.

The vault key comes from VANIKEYS_VAULT_KEY (64 hex characters or urlsafe
base64 of 32 bytes) or from a key file created on first run with mode 0600.
The associated data binds each ciphertext to its job, position and
identifier, so rows cannot be swapped. Nothing here logs or formats a secret.

The database records a fingerprint of the key that sealed each secret (a
hash, from which the key cannot be recovered). A process whose key differs,
or whose key file is gone, while secrets sealed under another key wait in the
vault refuses to start (`guard_key`) rather than making a new key that opens
nothing; `rotate` re-seals every secret under a new key in one transaction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.answers import ServiceError
from bot.storage import Database, Tx
from gpu_worker.i18n import N_, _
from gpu_worker.localized import Localized, phrase

KEY_BYTES = 32
ENV_VAR = "VANIKEYS_VAULT_KEY"
ROTATE_HINT = "`vanikeys vault rotate --old OLD_KEY_FILE --new NEW_KEY_FILE`"


GENERATE_KEY = "`python -c 'import secrets; print(secrets.token_hex(32))'`"


class VaultError(ServiceError):
    """The vault key is missing, malformed, or not the key these secrets were sealed with."""

    def __init__(self, message: str | Localized) -> None:
        super().__init__("vault_key", str(message))  # English: what is logged
        self.localized = message if isinstance(message, Localized) else None  # where a person reads it


def fingerprint(key: bytes) -> str:
    """A short, one-way name for a key: recorded in the database, shown in messages."""
    return hashlib.sha256(b"vanikeys-vault-fingerprint-v1|" + key).hexdigest()[:16]


def parse_vault_key(text: str, *, source: str = ENV_VAR) -> bytes:
    """32 bytes from 64 hex characters or urlsafe base64; `source` names where the text came from in errors."""
    text = text.strip()
    try:
        raw = (
            bytes.fromhex(text)
            if len(text) == 2 * KEY_BYTES
            else base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        )
    except (ValueError, binascii.Error):
        raw = b""

    def where() -> str:
        return source if source == ENV_VAR else _("the vault key file {path}", path=source)

    if len(raw) != KEY_BYTES:
        raise VaultError(
            Localized(
                lambda: _(
                    "{where} must hold 32 bytes as 64 hex characters or urlsafe base64: generate one with {command}",
                    where=where(),
                    command=GENERATE_KEY,
                )
            )
        )
    if not any(raw):
        raise VaultError(
            Localized(
                lambda: _(
                    "{where} is all zeros, a placeholder rather than a key: generate one with {command}",
                    where=where(),
                    command=GENERATE_KEY,
                )
            )
        )
    return raw


def read_key_file(path: Path) -> bytes | None:
    """The key in `path`, or None when there is no such file."""
    try:
        for _attempt in range(50):  # another process may be writing it this instant
            text = path.read_text().strip()
            if text:
                return parse_vault_key(text, source=str(path))
            time.sleep(0.02)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise VaultError(
            phrase(
                N_("the vault key file {path} is a directory: set {variable} to a file"),
                path=path,
                variable="VANIKEYS_VAULT_KEY_FILE",
            )
        ) from None
    except (PermissionError, UnicodeDecodeError) as exc:
        raise VaultError(
            phrase(
                N_("cannot read the vault key file {path} ({error}): let this user read it, or set {variable}"),
                path=path,
                error=type(exc).__name__,
                variable="VANIKEYS_VAULT_KEY",
            )
        ) from None
    raise VaultError(
        phrase(
            N_("the vault key file {path} is empty: restore it from backup or set {variable}"),
            path=path,
            variable="VANIKEYS_VAULT_KEY",
        )
    )


def create_key_file(path: Path) -> bytes:
    """A fresh key in a new file (mode 0600, exclusively: two processes racing agree on one key)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = read_key_file(path)
        assert key is not None
        return key
    except OSError as exc:
        raise VaultError(
            phrase(
                N_("cannot create the vault key file {path} ({error}): make its folder writable, or set {variables}"),
                path=path,
                error=exc.strerror,
                variables="VANIKEYS_VAULT_KEY_FILE / VANIKEYS_VAULT_KEY",
            )
        ) from None
    key = secrets.token_bytes(KEY_BYTES)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


def load_or_create_key_file(path: Path) -> bytes:
    """Read the key file, or create it."""
    key = read_key_file(path)
    return key if key is not None else create_key_file(path)


def load_key_argument(text: str, *, create: bool) -> bytes:
    """A key named on the command line: a key file's path (created when `create` and missing), or the key itself."""
    path = Path(text).expanduser()
    key = read_key_file(path) if path.exists() else None
    if key is not None:
        return key
    if create and not _looks_like_key(text):
        return create_key_file(path)
    if _looks_like_key(text):
        return parse_vault_key(text, source="the key given on the command line")
    raise VaultError(f"{text} is neither a vault key file nor a key: give the path of a key file")


def _looks_like_key(text: str) -> bool:
    try:
        parse_vault_key(text, source="-")
        return True
    except VaultError:
        return False


async def sealed_by_key(db: Database) -> dict[str | None, int]:
    """How many secrets wait sealed in the vault, by the fingerprint of the key that sealed them (None: not
    recorded)."""
    rows = await db.fetchall(
        "SELECT key_fingerprint, COUNT(*) AS n FROM vault WHERE ciphertext IS NOT NULL GROUP BY key_fingerprint"
    )
    return {r["key_fingerprint"]: int(r["n"]) for r in rows}


async def guard_key(db: Database, *, configured: bytes | None, key_file: Path) -> bytes:
    """The vault key to run with, checked against what the database's secrets were sealed with.

    configured: the key from VANIKEYS_VAULT_KEY (None: use `key_file`). A missing
    key file is created only for a SQLite database that records no key yet (on
    PostgreSQL never: every process must be given the same key). On both stores a
    key other than the recorded one is refused, even with nothing sealed. Refuses
    (VaultError, naming the file and the fix) rather than run with a key that
    cannot open what the vault holds. Records the key's fingerprint.
    """
    source = ENV_VAR if configured is not None else f"the vault key file {key_file}"
    key = configured if configured is not None else read_key_file(key_file)
    sealed = await sealed_by_key(db)
    waiting = sum(sealed.values())
    if key is None:
        if db.dialect != "sqlite":
            raise VaultError(
                f"no vault key: with VANIKEYS_DB on PostgreSQL set {ENV_VAR} (the same in every bot "
                f"process) or VANIKEYS_VAULT_KEY_FILE to an existing key file ({key_file} does not exist)"
            )
        recorded = await _recorded(db)
        known: list[str | None] = [fp for fp in sealed if fp is not None] or [recorded]
        if waiting:
            raise VaultError(
                f"the vault key file {key_file} is missing, and {waiting} undelivered secret(s) in {db.description} "
                f"were sealed with key {', '.join(fp for fp in known if fp) or '(unrecorded)'}: restore that file "
                f"from backup (or set {ENV_VAR} to that key); starting with a new key would lose them"
            )
        if recorded is not None:  # a key was in use here: a new one would silently part ways with it
            raise VaultError(
                f"the vault key file {key_file} is missing, and {db.description} records the vault key {recorded}: "
                f"restore that file from backup (or set {ENV_VAR} to that key), or change keys with {ROTATE_HINT}"
            )
        key = create_key_file(key_file)
    mine = fingerprint(key)
    foreign = {fp: n for fp, n in sealed.items() if fp is not None and fp != mine}
    if foreign:
        count = sum(foreign.values())
        raise VaultError(
            f"{source} (key {mine}) is not the key that sealed {count} undelivered secret(s) in {db.description} "
            f"(key {', '.join(foreign)}): restore that key, or re-seal them under this one with {ROTATE_HINT}"
        )
    if None in sealed:
        await _stamp_unrecorded(db, key, source)
    recorded = await _recorded(db)
    if recorded is not None and recorded != mine:
        # Another process may be sealing under the recorded key right now (a second bot on the same SQLite
        # file, or any peer on PostgreSQL), even when nothing waits sealed yet.
        raise VaultError(
            f"{source} (key {mine}) is not the vault key {db.description} records ({recorded}), which every bot "
            f"process sharing it must use: set {ENV_VAR} to that key, or change keys for all with {ROTATE_HINT}"
        )
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO vault_meta (name, value) VALUES ('key_fingerprint', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (mine,),
        )
    return key


async def _recorded(db: Database) -> str | None:
    row = await db.fetchone("SELECT value FROM vault_meta WHERE name = 'key_fingerprint'")
    return None if row is None else row["value"]


async def _stamp_unrecorded(db: Database, key: bytes, source: str) -> None:
    """Secrets sealed before fingerprints were recorded: prove they open with this key, then record it."""
    aead, mine = AESGCM(key), fingerprint(key)
    async with db.transaction() as tx:
        rows = await tx.fetchall(
            "SELECT job_id, position, identifier, nonce, ciphertext FROM vault "
            "WHERE ciphertext IS NOT NULL AND key_fingerprint IS NULL"
        )
        for row in rows:
            try:
                aead.decrypt(
                    bytes(row["nonce"]),
                    bytes(row["ciphertext"]),
                    Vault.aad(row["job_id"], row["position"], row["identifier"]),
                )
            except InvalidTag:
                raise VaultError(
                    f"{source} (key {mine}) does not open {len(rows)} undelivered secret(s) sealed before key "
                    f"fingerprints were recorded: restore the key they were sealed with, then re-seal with "
                    f"{ROTATE_HINT} if you want to change it"
                ) from None
        await tx.execute(
            "UPDATE vault SET key_fingerprint = ? WHERE ciphertext IS NOT NULL AND key_fingerprint IS NULL", (mine,)
        )


async def rotate(db: Database, old: bytes, new: bytes) -> int:
    """Re-seal every waiting secret from `old` to `new` in one transaction; returns how many moved.

    Secrets already under `new` are left as they are (a second run changes nothing);
    any secret under neither key aborts the whole rotation with nothing changed.
    """
    old_fp, new_fp = fingerprint(old), fingerprint(new)
    if old_fp == new_fp:
        raise VaultError("--old and --new are the same key: nothing to re-seal")
    old_aead, new_aead = AESGCM(old), AESGCM(new)
    moved = 0
    async with db.transaction() as tx:
        rows = await tx.fetchall(
            "SELECT job_id, position, identifier, nonce, ciphertext, key_fingerprint FROM vault "
            "WHERE ciphertext IS NOT NULL ORDER BY job_id, position"
        )
        for row in rows:
            if row["key_fingerprint"] == new_fp:
                continue
            if row["key_fingerprint"] not in (old_fp, None):
                raise VaultError(
                    f"a secret of job {row['job_id']} was sealed with key {row['key_fingerprint']}, "
                    f"neither --old ({old_fp}) nor --new ({new_fp}): nothing was changed"
                )
            aad = Vault.aad(row["job_id"], row["position"], row["identifier"])
            try:
                plain = old_aead.decrypt(bytes(row["nonce"]), bytes(row["ciphertext"]), aad)
            except InvalidTag:
                raise VaultError(
                    f"a secret of job {row['job_id']} does not open with --old (key {old_fp}): "
                    "give the key it was sealed with; nothing was changed"
                ) from None
            nonce = secrets.token_bytes(12)
            await tx.execute(
                "UPDATE vault SET nonce = ?, ciphertext = ?, key_fingerprint = ? WHERE job_id = ? AND position = ?",
                (nonce, new_aead.encrypt(nonce, plain, aad), new_fp, row["job_id"], row["position"]),
            )
            moved += 1
        await tx.execute(
            "INSERT INTO vault_meta (name, value) VALUES ('key_fingerprint', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (new_fp,),
        )
    return moved


@dataclass(frozen=True)
class SealedSecret:
    """One opened vault entry: a job's secret at `position`, with the identifier it gives; repr() hides the secret."""

    job_id: str
    position: int
    identifier: str
    secret_kind: str  # "private_key" | "offset"
    secret: int

    def __repr__(self) -> str:
        return (
            f"SealedSecret(job_id={self.job_id!r}, position={self.position}, "
            f"identifier={self.identifier!r}, secret=<redacted>)"
        )

    __str__ = __repr__


class Vault:
    """Found secrets sealed with AES-256-GCM under the vault key, bound to their job, position and identifier.

    VaultError if `key` is not 32 bytes. Delivered secrets are purged `grace_s` seconds after delivery.
    """

    def __init__(self, db: Database, key: bytes, *, grace_s: float) -> None:
        if len(key) != KEY_BYTES:
            raise VaultError("the vault key must be 32 bytes")
        self.db = db
        self._aead = AESGCM(key)
        self.fingerprint = fingerprint(key)
        self.grace_s = grace_s

    def __repr__(self) -> str:
        return "Vault(<key redacted>)"

    @staticmethod
    def aad(job_id: str, position: int, identifier: str) -> bytes:
        """The associated data that binds a ciphertext to its job, position and identifier (a swapped row fails to
        open).
        """
        return f"vanikeys-vault-v1|{job_id}|{position}|{identifier}".encode()

    async def store(self, tx: Tx, job_id: str, position: int, identifier: str, secret_kind: str, secret: int) -> None:
        """Seal `secret` (a fresh 96-bit nonce) and insert it in `tx`, with the job and the key's fingerprint."""
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, secret.to_bytes(32, "big"), self.aad(job_id, position, identifier))
        await tx.execute(
            "INSERT INTO vault (job_id, position, identifier, secret_kind, nonce, ciphertext, key_fingerprint, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, position, identifier, secret_kind, nonce, sealed, self.fingerprint, time.time()),
        )

    async def issued_elsewhere(self, tx: Tx, job_id: str, identifiers: list[str]) -> list[str]:
        """Those of `identifiers` the vault has held for another job (purged rows keep their identifier).

        A fresh CSPRNG start per job makes a repeat impossible by chance; one means a
        replayed or forged grinder result, and a key two people hold is worth nothing.
        """
        repeated = [i for n, i in enumerate(identifiers) if i in identifiers[:n]]
        for identifier in dict.fromkeys(identifiers):
            if await tx.fetchone(
                "SELECT 1 FROM vault WHERE identifier = ? AND job_id != ? LIMIT 1", (identifier, job_id)
            ):
                repeated.append(identifier)
        return repeated

    async def open_job(self, job_id: str) -> list[SealedSecret]:
        """The job's secrets, decrypted, in position order; empty once purged."""
        rows = await self.db.fetchall(
            "SELECT position, identifier, secret_kind, nonce, ciphertext, key_fingerprint FROM vault "
            "WHERE job_id = ? AND ciphertext IS NOT NULL ORDER BY position",
            (job_id,),
        )
        opened: list[SealedSecret] = []
        for row in rows:
            sealed_by = row["key_fingerprint"]
            try:
                plain = self._aead.decrypt(
                    bytes(row["nonce"]), bytes(row["ciphertext"]), self.aad(job_id, row["position"], row["identifier"])
                )
            except InvalidTag:
                raise VaultError(
                    f"a vault entry was sealed with key {sealed_by or '(unrecorded)'}, not this process's "
                    f"key {self.fingerprint}: give every bot process the same VANIKEYS_VAULT_KEY "
                    f"(or key file), or re-seal with {ROTATE_HINT}"
                ) from None
            opened.append(
                SealedSecret(
                    job_id, row["position"], row["identifier"], row["secret_kind"], int.from_bytes(plain, "big")
                )
            )
        return opened

    async def mark_delivered(self, tx: Tx, job_id: str, at: float) -> None:
        """Record in `tx` that the job's secrets reached their owner at `at` (only the first delivery counts)."""
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
