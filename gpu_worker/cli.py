"""The engine's command line: grind, odds, combine (and bench, from the kernel build).

This interface is stable: scripts and the bot build on it. `build_parser(extra, lazy)`
lets bot/cli.py add its own subcommands to the same `vanikeys` command; `run`
turns every mistake a person can make into exit status 2 and one line on
stderr, never a traceback.

What a person reads (help, results, error lines) is in the terminal's language
(gpu_worker/terminal_language.py: VANIKEYS_LANGUAGE, then LANGUAGE, LC_ALL,
LC_MESSAGES, LANG), decided once as `main` starts. What a script reads stays
English and byte-stable whatever the language: every `--json` output, the
`vanikeys: error:` prefix and the exit codes (docs/i18n.md).

A command starts at once: `vanikeys --help` imports none of the engine, and each
subcommand's parser and code are imported only when that subcommand runs (`Command`
entries, loaded by `LazySubcommands`). That is why the engine's modules are imported
inside the functions below, not at the top.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, cast

from .errors import VanikeysError
from .i18n import DEFAULT, N_, _, gettext_now, use_locale
from .numbers import parse_count, parse_decimal, parse_int

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from .formats import AddressFormat
    from .grinders.base import GrindProgress
    from .job import GrindHit, GrindJob, GrindResult
    from .patterns import Pattern

PROG = "vanikeys"
DEFAULT_PULL_BUDGET = 1_000_000
DEFAULT_ORDER_BUDGET = 1 << 50  # "until found": the time limit is what ends an order from the command line

AddSubcommands = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


class UsageError(Exception):
    """argparse found a mistake on the command line (instead of printing usage and exiting)."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors raise UsageError (one line and a --help hint) instead of exiting."""

    def error(self, message: str) -> NoReturn:
        """Raise UsageError with `message` and where to find help; never returns."""
        raise UsageError(_("{message} (see: {command} --help)", message=message, command=self.prog))


class Command(NamedTuple):
    """A subcommand that `vanikeys --help` lists by name and help alone.

    adder: a function, or "module:function" to import, that (given the subparsers action) adds
    this command's parser; it may add other commands that share the same adder. It is called
    (and its module imported) only when one of those commands is on the command line.
    """

    name: str
    help: str  # marked with N_: shown in the terminal's language
    adder: str | AddSubcommands


class LazySubcommands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Subparsers whose `Command` entries are stubs until chosen: then their module adds the real parser."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy: dict[str, Command] = {}

    def add_lazy(self, command: Command) -> None:
        """Register `command` by name and help only; its module is imported when the command is chosen."""
        self.add_parser(
            command.name, help=gettext_now(command.help)
        )  # a placeholder: only its name and help are ever shown
        self._lazy[command.name] = command

    def load(self, name: str) -> None:
        """Replace the placeholder for `name` with the real parser its module adds; unknown or loaded names: no-op."""
        command = self._lazy.get(name)
        if command is None:
            return
        adder = command.adder
        if isinstance(adder, str):
            module, _, function = adder.partition(":")
            adder = getattr(importlib.import_module(module), function)
        names = {n for n, c in self._lazy.items() if c.adder == command.adder}
        for n in names:  # argparse refuses a second parser of the same name: the placeholders go first
            del self._lazy[n], self._name_parser_map[n]
        self._choices_actions = [a for a in self._choices_actions if a.dest not in names]
        adder(self)
        missing = names - set(self._name_parser_map)
        if missing:
            raise RuntimeError(f"{command.adder} did not add the command(s) {', '.join(sorted(missing))}")

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        """argparse's hook when a subcommand is chosen: load it if lazy, then parse the rest with its parser."""
        self.load(values[0])
        super().__call__(parser, namespace, values, option_string)


# -- argument types ---------------------------------------------------------------
# Every number on the command line goes through gpu_worker.numbers: ASCII digits, bounded, one line when wrong.

MIN_TIME_LIMIT_S = 0.001


def key_count(text: str) -> int:
    """A number of keys: 200000, 200_000, 200k, 1.5M, 1e6 or 2^28 (at most MAX_BUDGET)."""
    from .job import MAX_BUDGET

    return parse_count(text, what=_("--budget, the number of keys"), minimum=1, maximum=MAX_BUDGET)


