"""What the service answers: plain data that each front end renders its own way.

Front ends (Discord, Telegram, the console) never compute anything from
these beyond formatting. Identifiers come with the spans of their matched
parts so every front end can highlight them; secrets only ever travel inside
a `KeyDelivery`, which is meant for a private channel and redacts itself in
repr() so a stray log line cannot leak it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


# --- who and where -------------------------------------------------------


@dataclass(frozen=True)
class UserRef:
    """A person on one platform. Identity is (platform, user_id); the name is for display only."""

    platform: str
    user_id: str
    display_name: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.platform, self.user_id)

    @property
    def label(self) -> str:
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


class ServiceError(Exception):
    """Something the user can fix (or must wait for); the message is one line, ready to show.

    Codes: the engine's (bad_format, bad_pattern, bad_pubkey, too_hard, ...) plus
    bad_count, insufficient_tokens, daily_limit, account_frozen, busy, not_found,
    payments_unavailable, bad_pack, bad_amount, backend_unavailable.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ServiceError({self.code!r}, {self.message!r})"


# --- keys as everyone may see them --------------------------------------


Span = tuple[int, int]  # [start, end) character offsets into the full identifier (prefix included)


@dataclass(frozen=True)
class ShownKey:
    """A found key as it may be shown in a channel: identifier, never a secret."""

    format_id: str
    identifier: str
    spans: tuple[Span, ...]       # matched parts, offsets into `identifier`
    score: int
    max_score: int
    full: bool
    tier: str                     # "Common" .. "Mythic"
    one_in_pulls: float           # how many pulls it takes on average to do this well (inf-safe: float)

    def segments(self) -> list[tuple[str, bool]]:
        """The identifier cut into (text, highlighted) pieces, in order, for renderers."""
        pieces: list[tuple[str, bool]] = []
        at = 0
        for start, end in sorted(self.spans):
            if start > at:
                pieces.append((self.identifier[at:start], False))
            if end > start:
                pieces.append((self.identifier[max(start, at):end], True))
            at = max(at, end)
        if at < len(self.identifier):
            pieces.append((self.identifier[at:], False))
        return pieces


@dataclass(frozen=True)
class OddsAnswer:
    format_id: str
    format_title: str
    pattern: str                  # as typed
    max_score: int
    p_full: float                 # one random key matches fully
    expected_keys: float          # 1 / p_full
    pull_keys: int                # keys ground per pull on the configured backend
    p_full_in_pull: float         # chance that one pull finds a full match
    p_at_least: tuple[float, ...]  # index s: P(one key scores >= s)
    pull_price: int               # tokens per pull (after free pulls)
    order_price: int | None       # tokens; None when an order is refused
    order_expected_s: float       # expected grinding time of an order at the configured rate
    order_refusal: str | None     # why an order would be refused (too hard), else None


@dataclass(frozen=True)
class PullAnswer:
    job_id: str
    user: UserRef
    community: CommunityRef | None
    pattern: str
    format_id: str
    format_title: str
    count: int                    # 1 or 10
    keys: tuple[ShownKey, ...]    # one per pull, in pull order
    best_index: int               # index into keys of the rarest
    tokens_spent: int
    free_pulls_used: int
    balance_after: int
    keys_checked: int
    backend: str
    elapsed_s: float
    odds: OddsAnswer
    delivered: bool               # True: the secrets went out privately
    delivery_note: str            # what to do when not delivered (e.g. "send /keys in a private chat")

    @property
    def best(self) -> ShownKey:
        return self.keys[self.best_index]


OrderStatus = Literal["accepted", "submitted", "running", "found", "delivered", "failed", "refunded"]


