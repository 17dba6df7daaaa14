"""The console front end: the chat commands typed at a terminal or piped in, one reply per command.

    vanikeys console [--user NAME] [--community NAME] [--json]

Interactive with a prompt on a terminal; line by line from a pipe. `--json`
prints every reply (and every event: private deliveries, order progress) as
one JSON object per line. Private deliveries are always marked private: the
console is the user's own screen, the one place a secret is meant to appear.
The console-only admin command `/grant USER TOKENS` adds tokens.

Everything a person reads is in the terminal's language (VANIKEYS_LANGUAGE, else LANGUAGE, LC_ALL,
LC_MESSAGES, LANG: the CLI sets it as it starts), or the one `/config language` set for the console's
community. `--json` is for scripts: it is English and byte-stable whatever the language.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import shlex
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from bot.answers import (
    BalanceAnswer,
    CardAnswer,
    CommunityRef,
    ConfigAnswer,
    GiftAnswer,
    HelpAnswer,
    HistoryAnswer,
    KeyDelivery,
    KeysAnswer,
    LeaderboardAnswer,
    OddsAnswer,
    OrderAnswer,
    OrderView,
    ProfileAnswer,
    PullAnswer,
    SeasonLeaderboardAnswer,
    ServiceError,
    ShownKey,
    StreakAnswer,
    TopupAnswer,
    UserRef,
    history_kind,
    order_status_word,
)
from bot.frontends import command_args
from bot.i18n import DEFAULT, N_, _, current, ngettext, public_locale, use_locale
from bot.service import Service
from gpu_worker.errors import VanikeysError
from gpu_worker.humanize import duration, large, one_in_pulls, tier_name
from gpu_worker.i18n import fixed, number
from gpu_worker.numbers import parse_int

PLATFORM = "console"
PROMPT = "> "
CLEAR_LINE = "\r\x1b[K"  # to the line's start, erase it: the prompt makes way for what arrived
_FLAGS = {
    "--exact-case": "exact_case",
    "--exact": "exact_case",
    "--fuzzy": "fuzzy",
    "--anyway": "anyway",
    "--share": "share",
    "--hide": "hide",
}


@dataclasses.dataclass(frozen=True)
class ParsedCommand:
    """A typed line: the command name (lower-case, no "/"), its other words in order, and the flags given."""

    name: str
    args: list[str]
    exact_case: bool
    fuzzy: bool
    anyway: bool = False  # /pull: pull even an easy pattern (one a pull matches fully more often than not)
    share: bool = False  # /profile: show it to everyone here (and name the person on gallery pages)
    hide: bool = False  # /profile: stop naming the person on gallery pages


def parse_line(line: str) -> ParsedCommand | None:
    """A typed line as a command; None for a blank line. ServiceError("bad_command") for anything else."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if not text.startswith("/"):
        raise ServiceError(
            "bad_command", _("commands start with '/': try /help (you typed {text})", text=repr(text[:40]))
        )
    try:
        words = shlex.split(text[1:])
    except ValueError:
        raise ServiceError(
            "bad_command", _("a quote is not closed: close it, or type the pattern without quotes")
        ) from None
    if not words:
        raise ServiceError("bad_command", _("type a command after '/': try /help"))
    name, rest = words[0].lower(), words[1:]
    flags = {flag: False for flag in _FLAGS.values()}
    args = []
    for word in rest:
        if word.lower() in _FLAGS:
            flags[_FLAGS[word.lower()]] = True
        elif word.startswith("--"):
            raise ServiceError(
                "bad_command",
                _(
                    "unknown option {option}: the options are --exact-case, --fuzzy, "
                    "--anyway (/pull), --share and --hide (/profile)",
                    option=repr(word[:30]),
                ),
            )
        else:
            args.append(word)
    return ParsedCommand(
        name, args, flags["exact_case"], flags["fuzzy"], flags["anyway"], flags["share"], flags["hide"]
    )


def split_pull_args(args: list[str]) -> tuple[str, str, int]:
    """pattern words, then an optional format, then an optional count (read from the right)."""
    parsed = _parsed(command_args.parse_pull, args)
    return parsed.pattern, parsed.format_id, parsed.count