def top_count(text: str) -> int:
    """The --top argument as an int from 1 to MAX_TOP; VanikeysError("bad_number") names the range otherwise."""
    from .job import MAX_TOP

    return parse_int(text, what=_("--top, how many of the best keys to show"), minimum=1, maximum=MAX_TOP)


def seconds(text: str) -> float:
    """The --time-limit argument in seconds within the grinder's limits; VanikeysError("bad_number") otherwise."""
    from .job import MAX_TIME_LIMIT_S

    return parse_decimal(text, what=_("--time-limit in seconds"), minimum=MIN_TIME_LIMIT_S, maximum=MAX_TIME_LIMIT_S)


def bench_seconds(text: str) -> float:
    """`vanikeys bench --seconds`: per measurement, up to an hour."""
    return parse_decimal(text, what=_("--seconds per measurement"), minimum=0.01, maximum=3600)


def console(*, stderr: bool = False) -> Console:
    """Rich output that prints identifiers, patterns and keys verbatim.

    Rich's defaults would read ':key:' in 'did:key:' as an emoji code and
    '[...]' as markup: both off, and no automatic highlighting.
    """
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, markup=False, emoji=False, soft_wrap=True)


# -- the parser -------------------------------------------------------------------


def build_parser(extra: AddSubcommands | None = None, lazy: Iterable[Command] = ()) -> argparse.ArgumentParser:
    """The `vanikeys` parser: the engine's commands, then `lazy` ones, then those `extra` adds at once."""
    parser = OneLineArgumentParser(
        prog=PROG, description=_("Vanity keys for Bitcoin, did:key, Ethereum and TRON: grind, odds, combine.")
    )
    commands = cast(
        LazySubcommands, parser.add_subparsers(title=_("commands"), metavar="COMMAND", action=LazySubcommands)
    )
    for command in (*ENGINE_COMMANDS, *lazy):
        commands.add_lazy(command)
    if extra is not None:
        extra(commands)
    return parser


def _add_pattern_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("format", metavar="FORMAT", help=_(FORMATS_HELP))
    command.add_argument(
        "pattern",
        metavar="PATTERN",
        help=_("terms found in order; ^ anchors the start, $ the end, ? is any character"),
    )
    command.add_argument("--exact-case", action="store_true", help=_("match letter case exactly (base58 formats)"))
    command.add_argument(
        "--fuzzy", action="store_true", help=_("also accept look-alikes: 0/o 1/i/l 3/e 4/a 5/s 7/t 8/b")
    )


FORMATS_HELP = N_("btc, did, eth or trx")


