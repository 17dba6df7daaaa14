"""The engine's command line: grind, odds, combine (and bench, from the kernel build).

This interface is stable: scripts and the bot build on it. `build_parser(extra, lazy)`
lets bot/cli.py add its own subcommands to the same `vanikeys` command; `run`
turns every mistake a person can make into exit status 2 and one line on
stderr, never a traceback.

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
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, cast

from .errors import VanikeysError
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
        raise UsageError(f"{message} (see: {self.prog} --help)")


class Command(NamedTuple):
    """A subcommand that `vanikeys --help` lists by name and help alone.

    adder: a function, or "module:function" to import, that (given the subparsers action) adds
    this command's parser; it may add other commands that share the same adder. It is called
    (and its module imported) only when one of those commands is on the command line.
    """

    name: str
    help: str
    adder: str | AddSubcommands


class LazySubcommands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Subparsers whose `Command` entries are stubs until chosen: then their module adds the real parser."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy: dict[str, Command] = {}

    def add_lazy(self, command: Command) -> None:
        """Register `command` by name and help only; its module is imported when the command is chosen."""
        self.add_parser(command.name, help=command.help)  # a placeholder: only its name and help are ever shown
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

    return parse_count(text, what="--budget, the number of keys", minimum=1, maximum=MAX_BUDGET)


def top_count(text: str) -> int:
    """The --top argument as an int from 1 to MAX_TOP; VanikeysError("bad_number") names the range otherwise."""
    from .job import MAX_TOP

    return parse_int(text, what="--top, how many of the best keys to show", minimum=1, maximum=MAX_TOP)


def seconds(text: str) -> float:
    """The --time-limit argument in seconds within the grinder's limits; VanikeysError("bad_number") otherwise."""
    from .job import MAX_TIME_LIMIT_S

    return parse_decimal(text, what="--time-limit in seconds", minimum=MIN_TIME_LIMIT_S, maximum=MAX_TIME_LIMIT_S)


def bench_seconds(text: str) -> float:
    """`vanikeys bench --seconds`: per measurement, up to an hour."""
    return parse_decimal(text, what="--seconds per measurement", minimum=0.01, maximum=3600)


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
        prog=PROG, description="Vanity keys for Bitcoin, did:key, Ethereum and TRON: grind, odds, combine."
    )
    commands = cast(LazySubcommands, parser.add_subparsers(title="commands", metavar="COMMAND", action=LazySubcommands))
    for command in (*ENGINE_COMMANDS, *lazy):
        commands.add_lazy(command)
    if extra is not None:
        extra(commands)
    return parser


def _add_pattern_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("format", metavar="FORMAT", help="btc, did, eth or trx")
    command.add_argument(
        "pattern", metavar="PATTERN", help="terms found in order; ^ anchors the start, $ the end, ? is any character"
    )
    command.add_argument("--exact-case", action="store_true", help="match letter case exactly (base58 formats)")
    command.add_argument("--fuzzy", action="store_true", help="also accept look-alikes: 0/o 1/i/l 3/e 4/a 5/s 7/t 8/b")