def split_order_args(args: list[str]) -> tuple[str, str, str | None]:
    """pattern words, then an optional format, then an optional public key (split-key order); ServiceError when the
    shared text-command parser refuses them."""
    parsed = _parsed(command_args.parse_order, args)
    return parsed.pattern, parsed.format_id, parsed.pubkey


def split_odds_args(args: list[str]) -> tuple[str, str]:
    """pattern words, then an optional format; ServiceError when the shared text-command parser refuses them."""
    parsed = _parsed(command_args.parse_odds, args)
    return parsed.pattern, parsed.format_id


def _parsed(parse: Callable[[list[str]], command_args.PatternArgs], args: list[str]) -> command_args.PatternArgs:
    """The shared text-command parser's answer, its refusals as the console's ServiceError."""
    try:
        return parse(args)
    except command_args.ArgError as exc:
        raise ServiceError(exc.code, str(exc)) from None
    except VanikeysError as exc:
        raise ServiceError(exc.code, exc.message) from None


def _number(text: str, *, what: str, minimum: int, maximum: int) -> int:
    try:
        return parse_int(text, what=what, minimum=minimum, maximum=maximum)
    except VanikeysError as exc:
        raise ServiceError(exc.code, exc.message) from None


# --- rendering ------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """value as JSON-ready data: dataclasses as dicts, sequences as lists, datetimes as ISO text, bytes as their size,
    non-finite floats as None; anything else as it is."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return data
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return {"bytes": len(value)}  # a card image: its size, not its pixels
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def highlight(key: ShownKey) -> str:
    """The identifier with each matched part in [brackets]."""
    return "".join(f"[{text}]" if lit else text for text, lit in key.segments())


def _badge(key: ShownKey) -> str:
    return f" {_(FULL_MATCH)}" if key.full else ""


FULL_MATCH = N_("✨ full match")
# The console's own commands, beside the service's /help list: (usage, what it does).
CONSOLE_HELP = (
    (N_("/grant <user> <tokens>"), N_("console admin: add tokens")),
    (N_("/gift <user> <tokens>"), N_("give some of your tokens to someone")),
    (N_("/config [<setting> <value>]"), N_("this community's settings (the console is its admin)")),
    ("/streak, /season, /profile [--share|--hide]", N_("your streak, this week's leaderboard, your profile")),
    (N_("/card [pull id]"), N_("save a card image of your latest (or that) pull")),
)


def _rated(key: ShownKey) -> str:
    """ "Rare (1 in 12.4K pulls)": a key's tier and how rare it is, in the locale."""
    return f"{tier_name(key.tier)} ({one_in_pulls(key.one_in_pulls)})"


def render_pull_done(answer: PullAnswer) -> str:
    """After the reveal: what it cost and where the key went (private: the console is the user's own screen)."""
    paid = ngettext("{n} token", "{n} tokens", answer.tokens_spent)
    if answer.free_pulls_used:
        paid = _(
            "{tokens} + {free}",
            tokens=paid,
            free=ngettext("{n} free pull", "{n} free pulls", answer.free_pulls_used),
        )
    return "  " + _(
        "cost {paid}; balance {balance}; {note}",
        paid=paid,
        balance=number(answer.balance_after),
        note=answer.delivery_note,
    )


def render_pull_reveal(answer: PullAnswer) -> str:
    """The reveal: keys best first, the badge, a new personal best, the streak (the cost line comes after)."""
    return render(answer).rsplit("\n", 1)[0]


def _render_pull(answer: PullAnswer) -> str:
    lines = [
        ngettext(
            "{who} pulled {pattern} ({format}), {n} key:",
            "{who} pulled {pattern} ({format}), {n} keys:",
            answer.keys_checked,
            who=answer.user.label,
            pattern=repr(answer.pattern),
            format=answer.format_title,
        )
    ]
    for i, key in enumerate(answer.keys):
        star = "*" if i == answer.best_index and len(answer.keys) > 1 else " "
        lines.append(f"{star} {highlight(key)}  {key.score}/{key.max_score}  {_rated(key)}{_badge(key)}")
    if answer.cut_short is not None:
        lines.append(f"  {answer.cut_short.note}")
    if answer.is_new_personal_best:
        lines.append("  " + _("NEW personal best for this pattern!"))
    if answer.streak is not None and answer.streak.days:
        lines.append(f"  {answer.streak.message}")
    lines.append(render_pull_done(answer))
    return "\n".join(lines)