def _add_grind(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from .grinders.base import BACKEND_NAMES
    from .i18n import number
    from .job import MAX_TIME_LIMIT_S, MAX_TOP

    grind_cmd = commands.add_parser("grind", description=_("Grind keys for a pattern."))
    _add_pattern_options(grind_cmd)
    grind_cmd.add_argument(
        "--budget",
        type=key_count,
        help=_("keys to check (default {keys}; unlimited with --stop full)", keys=number(DEFAULT_PULL_BUDGET)),
    )
    grind_cmd.add_argument(
        "--stop",
        choices=("budget", "full"),
        default="budget",
        help=_("budget: best of the budget; full: until a full match"),
    )
    grind_cmd.add_argument(
        "--top", type=top_count, default=1, help=_("how many of the best keys to show (1-{most})", most=MAX_TOP)
    )
    grind_cmd.add_argument(
        "--backend", choices=BACKEND_NAMES, default="auto", help=_("where to grind (default: the fastest here)")
    )
    grind_cmd.add_argument(
        "--split-pubkey", metavar="HEX", help=_("your public key: grind offsets you add to your own private key")
    )
    grind_cmd.add_argument(
        "--time-limit",
        type=seconds,
        default=float(MAX_TIME_LIMIT_S),
        metavar="SECONDS",
        help=_("stop after this long"),
    )
    grind_cmd.add_argument(
        "--json", action="store_true", help=_("print the result object (docs/design.md) on stdout, in English")
    )
    grind_cmd.set_defaults(func=cmd_grind)


def _add_odds(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from .i18n import number

    odds_cmd = commands.add_parser("odds", description=_("The odds of a pattern."))
    _add_pattern_options(odds_cmd)
    odds_cmd.add_argument(
        "--budget",
        type=key_count,
        default=DEFAULT_PULL_BUDGET,
        help=_("keys in one pull (default {keys})", keys=number(DEFAULT_PULL_BUDGET)),
    )
    odds_cmd.add_argument("--json", action="store_true", help=_(JSON_HELP))
    odds_cmd.set_defaults(func=cmd_odds)


def _add_combine(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    combine_cmd = commands.add_parser(
        "combine", description=_("Add a split-key offset to your private key, on your own machine.")
    )
    combine_cmd.add_argument("format", metavar="FORMAT", help=_(FORMATS_HELP))
    combine_cmd.add_argument(
        "--private-key",
        required=True,
        metavar="HEX",
        help=_("your private key (64 hex digits; WIF for btc; - reads it from stdin)"),
    )
    combine_cmd.add_argument(
        "--offset", required=True, metavar="HEX", help=_("the offset the grinder returned (64 hex digits)")
    )
    combine_cmd.add_argument(
        "--identifier", metavar="ID", help=_("the identifier the grinder returned, to check against")
    )
    combine_cmd.add_argument("--json", action="store_true", help=_(JSON_HELP))
    combine_cmd.set_defaults(func=cmd_combine)


JSON_HELP = N_("print the result as JSON (English, for scripts)")


ENGINE_COMMANDS = (
    Command("grind", N_("grind keys and show the best match"), _add_grind),
    Command("odds", N_("how likely a pattern is"), _add_odds),
    Command("combine", N_("split-key: your private key + the offset found = your vanity key"), _add_combine),
    # the kernel build's `bench` command
    *(
        [Command("bench", N_("measure keys per second per backend and format"), "gpu_worker.bench:add_parser")]
        if importlib.util.find_spec("gpu_worker.bench") is not None
        else []
    ),
)


# -- running ----------------------------------------------------------------------


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse and dispatch; bad input of any kind is exit status 2 and one line on stderr.

    A command given --json runs in English from there on: its output is for scripts, the same in every language."""
    try:
        args = parser.parse_args(argv)
        func = getattr(args, "func", None)
        if func is None:
            raise UsageError(_("choose a command (see: {command} --help)", command=parser.prog))
        if getattr(args, "json", False) is True:
            with use_locale(DEFAULT):
                return int(func(args))
        return int(func(args))
    except (UsageError, VanikeysError) as exc:
        _error_line(parser.prog, str(exc))
        return 2
    except KeyboardInterrupt:
        _error_line(parser.prog, _("interrupted"))
        return 130
    except SystemExit as exc:  # --help and --version end here
        return exc.code if isinstance(exc.code, int) else 0


def _error_line(prog: str, message: str) -> None:
    one_line = " ".join(message.split())
    print(f"{prog}: error: {one_line}", file=sys.stderr)  # the prefix stays English: scripts look for it


def run_in_terminal_language(
    make_parser: Callable[[], argparse.ArgumentParser], argv: Sequence[str] | None = None
) -> int:
    """Decide the language once, from the terminal's environment, then build the parser and `run` in it.

    The locale is set for this call only (a context variable), so a test calling `main` leaves none behind."""
    from .terminal_language import terminal_locale

    with use_locale(terminal_locale()), _argparse_words_translated():
        return run(make_parser(), argv)


# argparse's own words: the usage line, its section titles, -h's help and its parse errors. argparse looks each up
# through its module's `_` (the standard library's gettext, which has no catalog for them); while `vanikeys` runs,
# that `_` is our catalogs' (English: the words themselves), so a help screen or an error is in one language.
# Their %-placeholders are argparse's: translations keep them (tests/engine/test_cli.py formats each one).
ARGPARSE_WORDS = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("unexpected option string: %s"),
    N_("ignored explicit argument %r"),
    N_("one of the arguments %s is required"),
    N_("not allowed with argument %s"),
)


@contextmanager
def _argparse_words_translated() -> Iterator[None]:
    """argparse's `_` looks its words up in the current locale for the duration of the block."""
    module = vars(argparse)
    saved = module["_"]
    module["_"] = gettext_now
    try:
        yield
    finally:
        module["_"] = saved


def main(argv: Sequence[str] | None = None) -> int:
    """The engine-only command (`python -m gpu_worker.cli`); the `vanikeys` script adds the bot's commands."""
    return run_in_terminal_language(build_parser, argv)


# -- grind ------------------------------------------------------------------------


def cmd_grind(args: argparse.Namespace) -> int:
    """Run `vanikeys grind`: grind one job locally and print its best keys; returns the exit code (0: done)."""
    from .grinders.base import grind
    from .job import GrindJob

    budget = (
        args.budget
        if args.budget is not None
        else (DEFAULT_ORDER_BUDGET if args.stop == "full" else DEFAULT_PULL_BUDGET)
    )
    fields: dict[str, Any] = {
        "v": 1,
        "format": args.format,
        "pattern": args.pattern,
        "case": "exact" if args.exact_case else "insensitive",
        "fuzzy": args.fuzzy,
        "budget": budget,
        "stop": args.stop,
        "top": args.top,
        "split_pubkey": args.split_pubkey,
        "time_limit_s": args.time_limit,
    }
    job = GrindJob.parse(fields)
    if args.json:
        result = grind(job, args.backend)
        print(result.model_dump_json())
        return 0
    err = console(stderr=True)
    if err.is_terminal:
        result = _grind_with_progress(job, args.backend, err)
    else:
        result = grind(job, args.backend)
    _print_result(job, result, console())
    return 0


def _grind_with_progress(job: GrindJob, backend: str, err: Console) -> GrindResult:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .grinders.base import grind
    from .odds import odds

    expected = odds(job.compiled()).expected_keys
    total = job.budget if job.stop == "budget" else None
    columns = [
        TextColumn("[bold]{grinding}[/]".format(grinding=_("grinding"))),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("grind", total=total, status=_("starting"))

        def report(progress: GrindProgress) -> None:
            bar.update(task, completed=progress.checked, status=_progress_status(job, progress, expected))

        return grind(job, backend, progress=report)


def _progress_status(job: GrindJob, progress: GrindProgress, expected_keys: float) -> str:
    from .humanize import duration
    from .i18n import ngettext, number

    rate = progress.keys_per_s
    best = "-" if progress.best_score is None else f"{progress.best_score}/{progress.max_score}"
    status = ngettext(
        "{n} key · {rate}/s · best {best}",
        "{n} keys · {rate}/s · best {best}",
        progress.checked,
        rate=number(round(rate)),
        best=best,
    )
    if rate <= 0:
        return status
    if job.stop == "budget":
        eta = duration((progress.budget - progress.checked) / rate, short=True)
        return status + " · " + _("ETA {time}", time=eta)
    # Each key is a fresh chance: the expected wait is measured from the start, then "any moment".
    remaining = expected_keys - progress.checked
    if remaining > 0:
        return status + " · " + _("ETA ~{time}", time=duration(remaining / rate, short=True))
    return status + " · " + _("ETA any moment")


def _print_result(job: GrindJob, result: GrindResult, out: Console) -> None:
    from .humanize import compact, one_in_pulls, tier_name
    from .i18n import fixed, ngettext, number
    from .odds import odds, p_full_in, rarity
    from .verify import verify_hit

    pattern = job.compiled()
    fmt = job.address_format
    model = odds(pattern)
    if not result.results:
        out.print(_("no key was checked (time limit reached before the first step)"))
    for rank, hit in enumerate(result.results, 1):
        if len(result.results) > 1:
            out.print(f"#{rank}")
        verified = verify_hit(job, hit)  # already verified by the grinder; this is what we show
        out.print(highlighted(fmt, pattern, hit.identifier))
        tier = rarity(model, hit.score, job.budget)
        badge = f" {_(FULL_MATCH_BADGE)}" if hit.full else ""
        rated = _(
            "{tier} ({odds}, a pull being {keys} keys)",
            tier=tier_name(tier.tier),
            odds=one_in_pulls(tier.one_in_pulls),
            keys=compact(job.budget),
        )
        score = _label(_("score"))
        out.print(f"{score} {hit.score}/{pattern.max_score} · {rated}{badge}")
        for label, value in secret_lines(fmt, hit, verified.secret):
            out.print(f"{_label(label)} {value}")
    if job.stop == "budget" and p_full_in(model, job.budget) > 0.5:
        out.print(_(EASY_PATTERN_NOTE, budget=number(job.budget)))
    if job.stop == "full" and not result.found_full:
        out.print(
            ngettext(
                "no full match in {n} key; the best is shown",
                "no full match in {n} keys; the best is shown",
                result.checked,
            )
        )
    rate = result.checked / result.elapsed_s if result.elapsed_s > 0 else 0.0
    out.print(
        ngettext(
            "checked {n} key in {seconds} s ({rate} keys/s) on {backend} · {device}",
            "checked {n} keys in {seconds} s ({rate} keys/s) on {backend} · {device}",
            result.checked,
            seconds=fixed(result.elapsed_s, 2),
            rate=number(round(rate)),
            backend=result.backend,
            device=result.device,
        )
    )


def _label(label: str) -> str:
    """A line's label, padded so the values line up (labels of any language: at least one space after)."""
    return f"{label:<7}"


def highlighted(fmt: AddressFormat, pattern: Pattern, identifier: str) -> Text:
    """The identifier with the parts that match the pattern in bold colour."""
    from rich.text import Text

    from .patterns import match_spans

    text = Text(identifier)
    offset = len(fmt.prefix)
    for start, end in match_spans(pattern, fmt.body(identifier)):
        text.stylize("bold green", offset + start, offset + end)
    return text


def secret_lines(fmt: AddressFormat, hit: GrindHit, secret: int) -> list[tuple[str, str]]:
    """What a person imports: the export form per format, or in split-key mode the offset and what to do with it."""
    if hit.secret_kind == "offset":
        return [
            (_("offset"), hit.secret),
            (
                _("combine"),
                f"{PROG} combine {fmt.id} --private-key YOUR_PRIVATE_KEY "
                f"--offset {hit.secret} --identifier {hit.identifier}",
            ),
        ]
    export = fmt.export_secret(secret)
    lines = [("WIF" if export.kind == "wif" else "hex", export.value)]
    if export.jwk is not None:
        lines.append(("JWK", export.jwk))
    return lines


# -- odds -------------------------------------------------------------------------


def cmd_odds(args: argparse.Namespace) -> int:
    """Run `vanikeys odds`: print a pattern's chance per key, its rarity tiers and the expected keys for
    a full match.
    """
    from .formats import get_format
    from .humanize import large, one_in_pulls, tier_name
    from .i18n import ngettext, number
    from .odds import odds, p_full_in, rarity_table
    from .patterns import parse_pattern

    fmt = get_format(args.format)
    pattern = parse_pattern(fmt.id, args.pattern, case="exact" if args.exact_case else "insensitive", fuzzy=args.fuzzy)
    model = odds(pattern)
    budget: int = args.budget
    rows = [row for row in rarity_table(model, budget) if row.score > 0]
    p_full_in_pull = p_full_in(model, budget)
    report = {
        "format": fmt.id,
        "pattern": pattern.text,
        "max_score": pattern.max_score,
        "p_full": model.p_full,
        "expected_keys": _finite(model.expected_keys),
        "budget": budget,
        "p_full_in_budget": p_full_in_pull,
        "easy": p_full_in_pull > 0.5,  # a pull matches fully more often than not: an order is the better buy
        "tiers": [
            {
                "score": row.score,
                "p_at_least": row.p_at_least,
                "p_best_at_least": row.p_best_at_least,
                "one_in_pulls": _finite(row.one_in_pulls),
                "tier": row.tier.value,
                "full": row.score == pattern.max_score,
            }
            for row in rows
        ],
    }
    if args.json:
        print(json.dumps(report))
        return 0
    out = console()
    out.print(
        ngettext(
            "{format} · pattern {pattern} · {n} character to match",
            "{format} · pattern {pattern} · {n} characters to match",
            pattern.max_score,
            format=fmt.title,
            pattern=repr(pattern.text),
        )
    )
    out.print(
        _(
            "one key matches fully with probability {p}: about 1 in {keys} keys",
            p=probability(model.p_full),
            keys=large(model.expected_keys),
        )
    )
    out.print(
        _(
            "a pull of {keys} keys matches fully with probability {p}",
            keys=number(budget),
            p=probability(p_full_in_pull),
        )
    )
    if report["easy"]:
        out.print(_(EASY_PATTERN_NOTE, budget=number(budget)))
    headings = (_("score"), _("one key"), _("best of pull"))
    widths = [max(len(heading), minimum) for heading, minimum in zip(headings, (5, 9, 12), strict=True)]
    out.print(
        "  ".join(f"{h:>{w}}" for h, w in zip(headings, widths, strict=True)) + "  " + _("rarity of a pull's best")
    )
    for row in rows:
        badge = f" {_(FULL_MATCH_BADGE)}" if row.score == pattern.max_score else ""
        cells = (str(row.score), probability(row.p_at_least), probability(row.p_best_at_least))
        out.print(
            "  ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))
            + f"  {tier_name(row.tier)} ({one_in_pulls(row.one_in_pulls)}){badge}"
        )
    return 0


FULL_MATCH_BADGE = N_("✨ full match")
EASY_PATTERN_NOTE = N_(
    "this pattern is easy: a pull of {budget} keys matches fully more often than not, so an order is the better buy"
)


def probability(p: float) -> str:
    """A probability to 3 significant figures ("0.000123", "1.7e-06") with the locale's decimal sign."""
    from .i18n import babel_locale

    text = f"{p:.3g}"
    if babel_locale() == DEFAULT:
        return text
    from babel.numbers import get_decimal_symbol

    return text.replace(".", get_decimal_symbol(babel_locale()))


def _finite(value: float) -> float | None:
    """JSON has no infinity: "never" is null."""
    return value if math.isfinite(value) else None


# -- combine ----------------------------------------------------------------------


def cmd_combine(args: argparse.Namespace) -> int:
    """Run `vanikeys combine`: add a split-key offset to a private key (mod n) and print the final key.

    The private key may come from stdin ("-") so it never reaches the shell history; with --identifier, a sum
    that does not give that identifier is refused (VanikeysError("bad_secret")), as is one that is 0 mod n.
    """
    from .formats import CURVE_ORDER, check_secret, get_format, identifier_from_secret, parse_secret_hex

    fmt = get_format(args.format)
    private_text = sys.stdin.readline() if args.private_key == "-" else args.private_key
    private_key = parse_private_key(fmt, private_text)
    offset = parse_secret_hex(args.offset)
    final = (private_key + offset) % CURVE_ORDER
    if final == 0:
        raise VanikeysError(
            "bad_secret",
            _("this offset cancels your private key: use the offset the grinder returned for your own public key"),
        )
    identifier = identifier_from_secret(fmt, check_secret(final))
    if args.identifier is not None and args.identifier.strip() != identifier:
        raise VanikeysError(
            "bad_secret",
            _(
                "your key plus this offset gives {identifier}, not {expected}: "
                "use the private key of the public key you gave to the grinder, and that grind's offset",
                identifier=identifier,
                expected=args.identifier.strip(),
            ),
        )
    export = fmt.export_secret(final)
    if args.json:
        print(
            json.dumps(
                {
                    "format": fmt.id,
                    "identifier": identifier,
                    "secret_kind": export.kind,
                    "secret": export.value,
                    "jwk": export.jwk,
                }
            )
        )
        return 0
    out = console()
    out.print(identifier)
    out.print(f"{'WIF' if export.kind == 'wif' else 'hex':<7} {export.value}")
    if export.jwk is not None:
        out.print(f"{'JWK':<7} {export.jwk}")
    checked = (
        _("ok: this private key derives the identifier above (as expected)")
        if args.identifier
        else _("ok: this private key derives the identifier above")
    )
    out.print(_label(_("check")) + " " + checked)
    return 0


def parse_private_key(fmt: AddressFormat, text: str) -> int:
    """64 hex digits, or for btc also a compressed mainnet WIF."""
    import base58

    from .formats import check_secret, parse_secret_hex

    cleaned = text.strip()
    if fmt.id == "btc" and len(cleaned) in (51, 52) and cleaned[0] in "5KL":
        try:
            raw = base58.b58decode_check(cleaned)
        except ValueError:
            raise VanikeysError("bad_secret", _("this WIF's checksum is wrong: copy the whole key again")) from None
        if raw[0] != 0x80 or len(raw) not in (33, 34):
            raise VanikeysError(
                "bad_secret", _("this is not a mainnet WIF private key: give it as 64 hex digits instead")
            )
        return check_secret(int.from_bytes(raw[1:33], "big"))
    return parse_secret_hex(cleaned)


if __name__ == "__main__":
    sys.exit(main())
