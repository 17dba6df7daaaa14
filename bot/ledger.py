"""Balances and ledger rows: integer tokens, one row per change, never below zero.

Every change is a row with a unique idempotency key, written in the same
transaction as the balance it changes. Debits are conditional updates
(`... WHERE balance >= ?`), so neither coroutines nor processes can take a
balance below zero; the CHECK constraints on the tables are the last line of
defence. Credits settle debt (left by clawbacks) first.

Across processes: on SQLite every write transaction holds the file's write
lock from its start (BEGIN IMMEDIATE); on PostgreSQL the first statement of
every change, `ensure_account`'s upsert, locks the account row until commit,
so what is read about the account afterwards (balance, debt, today's usage,
earlier idempotency keys) is current and stays so.

Functions taking a `Tx` run inside a caller's transaction, so a debit and the
job it pays for commit together.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.answers import ServiceError, UserRef
from bot.command_refs import commands
from bot.storage import Database, Row, StorageUnavailable, Tx
from gpu_worker.i18n import _, ngettext, number


def utc_day(at: float | None = None) -> str:
    """The UTC calendar day of `at` (default: now) as YYYY-MM-DD: the day free pulls and spend limits count in."""
    return datetime.fromtimestamp(time.time() if at is None else at, tz=UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Account:
    """A user's balance and debt in tokens, both never negative; debt (left by clawbacks) freezes spending."""

    balance: int
    debt: int

    @property
    def frozen(self) -> bool:
        """Whether the account owes tokens: it may not spend until credits settle the debt."""
        return self.debt > 0


@dataclass(frozen=True)
class Debit:
    """What a charge took: tokens from the balance and free pulls from today's allowance."""

    tokens: int
    free_pulls: int
    balance_after: int
    replayed: bool  # the idempotency key was seen before; nothing changed this time


@dataclass(frozen=True)
class Credit:
    """What one credit or clawback did: whether it applied (False: a replay of its key) and the amounts after."""

    applied: bool  # False: a replay, nothing changed
    tokens_moved: int  # signed change actually made to the balance
    debt_change: int  # signed change to the debt
    balance_after: int
    debt_after: int


@dataclass(frozen=True)
class DayUsage:
    """One user's use of one UTC day: free pulls taken and tokens spent (pulls, orders and gifts, net of refunds)."""

    free_pulls_used: int
    spent: int


# Today's free pulls used and tokens spent by one account: (platform, user_id, day).
_USAGE_SQL = (
    "SELECT COALESCE(SUM(free_pulls), 0) AS free, "
    "COALESCE(-SUM(CASE WHEN kind IN ('pull', 'order', 'refund', 'gift_sent') THEN tokens ELSE 0 END), 0) AS spent "
    "FROM ledger WHERE platform = ? AND user_id = ? AND day = ?"
)


def _day_usage(row: Row) -> DayUsage:
    # free_pulls_used may be negative: a streak bonus gives free pulls back beyond the day's allowance
    return DayUsage(free_pulls_used=row["free"], spent=max(0, row["spent"]))


