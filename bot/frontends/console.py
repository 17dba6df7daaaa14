"""The console front end: the chat commands typed at a terminal or piped in, one reply per command.

    vanikeys console [--user NAME] [--community NAME] [--json]

Interactive with a prompt on a terminal; line by line from a pipe. `--json`
prints every reply (and every event: private deliveries, order progress) as
one JSON object per line. Private deliveries are always marked private: the
console is the user's own screen, the one place a secret is meant to appear.
The console-only admin command `/grant USER TOKENS` adds tokens.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import re
import shlex
import sys
from datetime import datetime
from typing import Any, TextIO

from gpu_worker.formats import FORMATS

from bot.answers import (
    BalanceAnswer,
    CommunityRef,
    HelpAnswer,
    HistoryAnswer,
    KeyDelivery,
    KeysAnswer,
    LeaderboardAnswer,
    OddsAnswer,
    OrderAnswer,
    OrderView,
    PullAnswer,
    ServiceError,
    ShownKey,
    TopupAnswer,
    UserRef,
)
from bot.service import Service

PLATFORM = "console"
_PUBKEY = re.compile(r"^(0[23][0-9a-fA-F]{64}|04[0-9a-fA-F]{128})$")
_FLAGS = {"--exact-case": "exact_case", "--exact": "exact_case", "--fuzzy": "fuzzy"}


@dataclasses.dataclass(frozen=True)
class ParsedCommand:
    name: str
    args: list[str]
    exact_case: bool
    fuzzy: bool


def parse_line(line: str) -> ParsedCommand | None:
    """A typed line as a command; None for a blank line. ServiceError("bad_command") for anything else."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if not text.startswith("/"):
        raise ServiceError("bad_command", f"commands start with '/': try /help (you typed {text[:40]!r})")
    try:
        words = shlex.split(text[1:])
    except ValueError:
        raise ServiceError("bad_command", "a quote is not closed: close it, or type the pattern without quotes") from None
    if not words:
        raise ServiceError("bad_command", "type a command after '/': try /help")
    name, rest = words[0].lower(), words[1:]
    flags = {flag: False for flag in _FLAGS.values()}
    args = []
    for word in rest:
        if word.lower() in _FLAGS:
            flags[_FLAGS[word.lower()]] = True
        elif word.startswith("--"):
            raise ServiceError("bad_command", f"unknown option {word!r}: the options are --exact-case and --fuzzy")
        else:
            args.append(word)
    return ParsedCommand(name, args, flags["exact_case"], flags["fuzzy"])


def split_pull_args(args: list[str]) -> tuple[str, str, int]:
    """pattern words, then an optional format, then an optional count (read from the right)."""
    rest = list(args)
    count = 1
    if len(rest) >= 2 and rest[-1].isdigit():
        count = int(rest.pop())
    fmt = "btc"
    if len(rest) >= 2 and rest[-1].lower() in FORMATS:
        fmt = rest.pop().lower()
    if not rest:
        raise ServiceError("bad_pattern", "give a pattern: /pull <pattern> [format] [count], e.g. /pull ^Love btc 10")
    return " ".join(rest), fmt, count


def split_order_args(args: list[str]) -> tuple[str, str, str | None]:
    rest = list(args)
    pubkey = None
    if len(rest) >= 2 and _PUBKEY.match(rest[-1]):
        pubkey = rest.pop()
    fmt = "btc"
    if len(rest) >= 2 and rest[-1].lower() in FORMATS:
        fmt = rest.pop().lower()
    if not rest:
        raise ServiceError("bad_pattern", "give a pattern: /order <pattern> [format] [pubkey], e.g. /order ^Cafe btc")
    return " ".join(rest), fmt, pubkey


def split_odds_args(args: list[str]) -> tuple[str, str]:
    rest = list(args)
    fmt = "btc"
    if len(rest) >= 2 and rest[-1].lower() in FORMATS:
        fmt = rest.pop().lower()
    if not rest:
        raise ServiceError("bad_pattern", "give a pattern: /odds <pattern> [format], e.g. /odds ^Love btc")
    return " ".join(rest), fmt


# --- rendering ------------------------------------------------------------------


def to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return data
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def highlight(key: ShownKey) -> str:
    return "".join(f"[{text}]" if lit else text for text, lit in key.segments())


def _one_in(x: float) -> str:
    return "1 in more than 1e300" if x >= 1e300 else f"1 in {x:,.0f}" if x >= 10 else f"1 in {x:,.2f}"


