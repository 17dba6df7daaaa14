"""What the service answers: plain data that each front end renders its own way.

Front ends (Discord, Telegram, the console) never compute anything from
these beyond formatting. Identifiers come with the spans of their matched
parts so every front end can highlight them; secrets only ever travel inside
a `KeyDelivery`, which is meant for a private channel and redacts itself in
repr() so a stray log line cannot leak it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field
from datetime import datetime
from typing import Literal

from gpu_worker.i18n import N_, _, gettext_now, ngettext, percent

# --- who and where -------------------------------------------------------


@dataclass(frozen=True)
class UserRef:
    """A person on one platform. Identity is (platform, user_id); the name is for display only."""

    platform: str
    user_id: str
    display_name: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """The identity as a (platform, user_id) pair: the key accounts and jobs are stored under."""
        return (self.platform, self.user_id)

    @property
    def label(self) -> str:
        """The name to show: the display name, else the user id."""
        return self.display_name or self.user_id


@dataclass(frozen=True)
class CommunityRef:
    """A Discord server, a Telegram group, or the console; None means a private chat."""

    platform: str
    community_id: str
    title: str = ""


@dataclass(frozen=True)
class Origin:
    """Where an order was placed, so progress can be edited in place there. Opaque to the service."""

    platform: str
    chat_id: str
    message_id: str | None = None


# What a refused or interrupted command left committed. "nothing": refused before any write (front ends may
# say "nothing was charged"). "charged": paid, and the job goes on (the message says what follows).
# "refunded": paid, then given back. "unknown": storage could not say (the message says what to do meanwhile).
Committed = Literal["nothing", "charged", "refunded", "unknown"]


class ServiceError(Exception):
    """Something the user can fix (or must wait for); the message is one line, ready to show.

    Codes: the engine's (bad_format, bad_pattern, bad_pubkey, too_hard, ...) plus
    bad_count, insufficient_tokens, daily_limit, account_frozen, busy, not_found,
    payments_unavailable, bad_pack, bad_amount, backend_unavailable, easy_pattern,
    wrong_channel (a `WrongChannel`), pulls_disabled, not_admin, bad_setting, bad_gift,
    storage_unavailable. `committed` says what the command left committed: a front end
    adds "nothing was charged" only when it is "nothing"; otherwise the message says it.
    """

    committed: Committed = "nothing"

    def __init__(self, code: str, message: str, *, committed: Committed = "nothing") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.committed = committed

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ServiceError({self.code!r}, {self.message!r})"


class WrongChannel(ServiceError):
    """Pulls in this community go to one channel: answer privately with a pointer to it."""

    def __init__(self, channel_id: str, channel_label: str) -> None:
        where = channel_label or channel_id
        super().__init__(
            "wrong_channel", _("pulls here go in {where}: pull there (this one was not charged)", where=where)
        )
        self.channel_id = channel_id
        self.channel_label = channel_label


# --- keys as everyone may see them --------------------------------------


Span = tuple[int, int]  # [start, end) character offsets into the full identifier (prefix included)


@dataclass(frozen=True)
class ShownKey:
    """A found key as it may be shown in a channel: identifier, never a secret."""

    format_id: str
    identifier: str
    spans: tuple[Span, ...]  # matched parts, offsets into `identifier`
    score: int
    max_score: int
    full: bool
    tier: str  # "Common" .. "Mythic"
    one_in_pulls: float  # how many pulls it takes on average to do this well (inf-safe: float)

    def segments(self) -> list[tuple[str, bool]]:
        """The identifier cut into (text, highlighted) pieces, in order, for renderers."""
        pieces: list[tuple[str, bool]] = []
        at = 0
        for start, end in sorted(self.spans):
            if start > at:
                pieces.append((self.identifier[at:start], False))
            if end > start:
                pieces.append((self.identifier[max(start, at) : end], True))
            at = max(at, end)
        if at < len(self.identifier):
            pieces.append((self.identifier[at:], False))
        return pieces


@dataclass(frozen=True)
class OddsAnswer:
    """The odds of a pattern, with what a pull and an order of it would cost and take on this deployment."""

    format_id: str
    format_title: str
    pattern: str  # as typed
    max_score: int
    p_full: float  # one random key matches fully
    expected_keys: float  # 1 / p_full
    pull_keys: int  # keys ground per pull on the configured backend
    p_full_in_pull: float  # chance that one pull finds a full match
    p_at_least: tuple[float, ...]  # index s: P(one key scores >= s)
    pull_price: int  # tokens per pull (after free pulls)
    order_price: int | None  # tokens; None when an order is refused
    order_expected_s: float  # expected grinding time of an order at the configured rate
    order_refusal: str | None  # why an order would be refused (too hard), else None
    web_url: str | None = None  # this pattern in the public odds calculator (None: no public address set)


@dataclass(frozen=True)
class PersonalBest:
    """How a pull compares with the person's earlier pulls of the same pattern family.

    family: format + the pattern case-folded with spaces collapsed ("btc ^love").
    previous_one_in: the best earlier "1 in X pulls" in that family (None: the first pull of it).
    is_new: this pull's best beats the previous best (never on a first pull).
    """

    family: str
    previous_one_in: float | None
    is_new: bool


@dataclass(frozen=True)
class StreakAnswer:
    """Consecutive days with a pull, counted in the operator's time zone."""

    user: UserRef
    days: int  # current streak (0 when the last pull was before yesterday)
    best_days: int  # longest streak ever
    last_day: str | None  # local date (YYYY-MM-DD) of the last pull, None: never pulled
    time_zone: str  # e.g. "UTC", "Europe/Berlin"
    next_milestone: int | None  # next streak length that gives bonus free pulls (None: no more)
    bonus_pulls_today: int  # bonus free pulls this streak gave today (0 usually)
    message: str  # one line, e.g. "3-day streak: 1 bonus free pull today; next bonus at 7 days"


