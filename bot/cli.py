"""The `vanikeys` command: the engine's subcommands (grind, odds, combine, bench) plus the bot's.

    vanikeys bot                                   every configured front end (console when none is)
    vanikeys console [--user NAME] [--community NAME] [--json]
    vanikeys vault rotate --old OLD_KEY_FILE --new NEW_KEY_FILE   re-seal every waiting secret under a new key
    vanikeys card FORMAT IDENTIFIER PATTERN [--out FILE]   a reveal card (PNG) for an identifier
    vanikeys admin ...                             the operator's command line (bot/admin.py)
    vanikeys backup DEST / restore SRC             backups that restore (bot/backup.py)
    vanikeys costs [--days N]                      GPU cost per pull and order beside revenue
    vanikeys doctor [--json]                       check every configured dependency live (bot/doctor)

Each command lives in a module of its own (bot/cli_commands/, or the module it administers), named
below with its one-line help: `vanikeys --help` imports none of them, and a command imports only its
own. To add one, write its module with a function that adds its parser, and list it here.
What a person reads is in the terminal's language (gpu_worker/cli.py says how it is chosen).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gpu_worker.cli import Command, build_parser, run_in_terminal_language
from gpu_worker.i18n import N_

BOT_COMMANDS = (
    Command(
        "bot",
        N_("run the bot: Discord and/or Telegram when their tokens are set, else the console"),
        "bot.cli_commands.run:add_parser",
    ),
    Command("console", N_("use the bot from this terminal (or a pipe)"), "bot.cli_commands.console:add_parser"),
    Command("vault", N_("manage the vault of undelivered private keys"), "bot.cli_commands.vault:add_parser"),
    Command(
        "card", N_("render a reveal card (PNG) for an identifier and a pattern"), "bot.cli_commands.card:add_parser"
    ),
    Command("admin", N_("the operator's command line (see: vanikeys admin --help)"), "bot.admin:add_admin_commands"),
    Command(
        "backup",
        N_("copy the database while the bot runs, with the vault key's fingerprint"),
        "bot.backup:add_backup_commands",
    ),
    Command(
        "restore", N_("restore a backup, refusing a vault key that does not match"), "bot.backup:add_backup_commands"
    ),
    Command(
        "costs", N_("GPU cost per pull and per order, by provider, beside revenue"), "bot.cli_commands.costs:add_parser"
    ),
    Command(
        "doctor", N_("check every configured dependency live, with each fix"), "bot.cli_commands.doctor:add_parser"
    ),
)


def main(argv: Sequence[str] | None = None) -> int:
    """The `vanikeys` command: the engine's commands plus the bot's; returns the exit code."""
    return run_in_terminal_language(lambda: build_parser(lazy=BOT_COMMANDS), argv)


if __name__ == "__main__":
    sys.exit(main())