def render(answer: Any) -> str:
    if isinstance(answer, PullAnswer):
        lines = [f"{answer.user.label} pulled {answer.pattern!r} ({answer.format_title}), {answer.keys_checked:,} keys:"]
        for i, key in enumerate(answer.keys):
            star = "*" if i == answer.best_index and len(answer.keys) > 1 else " "
            lines.append(f"{star} {highlight(key)}  {key.score}/{key.max_score}  {key.tier} ({_one_in(key.one_in_pulls)} pulls)")
        paid = f"{answer.tokens_spent} tokens" + (f" + {answer.free_pulls_used} free pulls" if answer.free_pulls_used else "")
        lines.append(f"  cost {paid}; balance {answer.balance_after}; {answer.delivery_note}")
        return "\n".join(lines)
    if isinstance(answer, OddsAnswer):
        price = f"order price {answer.order_price} tokens (about {answer.order_expected_s:,.0f} s)" \
            if answer.order_price is not None else f"orders refused: {answer.order_refusal}"
        return (f"{answer.pattern!r} ({answer.format_title}): one key in {answer.expected_keys:,.0f} matches fully; "
                f"a pull of {answer.pull_keys:,} keys finds a full match with p={answer.p_full_in_pull:.3g}; {price}")
    if isinstance(answer, OrderAnswer):
        return f"order {answer.order.order_id} for {answer.order.pattern!r}: {answer.order.price} tokens paid, " \
               f"balance {answer.balance_after}; {answer.note}"
    if isinstance(answer, OrderView):
        eta = f", ETA {answer.eta_s:,.0f} s" if answer.eta_s is not None else ""
        return f"order {answer.order_id} [{answer.status}] {answer.percent:.1f}% at {answer.rate_keys_per_s:,.0f} keys/s{eta}: {answer.message}"
    if isinstance(answer, BalanceAnswer):
        debt = f"; owes {answer.debt} (pulls and orders frozen until settled)" if answer.debt else ""
        return (f"{answer.user.label}: {answer.tokens} tokens; {answer.free_pulls_left}/{answer.free_pulls_per_day} "
                f"free pulls left today; spent {answer.spent_today}/{answer.daily_spend_limit} today; "
                f"a pull costs {answer.pull_price}, a 10-pull {answer.ten_pull_price}{debt}")
    if isinstance(answer, TopupAnswer):
        return answer.message + (f"\n{answer.url}" if answer.url else "")
    if isinstance(answer, KeysAnswer):
        return answer.message
    if isinstance(answer, HistoryAnswer):
        if not answer.entries:
            return f"no history yet; balance {answer.balance}"
        rows = [f"{e.at:%Y-%m-%d %H:%M} {e.kind:<10} {e.tokens:+d}  {e.detail}" for e in answer.entries]
        return "\n".join(rows + [f"balance {answer.balance}"])
    if isinstance(answer, LeaderboardAnswer):
        if not answer.entries:
            return "no pulls here yet: be the first with /pull"
        return "\n".join(f"{e.rank}. {e.user.label}: {highlight(e.key)} {e.key.tier} ({_one_in(e.key.one_in_pulls)} pulls)"
                         for e in answer.entries)
    if isinstance(answer, HelpAnswer):
        lines = [f"{c.usage:<38} {c.summary}" for c in answer.commands]
        lines.append(f"{'/grant <user> <tokens>':<38} console admin: add tokens")
        return "\n".join(lines + list(answer.notes))
    if isinstance(answer, KeyDelivery):
        lines = [f"[private] for this user only: {answer.kind} {answer.job_id} ({answer.format_id}, {answer.pattern!r})"]
        for item in answer.secrets:
            lines.append(f"[private] {item.identifier} {item.secret_kind} ({item.export_kind}): {item.value}")
            if item.jwk:
                lines.append(f"[private] jwk: {item.jwk}")
        lines.append(f"[private] {answer.note}")
        return "\n".join(lines)
    return str(answer)