@dataclass(frozen=True)
class CutShort:
    """A pull its time limit stopped before all its keys were ground; the unground share was refunded."""

    ground_pct: int
    tokens_back: int
    free_pulls_back: int

    @property
    def note(self) -> str:
        """One line for the reveal (no amounts: what was paid is the puller's business, not the channel's)."""
        back = (
            _("the unground share was refunded") if self.tokens_back or self.free_pulls_back else _("nothing to refund")
        )
        return _(
            "cut short by its time limit at {share} of its keys: {back}", share=str(self.ground_pct) + "%", back=back
        )


@dataclass(frozen=True)
class PullAnswer:
    """The result of one pull or 10-pull: the keys shown (no secrets), what it cost, and whether the secrets went
    out."""

    job_id: str
    user: UserRef
    community: CommunityRef | None
    pattern: str
    format_id: str
    format_title: str
    count: int  # 1 or 10
    keys: tuple[ShownKey, ...]  # one per pull, best first (rarest, then highest score)
    best_index: int  # index into keys of the rarest: always 0
    tokens_spent: int
    free_pulls_used: int
    balance_after: int
    keys_checked: int
    backend: str
    elapsed_s: float
    odds: OddsAnswer
    delivered: bool  # True: the secrets went out privately
    delivery_note: str  # what to do when not delivered (e.g. "send /keys in a private chat")
    personal_best: PersonalBest | None = None
    announce_channel: str | None = None  # Epic and up in a community with an announcement channel: post there too
    card_png: bytes | None = field(default=None, repr=False)  # Rare and up: the reveal's card (PNG, no secret)
    streak: StreakAnswer | None = None
    cut_short: CutShort | None = None  # the time limit stopped it early; the unground share was refunded

    @property
    def best(self) -> ShownKey:
        """The rarest key of the pull (keys[best_index])."""
        return self.keys[self.best_index]

    @property
    def is_new_personal_best(self) -> bool:
        """True when this pull beat the person's earlier best of the same pattern family."""
        return self.personal_best is not None and self.personal_best.is_new


OrderStatus = Literal["accepted", "submitted", "running", "found", "delivered", "failed", "refunded"]


