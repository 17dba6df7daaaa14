"""`vanikeys vault rotate`: re-seal every waiting secret under a new vault key."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from bot.cli_commands import settings
from gpu_worker.i18n import _, ngettext

if TYPE_CHECKING:
    from bot.config import Settings


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `vault rotate` (re-seal the waiting secrets under a new key) to the subcommands."""
    vault_cmd = commands.add_parser("vault", description=_("Manage the vault key."))
    vault_actions = vault_cmd.add_subparsers(dest="vault_action", required=True, metavar="ACTION")
    rotate_cmd = vault_actions.add_parser(
        "rotate",
        help=_("re-seal every waiting secret from the old key to the new one, in one transaction"),
        description=_(
            "Re-seal every undelivered secret in VANIKEYS_DB from --old to --new in one transaction. "
            "Each is a key file's path (--new is created with a fresh key when it does not exist) or a key."
        ),
    )
    rotate_cmd.add_argument("--old", required=True, metavar="KEY_FILE", help=_("the key the secrets are sealed with"))
    rotate_cmd.add_argument("--new", required=True, metavar="KEY_FILE", help=_("the key to seal them with"))
    rotate_cmd.set_defaults(func=cmd_vault_rotate)


def cmd_vault_rotate(args: argparse.Namespace) -> int:
    """Run `vanikeys vault rotate --old --new`: re-seal every undelivered secret in one transaction."""
    from bot.storage.opening import storage_faults_answered

    with storage_faults_answered():
        return asyncio.run(_vault_rotate(settings(), args.old, args.new))


async def _vault_rotate(settings: Settings, old_text: str, new_text: str) -> int:
    from bot.storage.opening import open_configured
    from bot.vault import fingerprint, load_key_argument, rotate

    old = load_key_argument(old_text, create=False)
    new = load_key_argument(new_text, create=True)
    db = await open_configured(settings)
    try:
        moved = await rotate(db, old, new)
    finally:
        await db.close()
    where = (
        "VANIKEYS_VAULT_KEY" if settings.vault_key else _("the key file {path}", path=settings.resolved_vault_key_file)
    )
    print(
        ngettext(
            "re-sealed {n} secret in {db} under key {fingerprint}: now replace {where} with the new key ({key}) "
            "in every bot process, then start the bot",
            "re-sealed {n} secrets in {db} under key {fingerprint}: now replace {where} with the new key ({key}) "
            "in every bot process, then start the bot",
            moved,
            db=db.description,
            fingerprint=fingerprint(new),
            where=where,
            key=new_text,
        )
    )
    return 0