def _render_ranked(entries: Any) -> list[str]:
    """Leaderboard lines: "1. erin: [ab]c… Rare (1 in 12 pulls)"."""
    return [f"{e.rank}. {e.user.label}: {highlight(e.key)} {_rated(e.key)}" for e in entries]


def _render_season(answer: SeasonLeaderboardAnswer) -> str:
    ends = answer.ends_at.strftime("%Y-%m-%d %H:%M %Z")
    head = _("season {season} (until {end})", season=answer.season, end=ends)
    if not answer.entries:
        return _("{season}: no pulls yet this season: be the first with /pull", season=head)
    return "\n".join([head, *_render_ranked(answer.entries)])


def _render_profile(answer: ProfileAnswer) -> str:
    rank = f"#{answer.season_rank}" if answer.season_rank else _("unranked")
    lines = [
        _(
            "{who}: {pulls}; {streak}; season {season}: {rank}",
            who=answer.user.label,
            pulls=ngettext("{n} pull", "{n} pulls", answer.total_pulls),
            streak=answer.streak.message,
            season=answer.season,
            rank=rank,
        )
    ]
    lines += [
        "  "
        + _(
            "{key} {rated}{badge} for {pattern}",
            key=highlight(p.key),
            rated=_rated(p.key),
            badge=_badge(p.key),
            pattern=repr(p.pattern),
        )
        for p in answer.best_pulls
    ]
    return "\n".join(lines)


def _render_odds(answer: OddsAnswer) -> str:
    if answer.order_price is not None:
        price = ngettext(
            "order price {n} token (~{time})",
            "order price {n} tokens (~{time})",
            answer.order_price,
            time=duration(answer.order_expected_s),
        )
    else:
        price = _("orders refused: {why}", why=answer.order_refusal)
    text = _(
        "{pattern} ({format}): one key in {keys} matches fully; "
        "a pull of {pull_keys} keys finds a full match with p={p}; {price}",
        pattern=repr(answer.pattern),
        format=answer.format_title,
        keys=large(answer.expected_keys),
        pull_keys=number(answer.pull_keys),
        p=_probability(answer.p_full_in_pull),
        price=price,
    )
    return text + (_("; every tier's chance: {url}", url=answer.web_url) if answer.web_url else "")


def _probability(p: float) -> str:
    from gpu_worker.cli import probability

    return probability(p)


def _render_order_view(answer: OrderView) -> str:
    eta = ", " + _("ETA {time}", time=duration(answer.eta_s, short=True)) if answer.eta_s is not None else ""
    speed = (
        " " + _("at {rate} keys/s", rate=number(round(answer.rate_keys_per_s))) if answer.rate_keys_per_s > 0 else ""
    )
    done = f"{fixed(answer.percent)}%" if answer.percent <= 100 else _("past the expected keys")
    return _(
        "order {id} [{status}] {done}{speed}{eta}: {message}",
        id=answer.order_id,
        status=order_status_word(answer.status),
        done=done,
        speed=speed,
        eta=eta,
        message=answer.message,
    )


def _render_balance(answer: BalanceAnswer) -> str:
    debt = _("; owes {debt} (pulls and orders frozen until settled)", debt=number(answer.debt)) if answer.debt else ""
    return (
        _(
            "{who}: {tokens}; {left}/{per_day} free pulls left today; spent {spent}/{limit} today; "
            "a pull costs {pull}, a 10-pull {ten}",
            who=answer.user.label,
            tokens=ngettext("{n} token", "{n} tokens", answer.tokens),
            left=answer.free_pulls_left,
            per_day=answer.free_pulls_per_day,
            spent=number(answer.spent_today),
            limit=number(answer.daily_spend_limit),
            pull=number(answer.pull_price),
            ten=number(answer.ten_pull_price),
        )
        + debt
    )


