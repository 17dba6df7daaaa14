"""`vanikeys admin`: the operator's command line, on the bot's own database (SQLite or PostgreSQL alike).

    vanikeys admin user PLATFORM:ID                      balance, debt, freeze, free pulls, ledger, jobs, purchases,
                                                         undelivered keys (identifiers only)
    vanikeys admin job JOB_ID                            state history, provider, cost, what the user was told
    vanikeys admin grant|take PLATFORM:ID TOKENS --reason TEXT
    vanikeys admin freeze|unfreeze PLATFORM:ID --reason TEXT
    vanikeys admin refund JOB_ID --reason TEXT
    vanikeys admin purge                                 erase delivered secrets past the grace period now

Every command takes --json. Every change is one ledger row, written with the
Ledger API in one transaction, carrying the reason, the operator (--by, else
$USER) and an idempotency key that names this one request: --key, else a new
one, shown in the answer. Running the command again with that --key (after a
timeout, say) changes nothing; the same key with another user, amount, reason
or action is refused, naming what differs. Without --key every command is a new
request, so freeze, unfreeze, freeze again does freeze again. A job's refund
uses the job's own key (refund:<job id>), so a job is
refunded once whether it failed or the operator refunded it. Nothing here
prints a secret: keys appear as their public identifiers.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.answers import UserRef
from bot.command_refs import commands
from bot.committed import ledger_row, read_back
from bot.config import ConfigError, Settings
from bot.delivery import KEYS_HINT
from bot.job_events import JobEvents
from bot.job_log import JobLog
from bot.job_records import JobRecord
from bot.jobs import ACTIVE, Jobs
from bot.ledger import Ledger
from bot.storage import Database, StorageUnavailable, Tx
from bot.storage.opening import open_configured, storage_faults_answered
from bot.vault import Vault, parse_vault_key
from gpu_worker.cli import UsageError
from gpu_worker.errors import VanikeysError
from gpu_worker.i18n import NC_, _, pgettext
from gpu_worker.localized import in_current_locale
from gpu_worker.numbers import parse_int

MAX_TOKENS = 10**12
RECENT = 20
# The jobs table's own columns; any other column (a provider's cost, GPU-seconds ...) is shown as it is.
_JOB_COLUMNS = frozenset(
    (
        "job_id",
        "kind",
        "platform",
        "user_id",
        "display_name",
        "community_platform",
        "community_id",
        "community_title",
        "origin",
        "format",
        "pattern",
        "case_mode",
        "fuzzy",
        "split_pubkey",
        "count",
        "budget",
        "expected_keys",
        "price",
        "free_pulls",
        "status",
        "backend",
        "backend_job_id",
        "order_state",
        "keys_checked",
        "elapsed_s",
        "result",
        "error",
        "delivery_attempted_at",
        "delivered_at",
        "best_one_in",
        "owner",
        "lease_until",
        "created_at",
        "updated_at",
    )
)


class AdminError(UsageError):
    """A refusal or bad input: one line, exit status 2."""


def _no_job(job_id: str) -> str:
    return _("no job {job}: job ids are the 16 hex characters shown by `admin user`", job=repr(job_id))


# --- opening the bot's state, never creating it ---------------------------------------------------


def is_url(db_path: Any) -> bool:
    """Whether the configured database is a PostgreSQL URL rather than a SQLite path."""
    text = str(db_path)
    return text.startswith(("postgresql:", "postgres:"))


def database_url(settings: Settings) -> str | None:
    """The PostgreSQL URL when the bot's store is PostgreSQL (VANIKEYS_DB=postgresql://...), else None."""
    url = getattr(settings, "db_url", None)
    if isinstance(url, str) and url:
        return url
    return str(settings.db_path) if is_url(settings.db_path) else None


def existing_vault_key(settings: Settings) -> bytes:
    """The key the bot uses: VANIKEYS_VAULT_KEY or the existing key file (never a new one)."""
    if settings.vault_key:
        return parse_vault_key(settings.vault_key)
    path = settings.resolved_vault_key_file
    if not path.is_file():
        raise AdminError(
            _(
                "no vault key: {path} does not exist; set {variable} or {file_variable} to the bot's key",
                path=path,
                variable="VANIKEYS_VAULT_KEY",
                file_variable="VANIKEYS_VAULT_KEY_FILE",
            )
        )
    return parse_vault_key(path.read_text())


@dataclass
class State:
    """What an admin command works on: the bot's settings, database, ledger, vault and jobs, opened together."""

    settings: Settings
    db: Database
    ledger: Ledger
    vault: Vault
    jobs: Jobs