# An order's status in a word, as people read it (the console's brackets, Discord's embed title).
ORDER_STATUS_WORDS = {
    "accepted": N_("placed"),
    "submitted": N_("queued"),
    "running": N_("grinding"),
    "found": N_("found"),
    "delivered": N_("complete"),
    "failed": N_("failed"),
    "refunded": N_("refunded"),
}


def order_status_word(status: str) -> str:
    """`status` (a job status) in a word in the current locale; a status with no word, as stored."""
    word = ORDER_STATUS_WORDS.get(status)
    return _(word) if word else status


@dataclass(frozen=True)
class OrderView:
    """An order's state, pushed to the front end that placed it (progress edits in place at origin)."""

    order_id: str
    user: UserRef
    community: CommunityRef | None
    origin: Origin | None
    pattern: str
    format_id: str
    split: bool  # split-key order: the secret delivered is an offset
    status: OrderStatus
    price: int
    keys_checked: int
    expected_keys: float
    percent: float  # of expected keys; can pass 100
    rate_keys_per_s: float
    eta_s: float | None  # None until a rate is known
    found: ShownKey | None
    delivered: bool
    message: str  # one line for people: progress, success, or why it failed / was refunded
    delivery_pending: bool = False  # found, shown before the private delivery, which has not been attempted yet
    # `message` written again in the locale current where it is called: a private notice about a group's order is
    # in the person's language, its reason included, while `message` is in the group's. Not a field: the view's
    # data (the console's JSON, equality) stays what it was; dataclasses.replace drops it (message_now: `message`).
    message_in_current_locale: InitVar[Callable[[], str] | None] = None

    def __post_init__(self, message_in_current_locale: Callable[[], str] | None) -> None:
        object.__setattr__(self, "_rewrite", message_in_current_locale)

    def message_now(self) -> str:
        """The one line in the current locale (`message` when the view cannot write it again)."""
        rewrite: Callable[[], str] | None = getattr(self, "_rewrite", None)
        return self.message if rewrite is None else rewrite()


@dataclass(frozen=True)
class OrderAnswer:
    """The answer to an order just placed: its first view, the balance left, and the expected grinding time."""

    order: OrderView
    balance_after: int
    expected_s: float
    note: str  # e.g. "your key will arrive by private message"


@dataclass(frozen=True)
class BalanceAnswer:
    """A person's balance, debt, free pulls and daily spend, with the current prices."""

    user: UserRef
    tokens: int
    debt: int  # owed after a clawback; paid actions frozen while > 0
    frozen: bool
    free_pulls_left: int
    free_pulls_per_day: int
    spent_today: int
    daily_spend_limit: int
    pull_price: int
    ten_pull_price: int


@dataclass(frozen=True)
class TopupPack:
    """One token pack on sale: its id, the tokens it gives, and its display price."""

    pack_id: str
    tokens: int
    price: str  # display price, e.g. "$5.00"


@dataclass(frozen=True)
class TopupAnswer:
    """How to buy tokens: a checkout link for this user (when payments are configured), or why there is none."""

    configured: bool
    message: str  # one line: where to pay, or that payments are not configured
    url: str | None = None  # Stripe Checkout URL, for this user only
    pack: TopupPack | None = None
    packs: tuple[TopupPack, ...] = ()


# --- secrets: private channels only -------------------------------------


@dataclass(frozen=True)
class DeliveredSecret:
    """One secret of a job, for a private channel only: repr() and str() redact the value."""

    identifier: str
    secret_kind: Literal["private_key", "offset"]
    export_kind: str  # "wif" | "hex"
    value: str  # what the user imports (private key) or combines (offset)
    jwk: str | None = None
    score: int = 0
    max_score: int = 0
    tier: str = ""

    def __repr__(self) -> str:
        return f"DeliveredSecret(identifier={self.identifier!r}, secret_kind={self.secret_kind!r}, value=<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True)
class KeyDelivery:
    """One private message: the secrets of one job (1 for a pull or order, 10 for a 10-pull)."""

    job_id: str
    kind: Literal["pull", "order"]
    format_id: str
    pattern: str
    secrets: tuple[DeliveredSecret, ...]
    note: str  # how to import; for split-key, how to run `vanikeys combine`

    def __repr__(self) -> str:
        return f"KeyDelivery(job_id={self.job_id!r}, kind={self.kind!r}, secrets={len(self.secrets)}, <redacted>)"

    __str__ = __repr__