def _render_history(answer: HistoryAnswer) -> str:
    balance = _("balance {balance}", balance=number(answer.balance))
    if not answer.entries:
        return _("no history yet; {balance}", balance=balance)
    rows = [f"{e.at:%Y-%m-%d %H:%M} {history_kind(e.kind):<10} {e.tokens:+d}  {e.detail}" for e in answer.entries]
    return "\n".join([*rows, balance])


def _render_help(answer: HelpAnswer) -> str:
    rows = [(c.usage, c.summary) for c in answer.commands]
    rows += [(_(usage), _(summary)) for usage, summary in CONSOLE_HELP]
    return "\n".join([f"{usage:<38} {summary}" for usage, summary in rows] + list(answer.notes))


def _render_delivery(answer: KeyDelivery) -> str:
    private = _("[private]")
    kind = _("pull") if answer.kind == "pull" else _("order")
    lines = [
        private
        + " "
        + _(
            "for this user only: {kind} {id} ({format}, {pattern})",
            kind=kind,
            id=answer.job_id,
            format=answer.format_id,
            pattern=repr(answer.pattern),
        )
    ]
    for item in answer.secrets:
        lines.append(f"{private} {item.identifier} {item.secret_kind} ({item.export_kind}): {item.value}")
        if item.jwk:
            lines.append(f"{private} jwk: {item.jwk}")
    lines.append(f"{private} {answer.note}")
    return "\n".join(lines)


def render(answer: Any) -> str:
    """An answer (any type in RENDERERS) as the console's plain text in the current locale; TypeError for a type it
    does not draw."""
    drawn = _DRAW.get(type(answer))
    if drawn is None:
        raise TypeError(f"no console renderer for {type(answer).__name__}: add it to render() and RENDERERS")
    return drawn(answer)


_DRAW: dict[type, Callable[[Any], str]] = {
    PullAnswer: _render_pull,
    ConfigAnswer: lambda a: "\n".join([a.message, *a.lines]),
    GiftAnswer: lambda a: a.message,
    StreakAnswer: lambda a: (
        a.message
        + (
            " "
            + ngettext(
                "(best {n} day, days in {zone})", "(best {n} days, days in {zone})", a.best_days, zone=a.time_zone
            )
            if a.best_days
            else ""
        )
    ),
    SeasonLeaderboardAnswer: _render_season,
    ProfileAnswer: _render_profile,
    OddsAnswer: _render_odds,
    OrderAnswer: lambda a: ngettext(
        "order {id} for {pattern}: {n} token paid, balance {balance}; {note}",
        "order {id} for {pattern}: {n} tokens paid, balance {balance}; {note}",
        a.order.price,
        id=a.order.order_id,
        pattern=repr(a.order.pattern),
        balance=number(a.balance_after),
        note=a.note,
    ),
    OrderView: _render_order_view,
    BalanceAnswer: _render_balance,
    TopupAnswer: lambda a: a.message + (f"\n{a.url}" if a.url else ""),
    KeysAnswer: lambda a: a.message,
    HistoryAnswer: _render_history,
    LeaderboardAnswer: lambda a: (
        "\n".join(_render_ranked(a.entries)) if a.entries else _("no pulls here yet: be the first with /pull")
    ),
    HelpAnswer: _render_help,
    CardAnswer: lambda a: _("card for {identifier} ({tier})", identifier=a.key.identifier, tier=tier_name(a.key.tier)),
    KeyDelivery: _render_delivery,
}


# Every answer type (bot/answers.py) that render() draws; tests/bot/test_render_registry.py fails when a type
# has no entry here or render() has no branch for it (it raises rather than print a repr).
RENDERERS: dict[type, Callable[[Any], str]] = dict.fromkeys(
    (
        PullAnswer,
        OrderView,
        OrderAnswer,
        OddsAnswer,
        BalanceAnswer,
        TopupAnswer,
        KeysAnswer,
        KeyDelivery,
        HistoryAnswer,
        LeaderboardAnswer,
        SeasonLeaderboardAnswer,
        ProfileAnswer,
        ConfigAnswer,
        CardAnswer,
        HelpAnswer,
        GiftAnswer,
        StreakAnswer,
    ),
    render,
)