@asynccontextmanager
async def open_state(settings: Settings) -> AsyncIterator[State]:
    """Open the bot's database and vault for one admin command and close them after.

    AdminError when there is no database at the configured path; the vault key must be the bot's own (no new key is
    made).
    """
    url = database_url(settings)
    if url is None and not settings.db_path.is_file():
        raise AdminError(
            _(
                "no database at {target}: set {variable} to the bot's database",
                target=settings.db_path,
                variable="VANIKEYS_DB",
            )
        )
    key = existing_vault_key(settings)
    db = await open_configured(settings, url or settings.db_path)
    try:
        ledger = Ledger(
            db, free_pulls_per_day=settings.free_pulls_per_day, daily_spend_limit=settings.daily_spend_limit
        )
        vault = Vault(db, key, grace_s=settings.vault_grace_s)
        # The admin never grinds: Jobs is used to read jobs and to settle failed ones (no grinder involved).
        # Its steps are logged like the bot's; no metrics: nothing scrapes a one-shot command.
        jobs = Jobs(db, ledger, vault, None, settings, events=JobEvents(JobLog()))  # type: ignore[arg-type]
        yield State(settings, db, ledger, vault, jobs)
    finally:
        await db.close()


# --- parsing what the operator typed --------------------------------------------------------------


def parse_user(text: str) -> UserRef:
    """A PLATFORM:ID argument as a UserRef; AdminError says the form to write otherwise."""
    platform, sep, user_id = text.strip().partition(":")
    if not sep or not platform or not user_id or any(c.isspace() for c in text.strip()) or len(text) > 200:
        raise AdminError(
            _("{text} is not a user: write PLATFORM:ID, e.g. discord:123456789 or telegram:42", text=repr(text))
        )
    return UserRef(platform, user_id)


def parse_tokens(text: str) -> int:
    """A token amount from 1 to MAX_TOKENS; AdminError names the range otherwise."""
    try:
        return parse_int(text, what="tokens", minimum=1, maximum=MAX_TOKENS)
    except VanikeysError as exc:
        raise AdminError(exc.message) from None


def operator_name(given: str | None) -> str:
    """Who makes the change: --by, else $USER, else the login name; AdminError if none, or not 1-64 printable
    characters.
    """
    from bot.settings import load_settings

    name = (given or load_settings().user or _login_name() or "").strip()
    if not name:
        raise AdminError(_("say who is making this change: --by NAME (or set $USER)"))
    if len(name) > 64 or not name.isprintable():
        raise AdminError(_("--by takes a name of 1 to 64 printable characters"))
    return name


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def reason_text(given: str | None) -> str:
    """The --reason with whitespace collapsed; AdminError if empty or over 200 characters (users see it in /history)."""
    reason = " ".join((given or "").split())
    if not reason:
        raise AdminError(_("say why: --reason TEXT (the user sees it in /history)"))
    if len(reason) > 200:
        raise AdminError(_("--reason is at most 200 characters"))
    return reason


def change_key(given: str | None, action: str) -> str:
    """--key, or a new key for this one request (shown in the answer, so a retry can reuse it on purpose)."""
    if given is not None:
        key = given.strip()
        if not key or len(key) > 200 or any(c.isspace() for c in key):
            raise AdminError(_("--key is 1 to 200 characters without spaces"))
        return key if key.startswith("admin:") else f"admin:{key}"
    return f"admin:{action}:{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True)
class Request:
    """What one admin change asks for: a key already in the ledger must have asked for exactly this."""

    action: str  # grant | take | freeze | unfreeze
    user: UserRef
    tokens: int  # asked for (grant and take: positive), 0 for freeze and unfreeze
    reason: str

    @property
    def kind(self) -> str:
        """The ledger kind this request writes (admin_grant, admin_take ...)."""
        return f"admin_{self.action}"


# --- views ------------------------------------------------------------------------------------------


def _when(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="seconds")