class ConsoleFrontEnd:
    """Prints replies and events to one stream; everything for this terminal's users."""

    platform = PLATFORM

    def __init__(self, out: TextIO, *, as_json: bool, interactive: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.interactive = interactive

    def emit(self, kind: str, value: Any, *, private: bool = False, to: UserRef | None = None) -> None:
        if self.as_json:
            payload: dict[str, Any] = {"type": kind, "private": private}
            if to is not None:
                payload["to"] = to.user_id
            payload["data"] = to_json(value)
            self.out.write(json.dumps(payload) + "\n")
        else:
            text = value if isinstance(value, str) else render(value)
            prefix = f"(private to {to.user_id}) " if private and to is not None else ""
            self.out.write(prefix + text + "\n")
        self.out.flush()

    def error(self, err: ServiceError) -> None:
        if self.as_json:
            self.out.write(json.dumps({"type": "error", "private": False, "code": err.code, "message": err.message}) + "\n")
        else:
            self.out.write(f"error: {err.message}\n")
        self.out.flush()

    async def deliver_private(self, user: UserRef, delivery: KeyDelivery) -> bool:
        self.emit("private_delivery", delivery, private=True, to=user)
        return True

    async def order_progress(self, order: OrderView) -> None:
        if self.interactive or self.as_json:
            self.emit("order_progress", order)

    async def order_finished(self, order: OrderView) -> None:
        self.emit("order_finished", order)

    async def notify(self, user: UserRef, text: str) -> None:
        self.emit("notice", text, private=True, to=user)


class ConsoleSession:
    def __init__(self, service: Service, frontend: ConsoleFrontEnd, user: UserRef, community: CommunityRef | None) -> None:
        self.service = service
        self.frontend = frontend
        self.user = user
        self.community = community

    async def handle(self, line: str) -> bool:
        """Run one line; False when the session should end."""
        try:
            command = parse_line(line)
            if command is None:
                return True
            if command.name in ("quit", "exit"):
                return False
            kind, answer = await self._dispatch(command)
            self.frontend.emit(kind, answer)
        except ServiceError as err:
            self.frontend.error(err)
        return True

    async def _dispatch(self, c: ParsedCommand) -> tuple[str, Any]:
        s, user = self.service, self.user
        if c.name == "pull":
            pattern, fmt, count = split_pull_args(c.args)
            return "pull", await s.pull(user, self.community, pattern, fmt, count, exact_case=c.exact_case, fuzzy=c.fuzzy)
        if c.name == "order":
            pattern, fmt, pubkey = split_order_args(c.args)
            return "order", await s.order(user, self.community, pattern, fmt, pubkey, exact_case=c.exact_case,
                                          fuzzy=c.fuzzy)
        if c.name == "odds":
            pattern, fmt = split_odds_args(c.args)
            return "odds", await s.odds(pattern, fmt, exact_case=c.exact_case, fuzzy=c.fuzzy)
        no_args = {"balance": s.balance, "keys": s.keys, "history": s.history}
        if c.name in no_args:
            self._no_args(c)
            return c.name, await no_args[c.name](user)
        if c.name == "topup":
            if len(c.args) > 1:
                raise ServiceError("bad_command", "usage: /topup [pack], e.g. /topup 500")
            return "topup", await s.topup(user, c.args[0] if c.args else None)
        if c.name == "leaderboard":
            self._no_args(c)
            return "leaderboard", await s.leaderboard(self.community)
        if c.name == "help":
            return "help", s.help()
        if c.name == "grant":
            if len(c.args) != 2 or not re.fullmatch(r"\d{1,13}", c.args[1]):
                raise ServiceError("bad_command", "usage: /grant <user> <tokens>, e.g. /grant alice 100")
            balance = await s.grant(UserRef(PLATFORM, c.args[0], c.args[0]), int(c.args[1]))
            return "grant", f"{c.args[0]} now has {balance} tokens"
        raise ServiceError("bad_command", f"unknown command /{c.name}: try /help")

    @staticmethod
    def _no_args(c: ParsedCommand) -> None:
        if c.args:
            raise ServiceError("bad_command", f"/{c.name} takes no arguments: type just /{c.name}")


async def run_console(service: Service, *, user_name: str, community_name: str | None, as_json: bool,
                      stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty() and not as_json
    frontend = ConsoleFrontEnd(stdout, as_json=as_json, interactive=interactive)
    service.register_frontend(frontend)
    user = UserRef(PLATFORM, user_name, user_name)
    community = CommunityRef(PLATFORM, community_name, community_name) if community_name else None
    session = ConsoleSession(service, frontend, user, community)
    if interactive:
        stdout.write(f"VaniKeys console as {user_name}: type /help, /quit to leave\n")
    while True:
        line = await asyncio.to_thread(_read_line, stdin, "> " if interactive else None)
        if line is None or not await session.handle(line):
            break
    await service.jobs.wait_idle()  # orders placed here finish (and are delivered) before the console exits
    return 0


def _read_line(stdin: TextIO, prompt: str | None) -> str | None:
    if prompt is not None:
        try:
            return input(prompt)
        except EOFError:
            return None
    line = stdin.readline()
    return line if line else None