class ConsoleFrontEnd:
    """Prints replies and events to one stream; everything for this terminal's users."""

    platform = PLATFORM

    def __init__(self, out: TextIO, *, as_json: bool, interactive: bool, owner: UserRef | None = None) -> None:
        self.out = out
        self.as_json = as_json
        self.interactive = interactive
        self.owner = owner  # the one person at this terminal: nobody else's keys or notices appear here
        self.at_prompt = False  # the "> " prompt is on screen, waiting for a line (interactive only)

    def emit(self, kind: str, value: Any, *, private: bool = False, to: UserRef | None = None) -> None:
        """Write one event: a JSON line (type, private, data, and `to` when addressed) with as_json, else its text,
        redrawing the prompt when it arrives while the person types. Flushed at once."""
        if self.as_json:
            payload: dict[str, Any] = {"type": kind, "private": private}
            if to is not None:
                payload["to"] = to.user_id
            payload["data"] = to_json(value)
            self.out.write(json.dumps(payload) + "\n")
        else:
            text = (
                value
                if isinstance(value, str)
                else render_pull_reveal(value)
                if kind == "pull_reveal"
                else render(value)
            )
            prefix = _("(private to {user}) ", user=to.user_id) if private and to is not None else ""
            if self.interactive and self.at_prompt:
                # Something arrived while the person is typing (an order's progress, a key): clear the prompt's
                # line, print it, and draw the prompt again with what they had typed so far.
                self.out.write(CLEAR_LINE + prefix + text + "\n" + PROMPT + _typed_so_far())
            else:
                self.out.write(prefix + text + "\n")
        self.out.flush()

    def error(self, err: ServiceError) -> None:
        """Write a refusal: a JSON "error" line (code, message, committed) with as_json, else "error: <message>"."""
        if self.as_json:
            self.out.write(
                json.dumps(
                    {
                        "type": "error",
                        "private": False,
                        "code": err.code,
                        "message": err.message,
                        "committed": err.committed,
                    }
                )
                + "\n"
            )
        else:
            self.out.write(_("error: {message}", message=err.message) + "\n")
        self.out.flush()

    def _is_mine(self, user: UserRef) -> bool:
        return self.owner is None or user.key == self.owner.key

    async def deliver_private(self, user: UserRef, delivery: KeyDelivery) -> bool | None:
        """Print the key for this terminal's owner and return True; None for anyone else's key (not attempted: it waits
        for their own front end)."""
        if not self._is_mine(user):
            return None  # someone else's key: it waits, untouched, for their own console
        self.emit("private_delivery", delivery, private=True, to=user)
        return True

    async def order_progress(self, order: OrderView) -> None:
        """Show progress of the owner's orders, only interactively or as JSON (a piped transcript stays short)."""
        if (self.interactive or self.as_json) and self._is_mine(order.user):
            self.emit("order_progress", order)

    async def order_finished(self, order: OrderView) -> None:
        """Show the end of one of the owner's orders."""
        if self._is_mine(order.user):
            self.emit("order_finished", order)

    async def notify(self, user: UserRef, text: str) -> None:
        """Print a private notice for the owner; anyone else's is dropped."""
        if self._is_mine(user):
            self.emit("notice", text, private=True, to=user)