async def user_view(state: State, user: UserRef) -> dict[str, Any]:
    """One user's account, hold, today's usage, ledger, purchases, jobs and undelivered keys, JSON-ready.

    AdminError for a user without an account.
    """
    db = state.db
    account_row = await db.fetchone(
        "SELECT display_name, balance, debt, created_at FROM accounts WHERE platform = ? AND user_id = ?",
        (user.platform, user.user_id),
    )
    if account_row is None:
        raise AdminError(
            f"no account {user.platform}:{user.user_id}: check the platform and id "
            "(a user has an account once they have pulled, bought or been granted tokens)"
        )
    account = await state.ledger.account(user)
    usage = await state.ledger.usage(user)
    hold = await _hold(db, user)
    ledger_rows = await db.fetchall(
        "SELECT id, idempotency_key, kind, tokens, debt_change, free_pulls, balance_after, job_id, reason, actor, "
        "created_at FROM ledger WHERE platform = ? AND user_id = ? ORDER BY id DESC LIMIT ?",
        (user.platform, user.user_id, RECENT),
    )
    purchases = await db.fetchall(
        "SELECT idempotency_key, kind, tokens, debt_change, reason, created_at FROM ledger "
        "WHERE platform = ? AND user_id = ? AND kind LIKE 'payment_%' ORDER BY id DESC LIMIT ?",
        (user.platform, user.user_id, RECENT),
    )
    job_rows = await db.fetchall(
        "SELECT job_id, kind, status, format, pattern, price, free_pulls, error, created_at FROM jobs "
        "WHERE platform = ? AND user_id = ? ORDER BY created_at DESC LIMIT ?",
        (user.platform, user.user_id, RECENT),
    )
    undelivered = []
    for record in await state.jobs.for_user(user, statuses=("found",)):
        keys = await db.fetchall(
            "SELECT position, identifier, purged_at FROM vault WHERE job_id = ? ORDER BY position", (record.job_id,)
        )
        undelivered.append(
            {
                "job_id": record.job_id,
                "kind": record.spec.kind,
                "format": record.spec.format_id,
                "identifiers": [k["identifier"] for k in keys],
                "purged": any(k["purged_at"] is not None for k in keys),
            }
        )
    return {
        "user": f"{user.platform}:{user.user_id}",
        "display_name": account_row["display_name"],
        "since": _when(account_row["created_at"]),
        "balance": account.balance,
        "debt": account.debt,
        "frozen": account.frozen or hold is not None,
        "frozen_by_debt": account.frozen,
        "hold": hold,
        "free_pulls_left_today": max(0, state.settings.free_pulls_per_day - usage.free_pulls_used),
        "spent_today": usage.spent,
        "ledger": [{**dict(r), "created_at": _when(r["created_at"])} for r in ledger_rows],
        "purchases": [{**dict(r), "created_at": _when(r["created_at"])} for r in purchases],
        "jobs": [{**dict(r), "created_at": _when(r["created_at"])} for r in job_rows],
        "undelivered_keys": undelivered,
    }


async def _hold(db: Database | Tx, user: UserRef) -> dict[str, Any] | None:
    row = await db.fetchone(
        "SELECT reason, actor, created_at FROM account_holds WHERE platform = ? AND user_id = ?",
        (user.platform, user.user_id),
    )
    return None if row is None else {"reason": row["reason"], "by": row["actor"], "since": _when(row["created_at"])}


async def job_view(state: State, job_id: str) -> dict[str, Any]:
    """One job's row, steps, ledger rows, provider usage and vault state, JSON-ready; AdminError for an unknown job."""
    row = await state.db.fetchone("SELECT * FROM jobs WHERE job_id = ?", (job_id.strip(),))
    if row is None:
        raise AdminError(_no_job(job_id))
    record = await state.jobs.get(row["job_id"])
    steps = await state.db.fetchall("SELECT status, at FROM job_steps WHERE job_id = ? ORDER BY id", (record.job_id,))
    ledger_rows = await state.db.fetchall(
        "SELECT idempotency_key, kind, tokens, free_pulls, reason, actor, created_at FROM ledger WHERE job_id = ? "
        "ORDER BY id",
        (record.job_id,),
    )
    keys = await state.db.fetchall(
        "SELECT position, identifier, secret_kind, delivered_at, purged_at FROM vault "
        "WHERE job_id = ? ORDER BY position",
        (record.job_id,),
    )
    usage = await state.db.fetchall(
        "SELECT provider, backend_job_id, kind, pulls, gpu_s, cost_usd, outcome, at FROM grind_usage "
        "WHERE job_ref = ? ORDER BY at",
        (record.job_id,),
    )
    spec = record.spec
    provider_columns = {name: row[name] for name in row.keys() if name not in _JOB_COLUMNS}  # noqa: SIM118 - iterating a sqlite3.Row yields its values, not its names
    return {
        "job_id": record.job_id,
        "kind": spec.kind,
        "user": f"{spec.user.platform}:{spec.user.user_id}",
        "status": record.status,
        "format": spec.format_id,
        "pattern": spec.pattern,
        "case": spec.case_mode,
        "fuzzy": spec.fuzzy,
        "split_key": spec.split_pubkey is not None,
        "count": spec.count,
        "price_tokens": record.price,
        "free_pulls": record.free_pulls,
        "provider": (record.result or {}).get("backend") or record.backend or None,
        "provider_job_ids": record.backend_job_id,
        "keys_checked": record.keys_checked,
        "grind_seconds": record.elapsed_s,
        **provider_columns,
        "provider_cost_usd": round(sum(float(u["cost_usd"]) for u in usage), 6),
        "provider_gpu_seconds": round(sum(float(u["gpu_s"]) for u in usage), 3),
        "provider_jobs": [{**dict(u), "at": _when(u["at"])} for u in usage],
        "error": record.error,
        "created_at": _when(record.created_at),
        "delivered_at": _when(record.delivered_at),
        "history": [{"status": s["status"], "at": _when(s["at"])} for s in steps],
        "ledger": [{**dict(r), "created_at": _when(r["created_at"])} for r in ledger_rows],
        "keys": [
            {
                "position": k["position"],
                "identifier": k["identifier"],
                "secret_kind": k["secret_kind"],
                "delivered_at": _when(k["delivered_at"]),
                "purged_at": _when(k["purged_at"]),
            }
            for k in keys
        ],
        "told": told(record),
    }


