"""`vanikeys vault rotate`: re-seal every waiting secret under a new vault key."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from bot.cli_commands import settings

if TYPE_CHECKING:
    from bot.config import Settings


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `vault rotate` (re-seal the waiting secrets under a new key) to the subcommands."""
    vault_cmd = commands.add_parser("vault", description="Manage the vault key.")
    vault_actions = vault_cmd.add_subparsers(dest="vault_action", required=True, metavar="ACTION")
    rotate_cmd = vault_actions.add_parser(
        "rotate",
        help="re-seal every waiting secret from the old key to the new one, in one transaction",
        description="Re-seal every undelivered secret in VANIKEYS_DB from --old to --new in one transaction. "
        "Each is a key file's path (--new is created with a fresh key when it does not exist) or a key.",
    )
    rotate_cmd.add_argument("--old", required=True, metavar="KEY_FILE", help="the key the secrets are sealed with")
    rotate_cmd.add_argument("--new", required=True, metavar="KEY_FILE", help="the key to seal them with")
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
    where = "VANIKEYS_VAULT_KEY" if settings.vault_key else f"the key file {settings.resolved_vault_key_file}"
    print(
        f"re-sealed {moved} secret(s) in {db.description} under key {fingerprint(new)}: now replace {where} "
        f"with the new key ({new_text}) in every bot process, then start the bot"
    )
    return 0