@dataclass(frozen=True)
class OrderView:
    """An order's state, pushed to the front end that placed it (progress edits in place at origin)."""

    order_id: str
    user: UserRef
    community: CommunityRef | None
    origin: Origin | None
    pattern: str
    format_id: str
    split: bool                   # split-key order: the secret delivered is an offset
    status: OrderStatus
    price: int
    keys_checked: int
    expected_keys: float
    percent: float                # of expected keys; can pass 100
    rate_keys_per_s: float
    eta_s: float | None           # None until a rate is known
    found: ShownKey | None
    delivered: bool
    message: str                  # one line for people: progress, success, or why it failed / was refunded


@dataclass(frozen=True)
class OrderAnswer:
    order: OrderView
    balance_after: int
    expected_s: float
    note: str                     # e.g. "your key will arrive by private message"


@dataclass(frozen=True)
class BalanceAnswer:
    user: UserRef
    tokens: int
    debt: int                     # owed after a clawback; paid actions frozen while > 0
    frozen: bool
    free_pulls_left: int
    free_pulls_per_day: int
    spent_today: int
    daily_spend_limit: int
    pull_price: int
    ten_pull_price: int


@dataclass(frozen=True)
class TopupPack:
    pack_id: str
    tokens: int
    price: str                    # display price, e.g. "$5.00"


@dataclass(frozen=True)
class TopupAnswer:
    configured: bool
    message: str                  # one line: where to pay, or that payments are not configured
    url: str | None = None        # Stripe Checkout URL, for this user only
    pack: TopupPack | None = None
    packs: tuple[TopupPack, ...] = ()


# --- secrets: private channels only -------------------------------------


@dataclass(frozen=True)
class DeliveredSecret:
    identifier: str
    secret_kind: Literal["private_key", "offset"]
    export_kind: str              # "wif" | "hex"
    value: str                    # what the user imports (private key) or combines (offset)
    jwk: str | None = None
    score: int = 0
    max_score: int = 0
    tier: str = ""

    def __repr__(self) -> str:
        return (f"DeliveredSecret(identifier={self.identifier!r}, secret_kind={self.secret_kind!r}, "
                "value=<redacted>)")

    __str__ = __repr__


@dataclass(frozen=True)
class KeyDelivery:
    """One private message: the secrets of one job (1 for a pull or order, 10 for a 10-pull)."""

    job_id: str
    kind: Literal["pull", "order"]
    format_id: str
    pattern: str
    secrets: tuple[DeliveredSecret, ...]
    note: str                     # how to import; for split-key, how to run `vanikeys combine`

    def __repr__(self) -> str:
        return f"KeyDelivery(job_id={self.job_id!r}, kind={self.kind!r}, secrets={len(self.secrets)}, <redacted>)"

    __str__ = __repr__


@dataclass(frozen=True)
class KeysAnswer:
    delivered: tuple[str, ...]    # job ids whose keys went out privately just now
    undelivered: tuple[str, ...]  # job ids still waiting (private channel closed)
    message: str


# --- history, leaderboard, help -----------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    kind: str                     # "pull", "order", "refund", "purchase", "clawback", "grant", ...
    tokens: int                   # signed change to the balance (0 for free pulls)
    detail: str


@dataclass(frozen=True)
class HistoryAnswer:
    user: UserRef
    entries: tuple[HistoryEntry, ...]  # newest first
    balance: int


@dataclass(frozen=True)
class LeaderboardEntry:
    rank: int
    user: UserRef
    key: ShownKey
    pattern: str
    at: datetime


@dataclass(frozen=True)
class LeaderboardAnswer:
    community: CommunityRef | None
    entries: tuple[LeaderboardEntry, ...]  # rarest pulls first, one per user


@dataclass(frozen=True)
class CommandHelp:
    name: str                     # "pull"
    usage: str                    # "/pull <pattern> [format] [count]"
    summary: str


@dataclass(frozen=True)
class HelpAnswer:
    commands: tuple[CommandHelp, ...]
    formats: tuple[tuple[str, str], ...]  # (id, title)
    notes: tuple[str, ...] = field(default_factory=tuple)