def told(record: JobRecord) -> list[str]:
    """What the user was shown, step by step (the service's own wording where it is fixed)."""
    spec = record.spec
    lines = [
        f"{spec.kind} accepted: {record.price} tokens"
        + (f" and {record.free_pulls} free pull(s)" if record.free_pulls else "")
    ]
    shown = record.shown_keys
    if shown:
        best = shown[int((record.result or {}).get("best_index", 0))]
        lines.append(
            f"result shown: {best.identifier} ({best.tier}, 1 in {best.one_in_pulls:,.0f} pulls"
            + (", full match" if best.full else "")
            + ")"
        )
    if record.status == "delivered":
        lines.append("the secret was sent privately")
    elif record.status == "found":
        lines.append(
            ("the secret could not be sent privately: " + KEYS_HINT.format(**commands("keys")))
            if record.delivery_attempted_at
            else "the secret is waiting for a front end to deliver it"
        )
    elif record.status in ("failed", "refunded"):
        lines.append(
            f"the {spec.kind} failed ({record.error})"
            + (": refunded" if record.status == "refunded" else "; a refund follows")
        )
    elif record.status in ACTIVE:
        lines.append(f"in progress ({record.status}, {record.keys_checked:,} keys checked)")
    return lines


# --- changes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What an admin change did: whether it applied (False: a replay of its key, or nothing to do), the message, the
    balances after.
    """

    action: str
    applied: bool
    key: str
    message: str
    balance: int | None = None
    debt: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The change as the JSON `--json` prints."""
        return {
            "action": self.action,
            "applied": self.applied,
            "idempotency_key": self.key,
            "message": self.message,
            "balance": self.balance,
            "debt": self.debt,
        }


async def _seen(tx: Tx, key: str) -> bool:
    return await tx.fetchone("SELECT 1 FROM ledger WHERE idempotency_key = ?", (key,)) is not None


async def _replayed(state: State, tx: Tx, request: Request, key: str) -> Change | None:
    """The same request again (its key is in the ledger already): nothing changes, and it says so. The key of
    another request (another user, amount, reason or action) is refused, naming each difference."""
    row = await tx.fetchone(
        "SELECT platform, user_id, kind, tokens, debt_change, reason FROM ledger WHERE idempotency_key = ?", (key,)
    )
    if row is None:
        return None
    differences = _differences(request, row)
    if differences:
        raise AdminError(
            _(
                "--key {key} was used for another change ({differences}): nothing changed; leave out --key for a new "
                "change, or repeat that one exactly",
                key=key,
                differences="; ".join(differences),
            )
        )
    account = await state.ledger.account_in(tx, request.user)
    return Change(
        request.action,
        False,
        key,
        _("already applied ({key}): nothing changed", key=key),
        account.balance,
        account.debt,
    )


def _differences(request: Request, row: Any) -> list[str]:
    """How the ledger row a key wrote differs from this request: "tokens 5, not 7", ..."""
    differences = []
    if row["kind"] != request.kind:
        differences.append(f"action {str(row['kind']).removeprefix('admin_')}, not {request.action}")
    if (row["platform"], row["user_id"]) != request.user.key:
        differences.append(
            f"user {row['platform']}:{row['user_id']}, not {request.user.platform}:{request.user.user_id}"
        )
    asked = abs(int(row["tokens"]) - int(row["debt_change"]))  # a grant that settled debt moved less than asked
    if asked != request.tokens:
        differences.append(f"tokens {asked}, not {request.tokens}")
    if (row["reason"] or "") != request.reason:
        differences.append(f"reason {row['reason']!r}, not {request.reason!r}")
    return differences


