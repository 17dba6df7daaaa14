"""Private delivery of found keys through the front end of the user's platform.

The service asks; the front end answers whether the message went out. A
front end that raises counts as "not delivered" (the key stays in the vault
for /keys). Only the exception's type is logged, never its text, which could
quote the message being sent.
"""

from __future__ import annotations

import logging

from bot.answers import DeliveredSecret, KeyDelivery
from bot.job_records import JobRecord
from bot.ports import FrontEnd
from bot.vault import SealedSecret
from gpu_worker.formats import get_format
from gpu_worker.i18n import N_, _

log = logging.getLogger(__name__)

KEYS_HINT = N_("send {cmd_keys} in a private chat with the bot (open your DMs first) to get it")


def combine_note(format_id: str, offset_hex: str, identifier: str) -> str:
    """The note for a split-key delivery: the secret is an offset, and the `vanikeys combine` command that makes the
    key."""
    command = " ".join(
        (
            "vanikeys combine",
            format_id,
            "--private-key YOUR_SECRET_HEX --offset",
            offset_hex,
            "--identifier",
            identifier,
        )
    )
    return _(
        "Split-key order: this is an offset, not a private key. Your private key is your own secret plus this "
        "offset; compute it on your machine: {command}",
        command=command,
    )


def import_note(format_id: str) -> str:
    """The note for a private key of `format_id`: keep it secret, and how to import it into that format's wallets."""
    fmt = get_format(format_id)
    how = {
        "btc": N_("import the WIF into a Bitcoin wallet (compressed key, P2PKH)"),
        "did": N_("use the hex secret or the JWK with your DID tooling"),
        "eth": N_("import the hex private key into an Ethereum wallet"),
        "trx": N_("import the hex private key into a TRON wallet"),
    }.get(fmt.id, N_("import the secret into your wallet"))
    return _(
        "Keep this secret; anyone with it controls the {title} identifier. To use it: {how}.",
        title=fmt.title,
        how=_(how),
    )


def build_delivery(record: JobRecord, secrets: list[SealedSecret]) -> KeyDelivery:
    """The private message for a job's opened secrets, best first like the reveal, with the note on how to use them."""
    fmt = get_format(record.spec.format_id)
    shown = record.shown_keys
    items: list[DeliveredSecret] = []

    def rank(sealed: SealedSecret) -> tuple[float, int, int]:  # best first, like the reveal
        key = shown[sealed.position] if sealed.position < len(shown) else None
        return (-key.one_in_pulls, -key.score, sealed.position) if key else (0.0, 0, sealed.position)

    for sealed in sorted(secrets, key=rank):
        key = shown[sealed.position] if sealed.position < len(shown) else None
        score, max_score, tier = (key.score, key.max_score, key.tier) if key else (0, 0, "")
        if sealed.secret_kind == "offset":
            items.append(
                DeliveredSecret(
                    sealed.identifier,
                    "offset",
                    "hex",
                    f"{sealed.secret:064x}",
                    None,
                    score=score,
                    max_score=max_score,
                    tier=tier,
                )
            )
        else:
            export = fmt.export_secret(sealed.secret)
            items.append(
                DeliveredSecret(
                    sealed.identifier,
                    "private_key",
                    export.kind,
                    export.value,
                    export.jwk,
                    score=score,
                    max_score=max_score,
                    tier=tier,
                )
            )
    if items and items[0].secret_kind == "offset":
        note = combine_note(fmt.id, items[0].value, items[0].identifier)
    else:
        note = import_note(fmt.id)
    return KeyDelivery(
        job_id=record.job_id,
        kind="order" if record.spec.kind == "order" else "pull",
        format_id=fmt.id,
        pattern=record.spec.pattern,
        secrets=tuple(items),
        note=note,
    )


class Delivery:
    """The front ends by platform, and the one step that sends a job's secrets to its owner privately."""

    def __init__(self) -> None:
        self.frontends: dict[str, FrontEnd] = {}

    def register(self, frontend: FrontEnd) -> None:
        """Make `frontend` the one that delivers to people on its platform (replacing any earlier one)."""
        self.frontends[frontend.platform] = frontend

    def frontend_for(self, platform: str) -> FrontEnd | None:
        """The front end registered for `platform`, or None."""
        return self.frontends.get(platform)

    async def deliver(self, record: JobRecord, secrets: list[SealedSecret]) -> bool | None:
        """Send the job's secrets to its owner through the owner's platform's front end; never raises.

        True: sent. False: the front end could not (or failed; logged without the secret). None: no front end of
        that platform is registered, or it cannot reach that person at all; nothing was attempted.
        """
        frontend = self.frontends.get(record.spec.user.platform)
        if frontend is None:
            return None
        delivery = build_delivery(record, secrets)
        try:
            sent = await frontend.deliver_private(record.spec.user, delivery)
            # None: this front end cannot reach that person at all (the console is one person's screen):
            # nothing was attempted, the key is offered again when their own front end runs
            return None if sent is None else bool(sent)
        except Exception as exc:
            log.warning(
                "job %s: private delivery failed on %s: %s", record.job_id, frontend.platform, type(exc).__name__
            )
            return False