@dataclass(frozen=True)
class KeysAnswer:
    """What /keys did: the jobs whose secrets went out privately just now, those still waiting, and a line to show."""

    delivered: tuple[str, ...]  # job ids whose keys went out privately just now
    undelivered: tuple[str, ...]  # job ids still waiting (private channel closed)
    message: str


# --- history, leaderboard, help -----------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a person's history: a change to the balance (or a free pull) and what it was for."""

    at: datetime
    kind: str  # "pull", "order", "refund", "purchase", "clawback", "grant", ...
    tokens: int  # signed change to the balance (0 for free pulls)
    detail: str


# A ledger row's kind (stored as a code) as people read it; an unknown kind is shown as stored.
_HISTORY_KINDS = {
    "pull": N_("pull"),
    "order": N_("order"),
    "refund": N_("refund"),
    "purchase": N_("purchase"),
    "grant": N_("grant"),
    "admin_grant": N_("grant"),
    "admin_take": N_("taken back"),
    "take": N_("taken back"),
    "clawback": N_("taken back"),
    "gift_sent": N_("gift sent"),
    "gift_received": N_("gift received"),
    "streak_bonus": N_("streak bonus"),
    "grinder_failed": N_("refund"),
    "refund_reversed": N_("refund reversed"),
    "dispute": N_("dispute"),
    "dispute_closed": N_("dispute closed"),
}
# The reasons the bot itself stores with a ledger row (English, for the operators' audit trail), shown translated;
# an operator's own --reason is shown as they wrote it.
_STORED_REASONS = {**_HISTORY_KINDS, "admin grant": N_("grant")}
_JOB_REASON = re.compile(r"(?:pull|order) (\w+) (.+)")
_GIFT_REASON = re.compile(r"gift (to|from) (.+)")
_STREAK_REASON = re.compile(r"(\d+)-day streak bonus")
_CUT_SHORT_REASON = re.compile(r"cut short by its time limit: ([\d.]+)% of its keys ground")


def history_kind(kind: str) -> str:
    """A ledger row's kind in the current language ("gift_sent" -> "gift sent", "regalo enviado")."""
    label = _HISTORY_KINDS.get(kind)
    return gettext_now(label) if label else kind


def history_detail(kind: str, reason: str, free_pulls: int) -> str:
    """What a ledger row was for, in the current language, from its stored reason and free pulls."""
    base = _reason(reason or kind)
    if free_pulls > 0:
        return ngettext("{base} ({n} free pull)", "{base} ({n} free pulls)", free_pulls, base=base)
    if free_pulls < 0:
        return ngettext("{base} ({n} free pull back)", "{base} ({n} free pulls back)", -free_pulls, base=base)
    return base


def _reason(reason: str) -> str:
    if reason in _STORED_REASONS:
        return gettext_now(_STORED_REASONS[reason])
    if found := _JOB_REASON.fullmatch(reason):
        return f"{found[1]} {found[2]}"  # the format and the pattern: the kind says pull or order
    if found := _GIFT_REASON.fullmatch(reason):
        return _("to {who}", who=found[2]) if found[1] == "to" else _("from {who}", who=found[2])
    if found := _STREAK_REASON.fullmatch(reason):
        return ngettext("{n}-day streak", "{n}-day streak", int(found[1]))
    if found := _CUT_SHORT_REASON.fullmatch(reason):
        return _("cut short by its time limit: {share} of its keys ground", share=percent(float(found[1]) / 100, 0))
    return reason


@dataclass(frozen=True)
class HistoryAnswer:
    """A person's recent history, newest first, with the balance now."""

    user: UserRef
    entries: tuple[HistoryEntry, ...]  # newest first
    balance: int


@dataclass(frozen=True)
class LeaderboardEntry:
    """One row of a leaderboard: a person's rarest pull, ranked."""

    rank: int
    user: UserRef
    key: ShownKey
    pattern: str
    at: datetime