async def said_after_fault(
    state: State, action: str, key: str, change: Coroutine[Any, Any, Change], *, retry: str = ""
) -> Change:
    """Run a change; when storage fails under it, say what committed, read back by its key: applied (an answer,
    exit 0), not applied, or unknown while the storage stays down (how to finish it safely, exit 2)."""
    retry = retry or _("the same command with --key {key}", key=key)
    try:
        return await change
    except StorageUnavailable as fault:
        why = fault.why
    try:
        row = await read_back(lambda: ledger_row(state.db, key))
    except StorageUnavailable:
        raise AdminError(
            _(
                "the database failed during this {action} ({why}) and cannot tell yet whether it was applied: once it "
                "is back, run {retry}: it applies the change once, or says it already was",
                action=action,
                why=why,
                retry=retry,
            )
        ) from None
    if row is None:
        raise AdminError(
            _(
                "the database failed during this {action} ({why}): it was not applied, nothing changed; run {retry} "
                "(a retry can never apply it twice)",
                action=action,
                why=why,
                retry=retry,
            )
        )
    return Change(
        action,
        True,
        key,
        _(
            "{action} applied ({key}); the database failed just after it ({why}): do not run it again",
            action=action,
            key=key,
            why=why,
        ),
        row["balance_after"],
        None,
    )


async def _sign(tx: Tx, key: str, actor: str) -> None:
    await tx.execute("UPDATE ledger SET actor = ? WHERE idempotency_key = ? AND actor IS NULL", (actor, key))


async def _existing_account(tx: Tx, user: UserRef, *, create: bool) -> None:
    found = await tx.fetchone(
        "SELECT 1 FROM accounts WHERE platform = ? AND user_id = ?", (user.platform, user.user_id)
    )
    if found is None and not create:
        raise AdminError(
            f"no account {user.platform}:{user.user_id}: check the platform and id, or add --create to open one"
        )


async def grant(
    state: State, user: UserRef, tokens: int, *, reason: str, actor: str, key: str, create: bool = False
) -> Change:
    """Credit `tokens` to the user once per `key` (settling debt first), signed by `actor`.

    AdminError if the user has no account (unless `create`) or `key` was used for a different change.
    """
    async with state.db.transaction() as tx:
        if replayed := await _replayed(state, tx, Request("grant", user, tokens, reason), key):
            return replayed
        await _existing_account(tx, user, create=create)
        credit = await state.ledger.credit(tx, user, tokens, kind="admin_grant", idempotency_key=key, reason=reason)
        await _sign(tx, key, actor)
    who = f"{user.platform}:{user.user_id}"
    return Change(
        "grant",
        True,
        key,
        _(
            "granted {tokens} tokens to {user} ({debt} settled debt)",
            tokens=tokens,
            user=who,
            debt=-credit.debt_change,
        )
        if credit.debt_change
        else _("granted {tokens} tokens to {user}", tokens=tokens, user=who),
        credit.balance_after,
        credit.debt_after,
    )


async def take(state: State, user: UserRef, tokens: int, *, reason: str, actor: str, key: str) -> Change:
    """Claw back `tokens` from the user once per `key`; AdminError if they hold fewer, have no account, or the key was
    used differently.
    """
    async with state.db.transaction() as tx:
        if replayed := await _replayed(state, tx, Request("take", user, tokens, reason), key):
            return replayed
        await _existing_account(tx, user, create=False)
        account = await state.ledger.account_in(tx, user)
        if tokens > account.balance:
            raise AdminError(
                _(
                    "{user} has {balance} tokens: take at most that",
                    user=f"{user.platform}:{user.user_id}",
                    balance=account.balance,
                )
            )
        credit = await state.ledger.credit(tx, user, -tokens, kind="admin_take", idempotency_key=key, reason=reason)
        await _sign(tx, key, actor)
    return Change(
        "take",
        True,
        key,
        _("took {tokens} tokens from {user}", tokens=tokens, user=f"{user.platform}:{user.user_id}"),
        credit.balance_after,
        credit.debt_after,
    )


