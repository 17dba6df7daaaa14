"""`vanikeys doctor`: every configured dependency checked live, one line each with its fix (bot/doctor)."""

from __future__ import annotations

import argparse

from gpu_worker.i18n import _


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `doctor` (check every configured service, one line each) to the subcommands."""
    doctor_cmd = commands.add_parser(
        "doctor",
        description=_(
            "Check the chat tokens, Stripe, the GPU providers, storage, the vault key, free disk and the clock: "
            "one line each (bot/doctor)."
        ),
    )
    doctor_cmd.add_argument("--json", action="store_true", help=_("one JSON object per check (English, for scripts)"))
    doctor_cmd.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    """Run `vanikeys doctor` (bot/doctor); its exit code."""
    from bot.doctor import cmd_doctor as doctor

    return doctor(args)