class Ledger:
    """Balances and their rows (see the module): every change exactly once per idempotency key, no balance below zero.

    `free_pulls_per_day` and `daily_spend_limit` (tokens) bound what one user takes in a UTC day.
    """

    def __init__(self, db: Database, *, free_pulls_per_day: int, daily_spend_limit: int) -> None:
        self.db = db
        self.free_pulls_per_day = free_pulls_per_day
        self.daily_spend_limit = daily_spend_limit

    # --- inside a caller's transaction --------------------------------------

    async def ensure_account(self, tx: Tx, user: UserRef) -> Account:
        """Create the account if new; lock its row for the rest of the transaction; return it as it stands."""
        row = await tx.fetchone(
            "INSERT INTO accounts (platform, user_id, display_name, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (platform, user_id) DO UPDATE SET display_name = "
            "CASE WHEN excluded.display_name != '' THEN excluded.display_name ELSE accounts.display_name END "
            "RETURNING balance, debt",
            (user.platform, user.user_id, user.display_name, time.time()),
        )
        assert row is not None
        return Account(row["balance"], row["debt"])

    async def lock_accounts(self, tx: Tx, *users: UserRef) -> None:
        """Lock several accounts at the start of a transaction that changes them all (a gift), always in one
        order, so two such transactions over the same accounts wait for each other instead of deadlocking."""
        for user in sorted(set(users), key=lambda u: (u.platform, u.user_id)):
            await self.ensure_account(tx, user)

    async def account_in(self, tx: Tx, user: UserRef) -> Account:
        """The user's account as `tx` sees it, without creating or locking it; (0, 0) for a user without one."""
        row = await tx.fetchone(
            "SELECT balance, debt FROM accounts WHERE platform = ? AND user_id = ?", (user.platform, user.user_id)
        )
        return Account(0, 0) if row is None else Account(row["balance"], row["debt"])

    async def usage_in(self, tx: Tx, user: UserRef, day: str) -> DayUsage:
        """The user's free pulls and spend on `day` (YYYY-MM-DD) as `tx` sees them."""
        row = await tx.fetchone(_USAGE_SQL, (user.platform, user.user_id, day))
        assert row is not None
        return _day_usage(row)

    def _insufficient(self, cost: int, balance: int, kind: str) -> ServiceError:
        if kind == "gift_sent":
            return ServiceError(
                "insufficient_tokens",
                ngettext(
                    "your balance is {n} token: gift {n} or fewer",
                    "your balance is {n} tokens: gift {n} or fewer",
                    balance,
                )
                if balance
                else _("your balance is 0 tokens: there is nothing to gift yet"),
            )
        return ServiceError(
            "insufficient_tokens",
            (
                ngettext(
                    "this costs {n} token and your balance is {balance}: buy more with {cmd_topup} or wait for "
                    "tomorrow's free pulls",
                    "this costs {n} tokens and your balance is {balance}: buy more with {cmd_topup} or wait for "
                    "tomorrow's free pulls",
                    cost,
                    balance=number(balance),
                    **commands("topup"),
                )
                if self.free_pulls_per_day
                else ngettext(
                    "this costs {n} token and your balance is {balance}: buy more with {cmd_topup}",
                    "this costs {n} tokens and your balance is {balance}: buy more with {cmd_topup}",
                    cost,
                    balance=number(balance),
                    **commands("topup"),
                )
            ),
        )

    async def debit(
        self,
        tx: Tx,
        user: UserRef,
        *,
        pulls: int,
        pull_price: int,
        tokens: int = 0,
        kind: str,
        idempotency_key: str,
        job_id: str,
        reason: str = "",
    ) -> Debit:
        """Charge `pulls` pulls (free ones first) plus `tokens` flat, or raise ServiceError.

        Raises: account_frozen (debt), daily_limit, insufficient_tokens.
        """
        account = await self.ensure_account(tx, user)
        day = utc_day()
        # One round trip for what the charge depends on, read after the account row is locked (so it is current):
        # an earlier row with this idempotency key, a hold on the account, and today's usage.
        state = await tx.fetchone(
            "SELECT seen.tokens AS seen_tokens, seen.free_pulls AS seen_free, seen.balance_after AS seen_balance, "
            "EXISTS (SELECT 1 FROM account_holds h WHERE h.platform = ? AND h.user_id = ?) AS held, "
            f"today.free AS free, today.spent AS spent FROM ({_USAGE_SQL}) AS today "
            "LEFT JOIN ledger seen ON seen.idempotency_key = ?",
            (user.platform, user.user_id, user.platform, user.user_id, day, idempotency_key),
        )
        assert state is not None
        if state["seen_tokens"] is not None:
            return Debit(-state["seen_tokens"], state["seen_free"], state["seen_balance"], replayed=True)
        if account.frozen:
            raise ServiceError(
                "account_frozen",
                ngettext(
                    "your account owes {n} token after a payment was reversed: pulls and orders resume once a "
                    "top-up ({cmd_topup}) settles it",
                    "your account owes {n} tokens after a payment was reversed: pulls and orders resume once a "
                    "top-up ({cmd_topup}) settles it",
                    account.debt,
                    **commands("topup"),
                ),
            )
        if state["held"]:
            raise ServiceError(
                "account_frozen", _("your account is on hold: pulls and orders are paused; contact the operator")
            )
        usage = _day_usage(state)
        free = min(pulls, max(0, self.free_pulls_per_day - usage.free_pulls_used))
        cost = (pulls - free) * pull_price + tokens
        if cost > account.balance:  # the plainer reason first: a /gift past the balance is not about the day's limit
            raise self._insufficient(cost, account.balance, kind)
        if cost and usage.spent + cost > self.daily_spend_limit:
            left = max(0, self.daily_spend_limit - usage.spent)
            raise ServiceError(
                "daily_limit",
                ngettext(
                    "this costs {n} token but your daily spend limit leaves {left} today: try something smaller "
                    "or come back tomorrow (UTC)",
                    "this costs {n} tokens but your daily spend limit leaves {left} today: try something smaller "
                    "or come back tomorrow (UTC)",
                    cost,
                    left=number(left),
                ),
            )
        changed = await tx.execute(
            "UPDATE accounts SET balance = balance - ? WHERE platform = ? AND user_id = ? AND balance >= ?",
            (cost, user.platform, user.user_id, cost),
        )
        if changed != 1:  # the balance moved since it was read (another debit in between): the guard decides
            raise self._insufficient(cost, account.balance, kind)
        balance_after = account.balance - cost
        await tx.execute(
            "INSERT INTO ledger (idempotency_key, platform, user_id, kind, tokens, free_pulls, balance_after, "
            "job_id, reason, day, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                idempotency_key,
                user.platform,
                user.user_id,
                kind,
                -cost,
                free,
                balance_after,
                job_id,
                reason,
                day,
                time.time(),
            ),
        )
        return Debit(cost, free, balance_after, replayed=False)

    async def credit(
        self,
        tx: Tx,
        user: UserRef,
        tokens: int,
        *,
        kind: str,
        idempotency_key: str,
        free_pulls_back: int = 0,
        job_id: str | None = None,
        reason: str = "",
        day: str | None = None,
    ) -> Credit:
        """Add (tokens > 0) or claw back (tokens < 0) exactly once per idempotency key.

        A credit pays debt first; a clawback takes what the balance has and
        records the rest as debt, so the balance never goes below zero.
        `day` attributes the row (a refund counts against the day it refunds).
        """
        account = await self.ensure_account(tx, user)
        seen = await tx.fetchone("SELECT 1 FROM ledger WHERE idempotency_key = ?", (idempotency_key,))
        if seen is not None:
            return Credit(False, 0, 0, account.balance, account.debt)
        if tokens >= 0:
            settle = min(tokens, account.debt)
            moved, debt_change = tokens - settle, -settle
        else:
            moved = -min(-tokens, account.balance)
            debt_change = -tokens + moved
        balance_after, debt_after = account.balance + moved, account.debt + debt_change
        changed = await tx.execute(
            "UPDATE accounts SET balance = ?, debt = ? WHERE platform = ? AND user_id = ? AND balance = ? AND debt = ?",
            (balance_after, debt_after, user.platform, user.user_id, account.balance, account.debt),
        )
        if changed != 1:  # cannot happen while the account row is locked; never write a ledger row without it
            raise StorageUnavailable(f"account {user.platform}:{user.user_id} changed under a credit")
        await tx.execute(
            "INSERT INTO ledger (idempotency_key, platform, user_id, kind, tokens, debt_change, free_pulls, "
            "balance_after, job_id, reason, day, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                idempotency_key,
                user.platform,
                user.user_id,
                kind,
                moved,
                debt_change,
                -free_pulls_back,
                balance_after,
                job_id,
                reason,
                day or utc_day(),
                time.time(),
            ),
        )
        return Credit(True, moved, debt_change, balance_after, debt_after)

    # --- standalone ----------------------------------------------------------

    async def apply(self, user: UserRef, tokens: int, *, kind: str, idempotency_key: str, reason: str = "") -> Credit:
        """`credit` in a transaction of its own: add (tokens > 0) or claw back (< 0) once per `idempotency_key`."""
        async with self.db.transaction() as tx:
            return await self.credit(tx, user, tokens, kind=kind, idempotency_key=idempotency_key, reason=reason)

    async def reverse(
        self, user: UserRef, clawback_key: str, *, kind: str, idempotency_key: str, reason: str = ""
    ) -> Credit:
        """Give back exactly what the clawback row `clawback_key` took from `user` (balance and debt alike),
        once per idempotency key. Nothing to give back (no such clawback) is not applied."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT tokens, debt_change FROM ledger WHERE idempotency_key = ? AND platform = ? AND user_id = ?",
                (clawback_key, user.platform, user.user_id),
            )
            taken = 0 if row is None else row["debt_change"] - row["tokens"]
            if taken <= 0:
                account = await self.account_in(tx, user)
                return Credit(False, 0, 0, account.balance, account.debt)
            return await self.credit(tx, user, taken, kind=kind, idempotency_key=idempotency_key, reason=reason)

    async def account(self, user: UserRef) -> Account:
        """The user's account as committed now; (0, 0) for a user without one."""
        row = await self.db.fetchone(
            "SELECT balance, debt FROM accounts WHERE platform = ? AND user_id = ?", (user.platform, user.user_id)
        )
        return Account(0, 0) if row is None else Account(row["balance"], row["debt"])

    async def usage(self, user: UserRef) -> DayUsage:
        """The user's free pulls and spend today (UTC), as committed now."""
        async with self.db.transaction() as tx:
            return await self.usage_in(tx, user, utc_day())

    async def audit(self) -> list[str]:
        """Every account whose balance or debt disagrees with the sum of its ledger rows (empty: all good)."""
        rows = await self.db.fetchall(
            "SELECT a.platform, a.user_id, a.balance, a.debt, "
            "COALESCE((SELECT SUM(tokens) FROM ledger l WHERE l.platform = a.platform AND l.user_id = a.user_id), 0) "
            "AS tokens, COALESCE((SELECT SUM(debt_change) FROM ledger l WHERE l.platform = a.platform "
            "AND l.user_id = a.user_id), 0) AS debt_sum FROM accounts a"
        )
        return [
            f"{r['platform']}:{r['user_id']} balance {r['balance']} != ledger {r['tokens']} "
            f"or debt {r['debt']} != {r['debt_sum']}"
            for r in rows
            if r["balance"] != r["tokens"] or r["debt"] != r["debt_sum"]
        ]