async def freeze(state: State, user: UserRef, *, frozen: bool, reason: str, actor: str, key: str) -> Change:
    """Hold (frozen=True) or release the user's pulls and orders, once per `key`; releasing an account not held changes
    nothing.
    """
    action = "freeze" if frozen else "unfreeze"
    async with state.db.transaction() as tx:
        if replayed := await _replayed(state, tx, Request(action, user, 0, reason), key):
            return replayed
        account = await state.ledger.account_in(tx, user)
        await _existing_account(tx, user, create=False)
        hold = await _hold(tx, user)
        if frozen and hold is not None:
            return Change(
                action,
                False,
                key,
                _(
                    "already frozen by {by} since {since}: {reason}",
                    by=hold["by"],
                    since=hold["since"],
                    reason=hold["reason"],
                ),
                account.balance,
                account.debt,
            )
        if not frozen and hold is None:
            return Change(
                action,
                False,
                key,
                _(
                    "not frozen by an operator: nothing changed (debt of {debt} tokens still freezes pulls)",
                    debt=account.debt,
                )
                if account.debt
                else _("not frozen by an operator: nothing changed"),
                account.balance,
                account.debt,
            )
        await state.ledger.credit(tx, user, 0, kind=f"admin_{action}", idempotency_key=key, reason=reason)
        await _sign(tx, key, actor)
        if frozen:
            await tx.execute(
                "INSERT INTO account_holds (platform, user_id, reason, actor, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (platform, user_id) DO NOTHING",
                (user.platform, user.user_id, reason, actor, time.time()),
            )
        else:
            await tx.execute(
                "DELETE FROM account_holds WHERE platform = ? AND user_id = ?", (user.platform, user.user_id)
            )
    who = f"{user.platform}:{user.user_id}"
    if frozen:
        said = _("froze {user}: pulls and orders refused until unfrozen", user=who)
    elif account.debt:
        said = _(
            "unfroze {user}: pulls and orders allowed again; debt of {debt} tokens still freezes pulls",
            user=who,
            debt=account.debt,
        )
    else:
        said = _("unfroze {user}: pulls and orders allowed again", user=who)
    return Change(
        action,
        True,
        key,
        said,
        account.balance,
        account.debt,
    )


async def refund(state: State, job_id: str, *, reason: str, actor: str) -> Change:
    """Give a job's price (and free pulls) back, once: the same key as a failed job's automatic refund."""
    try:
        record = await state.jobs.get(job_id.strip())
    except KeyError:
        raise AdminError(_no_job(job_id)) from None
    key = f"refund:{record.job_id}"
    user = record.spec.user
    if record.status in ACTIVE:
        raise AdminError(
            _(
                "job {job} is still {status}: a job that fails is refunded by itself; check it again with "
                "`vanikeys admin job` once it settles",
                job=record.job_id,
                status=record.status,
            )
        )
    if record.status == "failed":  # its automatic refund has not run (a crash): settle it the bot's own way
        record = await state.jobs.drive(record.job_id)
        if record.status != "refunded":
            raise AdminError(
                _("job {job} is being settled by a running bot; check it again in a minute", job=record.job_id)
            )
        async with state.db.transaction() as tx:
            await _sign(tx, key, actor)
        account = await state.ledger.account(user)
        return Change(
            "refund",
            True,
            key,
            _(
                "settled failed job {job}: refunded {tokens} tokens and {free} free pull(s)",
                job=record.job_id,
                tokens=record.price,
                free=record.free_pulls,
            )
            if record.free_pulls
            else _("settled failed job {job}: refunded {tokens} tokens", job=record.job_id, tokens=record.price),
            account.balance,
            account.debt,
        )
    async with state.db.transaction() as tx:
        if await _seen(tx, key):
            account = await state.ledger.account_in(tx, user)
            return Change(
                "refund",
                False,
                key,
                _("job {job} is already refunded: nothing changed", job=record.job_id),
                account.balance,
                account.debt,
            )
        credit = await state.ledger.credit(
            tx,
            user,
            record.price,
            kind="refund",
            idempotency_key=key,
            free_pulls_back=record.free_pulls,
            job_id=record.job_id,
            reason=reason,
            day=record.day,
        )
        await _sign(tx, key, actor)
    return Change(
        "refund",
        True,
        key,
        _(
            "refunded job {job} ({status}): {tokens} tokens and {free} free pull(s) to {user}",
            job=record.job_id,
            status=record.status,
            tokens=record.price,
            free=record.free_pulls,
            user=f"{user.platform}:{user.user_id}",
        )
        if record.free_pulls
        else _(
            "refunded job {job} ({status}): {tokens} tokens to {user}",
            job=record.job_id,
            status=record.status,
            tokens=record.price,
            user=f"{user.platform}:{user.user_id}",
        ),
        credit.balance_after,
        credit.debt_after,
    )


async def purge(state: State) -> dict[str, Any]:
    """Erase the vault's delivered secrets older than the grace period now; answers how many."""
    purged = await state.vault.purge()
    return {
        "action": "purge",
        "purged": purged,
        "grace_s": state.vault.grace_s,
        "message": _(
            "purged {count} delivered secret(s) older than {seconds} s",
            count=purged,
            seconds=format(state.vault.grace_s, "g"),
        ),
    }