@dataclass(frozen=True)
class LeaderboardAnswer:
    """A community's all-time leaderboard (None: the global one), rarest pull first, one row per person."""

    community: CommunityRef | None
    entries: tuple[LeaderboardEntry, ...]  # rarest pulls first, one per user


@dataclass(frozen=True)
class CommandHelp:
    """One command in the help: its name, usage line and summary."""

    name: str  # "pull"
    usage: str  # "/pull <pattern> [format] [count]"
    summary: str


@dataclass(frozen=True)
class HelpAnswer:
    """What /help shows: the commands, the formats (id, title), and extra notes."""

    commands: tuple[CommandHelp, ...]
    formats: tuple[tuple[str, str], ...]  # (id, title)
    notes: tuple[str, ...] = field(default_factory=tuple)


# --- community: settings, gifts, seasons, profiles, cards ---------------


@dataclass(frozen=True)
class CommunityConfig:
    """One server's or group's settings (an admin changes them with /config)."""

    community: CommunityRef
    pull_channel: str | None  # platform channel id; None: pulls anywhere
    pull_channel_label: str  # how to name it to people ("#pulls")
    announce_channel: str | None  # Epic and up are also posted here; None: nowhere
    announce_channel_label: str
    pulls_allowed: bool
    free_pulls_per_day: int | None  # the community's override; None: the operator's default
    operator_free_pulls: int  # the operator's daily free pulls: the cap of any override
    gallery: bool = False  # a public gallery page (bot/web): Rare-and-up cards, season, named bests
    gallery_slug: str | None = None  # its address: /web/c/<slug>, random, never a platform id
    language: str | None = None  # public messages' locale ("es"); None: the language of whoever is answered

    @property
    def effective_free_pulls(self) -> int:
        """The free pulls a day members get here: the community's override capped by the operator's, else the
        operator's."""
        if self.free_pulls_per_day is None:
            return self.operator_free_pulls
        return min(self.free_pulls_per_day, self.operator_free_pulls)


@dataclass(frozen=True)
class ConfigAnswer:
    """What /config did: the community's settings now, the one just changed (if any), and a line to show."""

    config: CommunityConfig
    changed: str | None  # the setting just changed; None when only shown
    message: str  # one line: what changed, or how to change things
    lines: tuple[str, ...] = ()  # each setting as "name: value", for display


@dataclass(frozen=True)
class GiftAnswer:
    """What /gift did: the sender's balance after it and whether it moved tokens (a repeated key moves nothing)."""

    sender: UserRef
    recipient: UserRef
    tokens: int
    balance_after: int  # the sender's (private: show it to the sender only)
    applied: bool  # False: this gift's idempotency key was seen before; nothing moved again
    message: str  # for the sender, privately


@dataclass(frozen=True)
class SeasonLeaderboardAnswer:
    """A community's leaderboard for the current season (an ISO week in the operator's time zone)."""

    community: CommunityRef | None
    season: str  # ISO week in the operator's time zone, e.g. "2026-W49"
    starts_at: datetime  # aware, in the operator's time zone
    ends_at: datetime
    entries: tuple[LeaderboardEntry, ...]  # rarest pull this season first, one per user


@dataclass(frozen=True)
class ProfilePull:
    """One of a profile's best pulls: the key shown, its pattern, when, and where."""

    key: ShownKey
    pattern: str
    at: datetime
    community_title: str


@dataclass(frozen=True)
class ProfileAnswer:
    """A person's profile in a community: best pulls, total pulls, streak and season rank; `share` says who sees it."""

    user: UserRef
    community: CommunityRef | None
    best_pulls: tuple[ProfilePull, ...]  # rarest first, at most 5
    total_pulls: int
    streak: StreakAnswer
    season: str
    season_rank: int | None  # rank in this community's season leaderboard; None: no pull this season
    share: bool  # False: show privately (ephemeral / private chat); True: the person chose to show it


@dataclass(frozen=True)
class CardAnswer:
    """A PNG card for one key: never a secret, safe to post in a channel."""

    key: ShownKey
    pattern: str
    format_id: str
    png: bytes = field(repr=False)
    width: int = 0
    height: int = 0
    filename: str = "vanikeys-card.png"