def _add_grind(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from .grinders.base import BACKEND_NAMES
    from .job import MAX_TIME_LIMIT_S, MAX_TOP

    grind_cmd = commands.add_parser("grind", description="Grind keys for a pattern.")
    _add_pattern_options(grind_cmd)
    grind_cmd.add_argument(
        "--budget", type=key_count, help=f"keys to check (default {DEFAULT_PULL_BUDGET:,}; unlimited with --stop full)"
    )
    grind_cmd.add_argument(
        "--stop",
        choices=("budget", "full"),
        default="budget",
        help="budget: best of the budget; full: until a full match",
    )
    grind_cmd.add_argument("--top", type=top_count, default=1, help=f"how many of the best keys to show (1-{MAX_TOP})")
    grind_cmd.add_argument(
        "--backend", choices=BACKEND_NAMES, default="auto", help="where to grind (default: the fastest here)"
    )
    grind_cmd.add_argument(
        "--split-pubkey", metavar="HEX", help="your public key: grind offsets you add to your own private key"
    )
    grind_cmd.add_argument(
        "--time-limit", type=seconds, default=float(MAX_TIME_LIMIT_S), metavar="SECONDS", help="stop after this long"
    )
    grind_cmd.add_argument("--json", action="store_true", help="print the result object (docs/design.md) on stdout")
    grind_cmd.set_defaults(func=cmd_grind)


def _add_odds(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    odds_cmd = commands.add_parser("odds", description="The odds of a pattern.")
    _add_pattern_options(odds_cmd)
    odds_cmd.add_argument(
        "--budget",
        type=key_count,
        default=DEFAULT_PULL_BUDGET,
        help=f"keys in one pull (default {DEFAULT_PULL_BUDGET:,})",
    )
    odds_cmd.add_argument("--json", action="store_true", help="print the odds as JSON")
    odds_cmd.set_defaults(func=cmd_odds)


def _add_combine(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    combine_cmd = commands.add_parser(
        "combine", description="Add a split-key offset to your private key, on your own machine."
    )
    combine_cmd.add_argument("format", metavar="FORMAT", help="btc, did, eth or trx")
    combine_cmd.add_argument(
        "--private-key",
        required=True,
        metavar="HEX",
        help="your private key (64 hex digits; WIF for btc; - reads it from stdin)",
    )
    combine_cmd.add_argument(
        "--offset", required=True, metavar="HEX", help="the offset the grinder returned (64 hex digits)"
    )
    combine_cmd.add_argument("--identifier", metavar="ID", help="the identifier the grinder returned, to check against")
    combine_cmd.add_argument("--json", action="store_true", help="print the result as JSON")
    combine_cmd.set_defaults(func=cmd_combine)


ENGINE_COMMANDS = (
    Command("grind", "grind keys and show the best match", _add_grind),
    Command("odds", "how likely a pattern is", _add_odds),
    Command("combine", "split-key: your private key + the offset found = your vanity key", _add_combine),
    # the kernel build's `bench` command
    *(
        [Command("bench", "measure keys per second per backend and format", "gpu_worker.bench:add_parser")]
        if importlib.util.find_spec("gpu_worker.bench") is not None
        else []
    ),
)


# -- running ----------------------------------------------------------------------


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse and dispatch; bad input of any kind is exit status 2 and one line on stderr."""
    try:
        args = parser.parse_args(argv)
        func = getattr(args, "func", None)
        if func is None:
            raise UsageError(f"choose a command (see: {parser.prog} --help)")
        return int(func(args))
    except (UsageError, VanikeysError) as exc:
        _error_line(parser.prog, str(exc))
        return 2
    except KeyboardInterrupt:
        _error_line(parser.prog, "interrupted")
        return 130
    except SystemExit as exc:  # --help and --version end here
        return exc.code if isinstance(exc.code, int) else 0


def _error_line(prog: str, message: str) -> None:
    one_line = " ".join(message.split())
    print(f"{prog}: error: {one_line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """The engine-only command (`python -m gpu_worker.cli`); the `vanikeys` script adds the bot's commands."""
    return run(build_parser(), argv)


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
        TextColumn("[bold]grinding[/]"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("grind", total=total, status="starting")

        def report(progress: GrindProgress) -> None:
            bar.update(task, completed=progress.checked, status=_progress_status(job, progress, expected))

        return grind(job, backend, progress=report)


def _progress_status(job: GrindJob, progress: GrindProgress, expected_keys: float) -> str:
    from .humanize import duration

    rate = progress.keys_per_s
    best = "-" if progress.best_score is None else f"{progress.best_score}/{progress.max_score}"
    status = f"{progress.checked:,} keys · {rate:,.0f}/s · best {best}"
    if rate <= 0:
        return status
    if job.stop == "budget":
        return status + f" · ETA {duration((progress.budget - progress.checked) / rate, short=True)}"
    # Each key is a fresh chance: the expected wait is measured from the start, then "any moment".
    remaining = expected_keys - progress.checked
    return status + (f" · ETA ~{duration(remaining / rate, short=True)}" if remaining > 0 else " · ETA any moment")


def _print_result(job: GrindJob, result: GrindResult, out: Console) -> None:
    from .humanize import compact, one_in_pulls
    from .odds import odds, p_full_in, rarity
    from .verify import verify_hit

    pattern = job.compiled()
    fmt = job.address_format
    model = odds(pattern)
    if not result.results:
        out.print("no key was checked (time limit reached before the first step)")
    for rank, hit in enumerate(result.results, 1):
        if len(result.results) > 1:
            out.print(f"#{rank}")
        verified = verify_hit(job, hit)  # already verified by the grinder; this is what we show
        out.print(highlighted(fmt, pattern, hit.identifier))
        tier = rarity(model, hit.score, job.budget)
        badge = f" {FULL_MATCH_BADGE}" if hit.full else ""
        out.print(
            f"score   {hit.score}/{pattern.max_score} · {tier.tier.value} "
            f"({one_in_pulls(tier.one_in_pulls)}, a pull being {compact(job.budget)} keys){badge}"
        )
        for label, value in secret_lines(fmt, hit, verified.secret):
            out.print(f"{label:<7} {value}")
    if job.stop == "budget" and p_full_in(model, job.budget) > 0.5:
        out.print(EASY_PATTERN_NOTE.format(budget=job.budget))
    if job.stop == "full" and not result.found_full:
        out.print(f"no full match in {result.checked:,} keys; the best is shown")
    rate = result.checked / result.elapsed_s if result.elapsed_s > 0 else 0.0
    out.print(
        f"checked {result.checked:,} keys in {result.elapsed_s:.2f} s ({rate:,.0f} keys/s) "
        f"on {result.backend} · {result.device}"
    )


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
            ("offset", hit.secret),
            (
                "combine",
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
    from .humanize import one_in_pulls, plural
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
    out.print(f"{fmt.title} · pattern {pattern.text!r} · {plural(pattern.max_score, 'character')} to match")
    out.print(f"one key matches fully with probability {model.p_full:.3g}: about 1 in {model.expected_keys:,.0f} keys")
    out.print(f"a pull of {budget:,} keys matches fully with probability {p_full_in_pull:.3g}")
    if report["easy"]:
        out.print(EASY_PATTERN_NOTE.format(budget=budget))
    out.print(f"{'score':>5}  {'one key':>9}  {'best of pull':>12}  rarity of a pull's best")
    for row in rows:
        badge = f" {FULL_MATCH_BADGE}" if row.score == pattern.max_score else ""
        out.print(
            f"{row.score:>5}  {row.p_at_least:>9.3g}  {row.p_best_at_least:>12.3g}  "
            f"{row.tier.value} ({one_in_pulls(row.one_in_pulls)}){badge}"
        )
    return 0


FULL_MATCH_BADGE = "✨ full match"
EASY_PATTERN_NOTE = (
    "this pattern is easy: a pull of {budget:,} keys matches fully more often than not, so an order is the better buy"
)


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
            "this offset cancels your private key: use the offset the grinder returned for your own public key",
        )
    identifier = identifier_from_secret(fmt, check_secret(final))
    if args.identifier is not None and args.identifier.strip() != identifier:
        raise VanikeysError(
            "bad_secret",
            f"your key plus this offset gives {identifier}, not {args.identifier.strip()}: "
            "use the private key of the public key you gave to the grinder, and that grind's offset",
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
    out.print(
        "check   ok: this private key derives the identifier above" + (" (as expected)" if args.identifier else "")
    )
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
            raise VanikeysError("bad_secret", "this WIF's checksum is wrong: copy the whole key again") from None
        if raw[0] != 0x80 or len(raw) not in (33, 34):
            raise VanikeysError("bad_secret", "this is not a mainnet WIF private key: give it as 64 hex digits instead")
        return check_secret(int.from_bytes(raw[1:33], "big"))
    return parse_secret_hex(cleaned)


if __name__ == "__main__":
    sys.exit(main())