# --- the command line --------------------------------------------------------------------------------


def add_admin_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `admin` and its actions (user, job, grant, take, freeze, unfreeze, refund, purge) to the subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help=_("answer with one JSON object"))
    common.add_argument("--by", metavar="NAME", help=_("who is making the change (default: $USER)"))
    admin = commands.add_parser(
        "admin",
        help=_("the operator's command line (see: vanikeys admin --help)"),
        description=_("Look up users and jobs; grant, take, freeze, refund; purge the vault."),
    )
    sub = admin.add_subparsers(title=_("admin commands"), metavar="ACTION")

    def add(
        name: str, helptext: str, func: Callable[[argparse.Namespace], Coroutine[Any, Any, Any]], *args: tuple[str, str]
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=helptext, description=helptext, parents=[common])
        for arg, metavar_help in args:
            parser.add_argument(arg, metavar=arg.upper(), help=metavar_help)
        parser.set_defaults(func=lambda a: _run(a, func))
        return parser

    user_arg = ("user", _("PLATFORM:ID, e.g. discord:123456789"))
    job_arg = ("job_id", _("the job id"))
    add("user", _("a user's balance, debt, freeze, ledger, jobs, purchases and undelivered keys"), _cmd_user, user_arg)
    add("job", _("a job's state history, provider, cost and what the user was told"), _cmd_job, job_arg)
    for name, helptext in (
        ("grant", _("add tokens to a user's balance")),
        ("take", _("take tokens from a user's balance")),
    ):
        p = add(
            name,
            helptext,
            _cmd_grant if name == "grant" else _cmd_take,
            user_arg,
            ("tokens", _("a whole number of tokens")),
        )
        _change_options(p)
        if name == "grant":
            p.add_argument("--create", action="store_true", help=_("open the account if it does not exist yet"))
    for name, helptext in (
        ("freeze", _("refuse a user's pulls and orders until unfrozen")),
        ("unfreeze", _("lift an operator's freeze")),
    ):
        _change_options(add(name, helptext, _cmd_freeze if name == "freeze" else _cmd_unfreeze, user_arg))
    p = add("refund", _("refund a job's price, once"), _cmd_refund, job_arg)
    p.add_argument("--reason", required=True, metavar="TEXT", help=_("why (the user sees it in /history)"))
    add("purge", _("erase delivered secrets past the grace period now"), _cmd_purge)
    admin.set_defaults(func=_no_action)


def _no_action(args: argparse.Namespace) -> int:
    raise AdminError(
        _(
            "choose an admin command: user, job, grant, take, freeze, unfreeze, refund or purge (see: vanikeys admin "
            "--help)"
        )
    )


def _change_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, metavar="TEXT", help=_("why (the user sees it in /history)"))
    parser.add_argument(
        "--key",
        metavar="KEY",
        help=_(
            "idempotency key naming this one change: repeat a change safely with the key its answer showed "
            "(default: a new key, so a new change)"
        ),
    )


def _run(args: argparse.Namespace, func: Callable[[argparse.Namespace], Coroutine[Any, Any, Any]]) -> int:
    try:
        settings = Settings.from_env()
        with storage_faults_answered():
            answer = asyncio.run(_with_state(settings, args, func))
    except ConfigError as exc:
        raise AdminError(in_current_locale(exc)) from None
    _print(answer, as_json=args.json)
    return 0


async def _with_state(
    settings: Settings, args: argparse.Namespace, func: Callable[[argparse.Namespace], Coroutine[Any, Any, Any]]
) -> Any:
    async with open_state(settings) as state:
        args.state = state
        return await func(args)


async def _cmd_user(args: argparse.Namespace) -> dict[str, Any]:
    return await user_view(args.state, parse_user(args.user))


async def _cmd_job(args: argparse.Namespace) -> dict[str, Any]:
    return await job_view(args.state, args.job_id)


async def _cmd_grant(args: argparse.Namespace) -> dict[str, Any]:
    user, tokens, reason, actor = (
        parse_user(args.user),
        parse_tokens(args.tokens),
        reason_text(args.reason),
        operator_name(args.by),
    )
    key = change_key(args.key, "grant")
    return (
        await said_after_fault(
            args.state,
            "grant",
            key,
            grant(args.state, user, tokens, reason=reason, actor=actor, key=key, create=args.create),
        )
    ).to_json()