class ConsoleSession:
    """One person at the console: typed lines run as that user (in community, if any) through the service; cards are
    saved under cards_dir (./vanikeys-cards by default)."""

    def __init__(
        self,
        service: Service,
        frontend: ConsoleFrontEnd,
        user: UserRef,
        community: CommunityRef | None,
        *,
        cards_dir: Path | None = None,
    ) -> None:
        self.service = service
        self.frontend = frontend
        self.user = user
        self.community = community
        self.cards_dir = cards_dir or Path("vanikeys-cards")
        self._session_id = uuid.uuid4().hex[:12]
        self._gifts = 0
        self._revealed: set[str] = set()
        self.locale = DEFAULT if frontend.as_json else current()  # the terminal's, as the CLI started

    async def handle(self, line: str) -> bool:
        """Run one line in the session's language; False when the session should end."""
        with use_locale(await self._language()):
            return await self._handle(line)

    async def _language(self) -> str:
        """--json: English, for scripts. Else the console community's `/config language`, else the terminal's."""
        if self.frontend.as_json:
            return DEFAULT
        return public_locale(await self.service.community_language(self.community), self.locale)

    async def _handle(self, line: str) -> bool:
        try:
            command = parse_line(line)
            if command is None:
                return True
            if command.name in ("quit", "exit"):
                return False
            kind, answer = await self._dispatch(command)
            if kind == "pull" and not self.frontend.as_json and answer.job_id in self._revealed:
                self.frontend.emit(kind, render_pull_done(answer))  # the reveal above showed the keys
            else:
                self.frontend.emit(kind, answer)
        except ServiceError as err:
            self.frontend.error(err)
        return True

    async def _reveal(self, answer: PullAnswer) -> None:
        """The reveal comes before the private key (the service delivers after this returns)."""
        self._revealed.add(answer.job_id)
        self.frontend.emit("pull_reveal", answer)

    def _save_card(self, card: CardAnswer) -> str:
        path = self.cards_dir / card.filename
        self.cards_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(card.png)
        return _("{card} saved to {path}", card=render(card), path=path)

    async def _dispatch(self, c: ParsedCommand) -> tuple[str, Any]:
        s, user = self.service, self.user
        if c.name == "pull":
            pattern, fmt, count = split_pull_args(c.args)
            try:
                return "pull", await s.pull(
                    user,
                    self.community,
                    pattern,
                    fmt,
                    count,
                    exact_case=c.exact_case,
                    fuzzy=c.fuzzy,
                    allow_easy=c.anyway,
                    on_reveal=self._reveal,
                )
            except ServiceError as err:
                if err.code == "easy_pattern":
                    raise ServiceError(err.code, _("{refusal} (add --anyway)", refusal=err.message)) from None
                raise
        if c.name == "order":
            pattern, fmt, pubkey = split_order_args(c.args)
            return "order", await s.order(
                user, self.community, pattern, fmt, pubkey, exact_case=c.exact_case, fuzzy=c.fuzzy
            )
        if c.name == "odds":
            pattern, fmt = split_odds_args(c.args)
            return "odds", await s.odds(pattern, fmt, exact_case=c.exact_case, fuzzy=c.fuzzy)
        no_args = {"balance": s.balance, "keys": s.keys, "history": s.history}
        if c.name in no_args:
            self._no_args(c)
            return c.name, await no_args[c.name](user)
        if c.name == "topup":
            if len(c.args) > 1:
                raise ServiceError("bad_command", _("usage: /topup [pack], e.g. /topup 500"))
            return "topup", await s.topup(user, c.args[0] if c.args else None)
        if c.name == "leaderboard":
            self._no_args(c)
            return "leaderboard", await s.leaderboard(self.community)
        if c.name == "help":
            return "help", s.help()
        if c.name == "grant":
            if len(c.args) != 2:
                raise ServiceError("bad_command", _("usage: /grant <user> <tokens>, e.g. /grant alice 100"))
            tokens = _number(c.args[1], what=_("the tokens to grant"), minimum=1, maximum=10**12)
            balance = await s.grant(UserRef(PLATFORM, c.args[0], c.args[0]), tokens)
            return "grant", ngettext(
                "granted {n} token to {user}; balance now {balance}",
                "granted {n} tokens to {user}; balance now {balance}",
                tokens,
                user=c.args[0],
                balance=number(balance),
            )
        if c.name == "gift":
            if len(c.args) != 2:
                raise ServiceError("bad_command", _("usage: /gift <user> <tokens>, e.g. /gift bob 10"))
            tokens = _number(c.args[1], what=_("the tokens to gift"), minimum=1, maximum=10**9)
            self._gifts += 1
            key = f"console:{self._session_id}:{self._gifts}"
            return "gift", await s.gift(user, UserRef(PLATFORM, c.args[0], c.args[0]), tokens, idempotency_key=key)
        if c.name == "config":
            if not c.args:
                return "config", await s.config(user, self.community, is_admin=True)
            if len(c.args) != 2:
                raise ServiceError("bad_command", _("usage: /config [<setting> <value>], e.g. /config pulls off"))
            return "config", await s.configure(
                user, self.community, c.args[0], c.args[1], is_admin=True, label=c.args[1]
            )
        if c.name == "profile":
            self._no_args(c)
            return "profile", await s.profile(user, self.community, share=c.share, hide=c.hide)
        if c.name == "streak":
            self._no_args(c)
            return "streak", await s.streak(user)
        if c.name == "season":
            self._no_args(c)
            return "season", await s.season_leaderboard(self.community)
        if c.name == "card":
            if len(c.args) > 1:
                raise ServiceError("bad_command", _("usage: /card [pull id]; without an id, your latest pull"))
            card = await s.card(user, self.community, c.args[0] if c.args else None)
            return "card", self._save_card(card)
        raise ServiceError("bad_command", _("unknown command /{name}: try /help", name=c.name))

    @staticmethod
    def _no_args(c: ParsedCommand) -> None:
        if c.args:
            raise ServiceError("bad_command", _("/{name} takes no arguments: type just /{name}", name=c.name))


