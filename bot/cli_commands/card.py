"""`vanikeys card`: a reveal card (PNG) for an identifier and a pattern, never a secret."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cli_commands import fail, settings
from gpu_worker.cli import FORMATS_HELP
from gpu_worker.humanize import tier_name
from gpu_worker.i18n import _


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `card` (score an identifier against a pattern and draw its card) to the subcommands."""
    card_cmd = commands.add_parser(
        "card",
        description=_(
            "Score IDENTIFIER against PATTERN, rate it as the best of one pull, and draw its card (never a secret)."
        ),
    )
    card_cmd.add_argument("format", metavar="FORMAT", help=_(FORMATS_HELP))
    card_cmd.add_argument("identifier", metavar="IDENTIFIER", help=_("the address or DID"))
    card_cmd.add_argument("pattern", metavar="PATTERN", help=_("the pattern, e.g. ^Love"))
    card_cmd.add_argument(
        "--out", metavar="FILE", help=_("where to write the PNG (default: a name from the identifier)")
    )
    card_cmd.add_argument("--exact-case", action="store_true", help=_("match letters in exact case"))
    card_cmd.add_argument("--fuzzy", action="store_true", help=_("accept look-alike characters"))
    card_cmd.add_argument("--community", default="", metavar="NAME", help=_("a server name for the card's footer"))
    card_cmd.set_defaults(func=cmd_card)


def cmd_card(args: argparse.Namespace) -> int:
    """Run `vanikeys card`: write the PNG and print where; 0 on success, 2 with one line for bad input."""
    from bot.answers import ServiceError
    from bot.cards import use_font
    from bot.service import card_for_identifier

    config = settings()
    use_font(config.card_font)
    try:
        card = card_for_identifier(
            args.format,
            args.identifier,
            args.pattern,
            pull_keys=config.pull_budget,
            exact_case=args.exact_case,
            fuzzy=args.fuzzy,
            community_title=args.community.strip()[:60],
        )
    except ServiceError as exc:
        return fail(exc.message)
    out = Path(args.out) if args.out else Path(card.filename)
    try:
        out.write_bytes(card.png)
    except OSError as exc:
        return fail(_("cannot write {path}: {reason}", path=out, reason=exc.strerror or type(exc).__name__))
    key = card.key
    tier = tier_name(key.tier)
    rated = _("{tier}, full match", tier=tier) if key.full else tier
    print(f"{out}: {key.identifier} {key.score}/{key.max_score} {rated}, {card.width}x{card.height} PNG")
    return 0