async def _cmd_take(args: argparse.Namespace) -> dict[str, Any]:
    user, tokens, reason, actor = (
        parse_user(args.user),
        parse_tokens(args.tokens),
        reason_text(args.reason),
        operator_name(args.by),
    )
    key = change_key(args.key, "take")
    return (
        await said_after_fault(
            args.state, "take", key, take(args.state, user, tokens, reason=reason, actor=actor, key=key)
        )
    ).to_json()


async def _cmd_freeze(args: argparse.Namespace, frozen: bool = True) -> dict[str, Any]:
    user, reason, actor = parse_user(args.user), reason_text(args.reason), operator_name(args.by)
    action = "freeze" if frozen else "unfreeze"
    key = change_key(args.key, action)
    return (
        await said_after_fault(
            args.state, action, key, freeze(args.state, user, frozen=frozen, reason=reason, actor=actor, key=key)
        )
    ).to_json()


async def _cmd_unfreeze(args: argparse.Namespace) -> dict[str, Any]:
    return await _cmd_freeze(args, frozen=False)


async def _cmd_refund(args: argparse.Namespace) -> dict[str, Any]:
    reason, actor = reason_text(args.reason), operator_name(args.by)
    key = f"refund:{args.job_id.strip()}"
    return (
        await said_after_fault(
            args.state,
            "refund",
            key,
            refund(args.state, args.job_id, reason=reason, actor=actor),
            retry="the same refund again",
        )
    ).to_json()


async def _cmd_purge(args: argparse.Namespace) -> dict[str, Any]:
    return await purge(args.state)


def _print(answer: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(answer, indent=2, default=str, ensure_ascii=False))
        return
    for line in _human(answer):
        print(line)


# The answers' fields as the human view names them (--json keeps the keys): written in the terminal's language.
FIELD_LABELS = (
    NC_("admin field", "user"),
    NC_("admin field", "display_name"),
    NC_("admin field", "since"),
    NC_("admin field", "balance"),
    NC_("admin field", "debt"),
    NC_("admin field", "frozen"),
    NC_("admin field", "frozen_by_debt"),
    NC_("admin field", "hold"),
    NC_("admin field", "free_pulls_left_today"),
    NC_("admin field", "spent_today"),
    NC_("admin field", "ledger"),
    NC_("admin field", "purchases"),
    NC_("admin field", "jobs"),
    NC_("admin field", "undelivered_keys"),
    NC_("admin field", "job_id"),
    NC_("admin field", "kind"),
    NC_("admin field", "status"),
    NC_("admin field", "format"),
    NC_("admin field", "pattern"),
    NC_("admin field", "case"),
    NC_("admin field", "fuzzy"),
    NC_("admin field", "split_key"),
    NC_("admin field", "count"),
    NC_("admin field", "price_tokens"),
    NC_("admin field", "free_pulls"),
    NC_("admin field", "provider"),
    NC_("admin field", "provider_job_ids"),
    NC_("admin field", "keys_checked"),
    NC_("admin field", "grind_seconds"),
    NC_("admin field", "provider_cost_usd"),
    NC_("admin field", "provider_gpu_seconds"),
    NC_("admin field", "provider_jobs"),
    NC_("admin field", "error"),
    NC_("admin field", "created_at"),
    NC_("admin field", "delivered_at"),
    NC_("admin field", "history"),
    NC_("admin field", "keys"),
    NC_("admin field", "told"),
    NC_("admin field", "action"),
    NC_("admin field", "applied"),
    NC_("admin field", "idempotency_key"),
    NC_("admin field", "message"),
    NC_("admin field", "purged"),
    NC_("admin field", "grace_s"),
    NC_("admin field", "reason"),
    NC_("admin field", "by"),
)


def _label(name: str) -> str:
    return pgettext("admin field", name) if name in FIELD_LABELS else name


def _human(answer: dict[str, Any], indent: str = "") -> list[str]:
    lines: list[str] = []
    for field, value in answer.items():
        name = _label(field)
        if isinstance(value, list):
            lines.append(f"{indent}{name}: {len(value)}" + ("" if value else _(" (none)")))
            for item in value:
                if isinstance(item, dict):
                    lines.append(
                        f"{indent}  - " + ", ".join(f"{k}={_flat(v)}" for k, v in item.items() if v is not None)
                    )
                else:
                    lines.append(f"{indent}  - {_flat(item)}")
        elif isinstance(value, dict):
            lines.append(f"{indent}{name}:")
            lines.extend(_human(value, indent + "  "))
        else:
            lines.append(f"{indent}{name}: {_flat(value)}")
    return lines


def _flat(value: Any) -> str:
    return "-" if value is None else " ".join(str(value).split())