async def run_console(
    service: Service,
    *,
    user_name: str,
    community_name: str | None,
    as_json: bool,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Read commands from stdin (prompted when it is a terminal and not as_json) as user_name until EOF, /quit or /exit,
    printing to stdout; registers the console front end for that user only. Waits for the service to go idle
    (orders placed here delivered) before it returns 0."""
    with use_locale(DEFAULT if as_json else current()):  # --json: English, whatever the terminal's language
        return await _run_console(service, user_name, community_name, as_json, stdin or sys.stdin, stdout or sys.stdout)


async def _run_console(
    service: Service, user_name: str, community_name: str | None, as_json: bool, stdin: TextIO, stdout: TextIO
) -> int:
    interactive = stdin.isatty() and not as_json
    user = UserRef(PLATFORM, user_name, user_name)
    frontend = ConsoleFrontEnd(stdout, as_json=as_json, interactive=interactive, owner=user)
    service.register_frontend(frontend, only_user=user)
    community = CommunityRef(PLATFORM, community_name, community_name) if community_name else None
    session = ConsoleSession(service, frontend, user, community)
    if interactive:
        stdout.write(_("VaniKeys console as {user}: type /help, /quit to leave", user=user_name) + "\n")
    while True:
        frontend.at_prompt = interactive
        try:
            line = await _next_line(stdin, PROMPT if interactive else None)
        finally:
            frontend.at_prompt = False
        if line is None or not await session.handle(line):
            break
    await service.wait_idle()  # orders placed here, and keys waiting for this user, are delivered before exit
    return 0


async def _next_line(stdin: TextIO, prompt: str | None) -> str | None:
    """The next line, read in a daemon thread of its own. Not asyncio.to_thread: its executor thread stays
    blocked in a read that an open standard input never answers, and the event loop's shutdown waits for
    it, so `vanikeys bot` outlived SIGTERM until it was killed. A daemon thread is left behind instead."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str | None] = loop.create_future()

    def settle(line: str | None, error: BaseException | None) -> None:
        if answer.done():
            return
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(line)

    def read() -> None:
        line, error = None, None
        try:
            line = _read_line(stdin, prompt)
        except Exception as exc:  # handed to the awaiting task, as to_thread would
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed while we read: nobody wants the line
            loop.call_soon_threadsafe(settle, line, error)

    threading.Thread(target=read, name="console-stdin", daemon=True).start()
    return await answer


def _typed_so_far() -> str:
    """What the person has typed at the prompt and not yet sent (readline's buffer; "" without readline)."""
    try:
        import readline
    except ImportError:  # pragma: no cover - Windows' Python has no readline
        return ""
    return readline.get_line_buffer()


def _read_line(stdin: TextIO, prompt: str | None) -> str | None:
    if prompt is not None:
        try:
            return input(prompt)
        except EOFError:
            return None
    line = stdin.readline()
    return line if line else None
