"""Pulls and orders as a state machine persisted at every step, resumable after a crash anywhere.

    accepted ─> submitted ─> running ─> found ─> delivered
       └───────────┴────────────┴─> failed ─> refunded

The table of states × events, and what each transition commits, is bot/job_states.py: the drive below
runs the step `STEPS` names for a job's state, and every change a step commits is a row of that table.
Its SQL is bot/storage/job_queries.py.

- accepted: paid. The charge and the job row commit in one transaction.
- submitted: the backend and its job id are recorded.
- running: grinding. A restart grinds again (orders keep their keys-checked
  count); nothing was shown or delivered yet, so nothing is lost or doubled.
- found: the verified secrets are in the vault and the public result in the
  row, in one transaction. The public result is shown first (a pull's reveal,
  an order's announcement), then delivery is attempted once automatically: the
  attempt is recorded before the message goes out, so a crash mid-send never
  sends twice; an undelivered key stays in the vault for /keys.
- failed -> refunded: the refund row's idempotency key is the job id, so a
  failure is refunded exactly once however often the step is retried.

Each process claims the jobs it drives (owner + lease), so several processes
on one database never drive the same job at once; every transition is also
conditional on the state it leaves, so a lost race changes nothing. A claim
is a compare-and-set on the owner column, and a periodic sweep (`sweep`)
renews this process's leases and takes over jobs whose owner stopped renewing
(a process that died) within the lease time, without waiting for a restart.
Leases are measured on the database's clock (bot/storage/leases.py), never a
process's own. A process that finds a job it drives owned by a peer (it was
paused, or cut off, for longer than a lease) stops driving it at once and
cancels the provider work it started that dies with it (`_lease_lost`).
Settled jobs' step logs are pruned after the retention period (`prune`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from bot import logs
from bot.answers import ServiceError, ShownKey, UserRef
from bot.command_refs import commands
from bot.config import Settings
from bot.faults import fault_point
from bot.grinding import GrindingClient, GrindingError, OrderState
from bot.grinding.failures import failure_kind
from bot.grinding.model import FailureKind, GrindProgress, OrderProgress
from bot.job_events import JobEvents
from bot.job_records import JobRecord, JobSpec, cut_short_refund, record_from_row
from bot.job_states import ACTIVE, SETTLED, STEPS, transition
from bot.ledger import Debit, Ledger
from bot.results import shown_key, shown_key_to_json
from bot.storage import Database, StorageUnavailable, Tx, job_queries as q
from bot.storage.leases import Leases
from bot.vault import SealedSecret, Vault, VaultError
from gpu_worker.errors import VanikeysError
from gpu_worker.i18n import _
from gpu_worker.job import MAX_BUDGET, GrindJob
from gpu_worker.odds import Odds, odds as odds_of
from gpu_worker.patterns import Pattern
from gpu_worker.verify import verify_hit

log = logging.getLogger(__name__)

__all__ = [
    "ACTIVE",
    "Deliverer",
    "JobLocks",
    "JobObserver",
    "JobRecord",
    "JobSpec",
    "Jobs",
    "RevealHook",
    "StaleTransition",
    "cut_short_refund",
]


class StaleTransition(Exception):
    """The job was not in the state this step leaves: someone else moved it first."""


class JobObserver(Protocol):
    """What a job's drive tells the front ends through (the service): progress, a found result, the end."""

    async def job_progress(self, record: JobRecord, checked: int, rate: float) -> None:
        """A running job reported progress: `checked` keys so far at `rate` keys per second."""
        ...

    async def job_found(self, record: JobRecord) -> None:
        """The job's result is stored and nothing was delivered yet: show it publicly now, before the private
        delivery (a pull whose caller reveals it is not told here: its RevealHook is)."""
        ...

    async def job_settled(self, record: JobRecord) -> None:
        """The job reached found (delivered or not) or refunded."""
        ...


# A pull's caller reveals the found result itself, before the key goes out privately (Jobs.start).
RevealHook = Callable[[JobRecord], Awaitable[None]]


class Deliverer(Protocol):
    """Where a found job's secrets go: the front end of its owner's platform (bot/delivery.py)."""

    async def deliver(self, record: JobRecord, secrets: list[SealedSecret]) -> bool | None:
        """True: sent privately. False: the platform refused (DMs closed). None: no front end to send with."""
        ...


class JobLocks:
    """One asyncio lock per job being driven in this process, dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, job_id: str) -> AsyncIterator[None]:
        """Hold the job's lock for the body: at most one holder per job id in this process, waiting in turn."""
        lock, users = self._locks.get(job_id, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[job_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[job_id]
            if users == 1:
                del self._locks[job_id]
            else:
                self._locks[job_id] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class Jobs:
    """The job engine: creates jobs (charge and record in one transaction) and drives each through its steps.

    Each process is one lease owner; a job is driven by at most one process at a time (its lease holder),
    and inside it by one task (its lock). Steps commit one transition each and are published on `events`.
    """

    def __init__(
        self,
        db: Database,
        ledger: Ledger,
        vault: Vault,
        grinder: GrindingClient,
        settings: Settings,
        events: JobEvents | None = None,
    ) -> None:
        self.db = db
        self.ledger = ledger
        self.vault = vault
        self.grinder = grinder
        self.settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leases = Leases(db, self.owner, settings.job_lease_s)
        self._lost: set[str] = set()  # jobs whose drive this process is stopping: a peer holds their lease
        self.events = events if events is not None else JobEvents()  # each committed step: log line, metrics
        self.observer: JobObserver | None = None
        self.deliverer: Deliverer | None = None
        self._reveals: dict[str, RevealHook] = {}  # found pulls whose caller reveals them before delivery
        self._tasks: dict[str, asyncio.Task[JobRecord]] = {}
        self._locks = JobLocks()  # one step-runner per job inside this process
        self._closing = False

    # --- creating ------------------------------------------------------------

    async def create(self, spec: JobSpec, *, pulls: int, tokens: int) -> tuple[JobRecord, Debit]:
        """Charge and record the job in one transaction (accepted = paid). Raises ServiceError when refused."""
        job_id = uuid.uuid4().hex[:16]
        now = time.time()
        async with self.db.transaction() as tx:
            debit = await self.ledger.debit(
                tx,
                spec.user,
                pulls=pulls,
                pull_price=self.settings.pull_price,
                tokens=tokens,
                kind=spec.kind,
                idempotency_key=f"charge:{job_id}",
                job_id=job_id,
                reason=f"{spec.kind} {spec.format_id} {spec.pattern}",
            )
            origin = (
                None
                if spec.origin is None
                else json.dumps(
                    {
                        "platform": spec.origin.platform,
                        "chat_id": spec.origin.chat_id,
                        "message_id": spec.origin.message_id,
                    }
                )
            )
            row = await tx.fetchone(
                q.insert_job(self.leases.until_sql()),
                (
                    job_id,
                    spec.kind,
                    spec.user.platform,
                    spec.user.user_id,
                    spec.user.display_name,
                    spec.community.platform if spec.community else None,
                    spec.community.community_id if spec.community else None,
                    spec.community.title if spec.community else "",
                    origin,
                    spec.format_id,
                    spec.pattern,
                    spec.case_mode,
                    int(spec.fuzzy),
                    spec.split_pubkey,
                    spec.count,
                    spec.budget,
                    debit.tokens,
                    debit.free_pulls,
                    spec.expected_keys,
                    self.owner,
                    self.settings.job_lease_s,
                    now,
                    now,
                    spec.locale,
                ),
            )
            await self._step(tx, job_id, transition("", "paid").to)
        fault_point("job.accepted")
        assert row is not None
        return self.events.reached(
            "accepted", record_from_row(row), tokens=debit.tokens, free_pulls=debit.free_pulls
        ), debit

    async def get(self, job_id: str) -> JobRecord:
        """The job as stored now; raises KeyError when there is no such job."""
        row = await self.db.fetchone(q.JOB, (job_id,))
        if row is None:
            raise KeyError(job_id)
        return record_from_row(row)

    async def for_user(self, user: UserRef, *, statuses: tuple[str, ...]) -> list[JobRecord]:
        """The user's jobs in any of `statuses`, oldest first."""
        rows = await self.db.fetchall(q.for_user(len(statuses)), (user.platform, user.user_id, *statuses))
        return [record_from_row(r) for r in rows]

    # --- driving ---------------------------------------------------------------

    def start(self, job_id: str, *, reveal: RevealHook | None = None) -> asyncio.Task[JobRecord]:
        """Drive the job in a task of its own (a caller giving up does not stop it).

        reveal: awaited by the drive once the job is found, before the private delivery (a pull's caller shows
        its result first); it stays registered until the drive reaches found or `forget_reveal` drops it."""
        if reveal is not None:
            self._reveals[job_id] = reveal
        task = self._tasks.get(job_id)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self.drive(job_id), name=f"job-{job_id}")
            self._tasks[job_id] = task

            def unregister(t: asyncio.Task[JobRecord], j: str = job_id) -> None:
                if self._tasks.get(j) is t:
                    self._tasks.pop(j, None)

            task.add_done_callback(unregister)
            task.add_done_callback(_note_failure)
        return task

    def forget_reveal(self, job_id: str) -> None:
        """The caller no longer reveals the job (it gave up, or the drive ended): deliver without waiting for it."""
        self._reveals.pop(job_id, None)

    async def resume_all(self) -> list[asyncio.Task[JobRecord]]:
        """Start every job that is not settled (and not driven by a live process)."""
        rows = await self.db.fetchall(q.UNSETTLED)
        return [self.start(r["job_id"]) for r in rows]

    async def deliver_pending(self, platform: str) -> None:
        """Found keys never offered to anyone (no front end was running then): offer them now."""
        rows = await self.db.fetchall(q.UNOFFERED_ON_PLATFORM, (platform,))
        for row in rows:
            self.start(row["job_id"])

    async def wait_idle(self) -> None:
        """Until every job this process drives has settled (or stopped)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def close(self) -> None:
        """Stop driving: running jobs stay where they are and resume on the next start."""
        self._closing = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.db_release_all()

    async def db_release_all(self) -> None:
        """Release every lease this process holds; storage being unavailable is logged, not raised (leases then
        expire)."""
        try:
            await self.leases.release_all()
        except StorageUnavailable:
            log.warning(
                "could not release this process's jobs (storage unavailable): peers take them over "
                "when their leases run out"
            )

    async def drive(self, job_id: str) -> JobRecord:
        """Drive the job until it settles or comes to rest, and return it as it stands then.

        Returns at once when the job is settled or a live peer drives it. When a peer takes the lease over, the drive
        stops here and returns the job as stored; a cancel from anyone else propagates.
        """
        try:
            async with self._locks.hold(job_id):
                return await self._drive(job_id)
        except asyncio.CancelledError:
            if job_id not in self._lost:
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # our own cancel (_lease_lost), not a caller's: the drive ends here, normally
            return await self.get(job_id)
        finally:
            self._lost.discard(job_id)

    async def sweep(self) -> list[asyncio.Task[JobRecord]]:
        """Renew the leases of the jobs this process drives; take over unsettled jobs nobody live is driving.

        A job is up for takeover when its owner's lease has run out (a process that
        died or hung), when its owner is this process but no task drives it (a drive
        that a storage fault interrupted), or when it has no owner while not at rest.
        Found jobs without an owner are at rest (waiting for their platform's front
        end: deliver_pending) and are left alone. A job this process drives that a
        peer now owns (it took the job over while this process was paused) is dropped.
        """
        await self.leases.renew_all()
        driving = [job_id for job_id, task in self._tasks.items() if not task.done()]
        for job_id, owner in (await self.leases.taken_from_us(driving)).items():
            self._lease_lost(job_id, owner)
        rows = await self.leases.up_for_takeover()
        return [self.start(r["job_id"]) for r in rows if r["job_id"] not in self._tasks and not self._closing]

    async def prune(self, now: float | None = None) -> int:
        """Drop the step logs of jobs settled more than the retention period ago, and refunded jobs themselves.

        Never touches an unsettled job or a secret still in the vault: a delivered
        job keeps its row (leaderboards, history) and loses only its step log; a
        refunded job never held a secret. Ledger rows are never pruned (balances
        are audited against them). Returns the rows removed.
        """
        days = self.settings.job_retention_days
        if days <= 0:
            return 0
        cutoff = (time.time() if now is None else now) - days * 86400
        async with self.db.transaction() as tx:
            removed = await tx.execute(q.PRUNE_STEPS, (cutoff,))
            removed += await tx.execute(q.PRUNE_REFUNDED, (cutoff,))
        return removed

    async def _drive(self, job_id: str) -> JobRecord:
        record = await self._claim(job_id)
        if record is None:  # settled, or a live peer drives it
            return await self.get(job_id)
        released = False
        try:
            logs.bind_job(job_id, record.spec.user.platform, record.spec.user.user_id)
            # Each state's step (bot/job_states.py) commits one transition; a step that leaves the job in the
            # state it found it in has brought it to rest there (a found key offered once, or not offered yet).
            while (step := STEPS.get(record.status)) is not None:
                left = record.status
                record = await getattr(self, step)(record)
                if record.status == left:
                    break
            released = record.status in SETTLED  # by the transition that settled it (_move_in)
            return record
        except StaleTransition:
            return await self.get(job_id)
        except asyncio.CancelledError:
            if job_id in self._lost:
                await self._abandon(record)
            raise
        finally:
            if not self._closing and not released:
                await self._release_quietly(job_id)

    async def deliver_again(self, record: JobRecord) -> bool:
        """/keys: deliver a found, undelivered job now. True when it went out (now or just before)."""
        async with self._locks.hold(record.job_id):
            record = await self.get(record.job_id)
            if record.status != "found":
                return record.status == "delivered"
            if await self._claim(record.job_id) is None:
                return False
            try:
                record = await self._deliver(record, automatic=False)
                return record.status == "delivered"
            except StaleTransition:
                return (await self.get(record.job_id)).status == "delivered"
            finally:
                await self._release_quietly(record.job_id)

    # --- the steps (bot/job_states.py's STEPS names one per state) ----------------

    async def _submit(self, record: JobRecord) -> JobRecord:
        if record.spec.kind == "order":  # an order's chunks are submitted as it runs (bot/grinding/orders.py)
            return await self._move(record, "submitted", backend=self.grinder.backend)
        job = record.grind_job(record.spec.budget, pulls=record.spec.count)  # a 10-pull is one job
        try:
            ids = [await self.grinder.submit(job)]
        except GrindingError as exc:  # refused, or not confirmed (never blindly resubmitted): refund
            return await self._fail(record, exc.message, kind=failure_kind(exc), event="refused")
        return await self._move(record, "submitted", backend=self.grinder.backend, backend_job_id=json.dumps(ids))

    async def _start(self, record: JobRecord) -> JobRecord:
        return await self._move(record, "started")

    async def _grind(self, record: JobRecord) -> JobRecord:
        try:
            if record.spec.kind == "pull":
                return await self._grind_pull(record)
            return await self._grind_order(record)
        except (asyncio.CancelledError, StaleTransition, StorageUnavailable):
            raise  # the job stays where it stands; the sweep drives it again once storage answers
        except (VanikeysError, GrindingError) as exc:
            self.events.failed(record, exc.code)
            return await self._fail(record, exc.message, kind=failure_kind(exc))
        except Exception as exc:  # a backend fault: refund rather than keep the money
            log.warning("job %s: grinding failed: %s", record.job_id, type(exc).__name__)
            self.events.failed(record, "grinder_error")
            return await self._fail(record, "the grinder failed", kind="grinder_failed")

    async def _grind_pull(self, record: JobRecord) -> JobRecord:
        spec = record.spec
        ids: list[str] = json.loads(record.backend_job_id or "[]")
        # One job of spec.count pulls (rows from before that: one job per pull).
        job = record.grind_job(spec.budget, pulls=spec.count if len(ids) <= 1 else 1)
        watch = await GrindWatch.start(self, record, job)

        async def on_progress(progress: GrindProgress) -> None:
            watch.progressed()
            await watch.keep_lease()

        try:
            results = await asyncio.gather(*(self.grinder.wait(i, job, on_progress) for i in ids))
        except GrindingError as exc:
            if exc.code != "lost":
                raise
            # The backend forgot the job (a restart, an expiry, a cancel not ours): nothing was shown, grind afresh.
            job = record.grind_job(spec.budget, pulls=spec.count)
            ids = [await self.grinder.submit(job)]
            transition(record.status, "lost")
            async with self.db.transaction() as tx:
                if await tx.execute(q.RESUBMITTED, (json.dumps(ids), record.job_id)) != 1:
                    raise StaleTransition(record.job_id) from None
            results = await asyncio.gather(*(self.grinder.wait(i, job, on_progress) for i in ids))
        watch.done()
        hits = [hit for result in results for hit in result.results[: job.pulls]]
        if not hits:
            raise VanikeysError("verification_failed", "the grinder returned no key: the pull was refunded")
        found: list[tuple[ShownKey, int, str]] = []
        for raw in hits[: spec.count]:
            hit = verify_hit(job, raw)  # the trust boundary: re-derived and re-scored here
            found.append(
                (
                    shown_key(watch.pattern, watch.odds, hit.hit.identifier, hit.score, spec.budget),
                    hit.secret,
                    hit.hit.secret_kind,
                )
            )
        checked = sum(r.checked for r in results)
        elapsed = sum(r.elapsed_s for r in results)
        return await self._found(record, found, checked, elapsed, results[0].backend, keys_due=spec.budget * spec.count)

    async def _grind_order(self, record: JobRecord) -> JobRecord:
        spec = record.spec
        template = record.grind_job(max(1, min(MAX_BUDGET, spec.budget)))
        watch = await GrindWatch.start(self, record, template)
        row = await self.db.fetchone(q.ORDER_STATE, (record.job_id,))
        state = OrderState.from_json(row["order_state"]) if row and row["order_state"] else None
        last_shown = 0.0
        save_progress = q.save_order_progress(self.leases.renew_sql())

        async def on_progress(progress: OrderProgress) -> None:
            nonlocal last_shown
            watch.progressed()
            transition(record.status, "progress")
            async with self.db.transaction() as tx:
                kept = await tx.execute(
                    save_progress,
                    (
                        progress.state.to_json(),
                        progress.checked,
                        self.settings.job_lease_s,
                        time.time(),
                        record.job_id,
                        self.owner,
                    ),
                )
            if not kept and (await self.leases.taken_from_us([record.job_id])):
                self._lease_lost(record.job_id, "another process")
            now = time.monotonic()
            if self.observer is None or now - last_shown < self.settings.order_progress_interval_s:
                return
            last_shown = now
            try:
                await self.observer.job_progress(record, progress.checked, progress.rate)
            except Exception as exc:  # a front end failing to show progress must not stop the order
                log.warning("order %s: progress not shown: %s", record.job_id, type(exc).__name__)

        try:
            outcome = await self.grinder.run_order(template, spec.expected_keys, on_progress, state)
        except GrindingError as exc:
            self.events.failed(record, exc.code)
            checked_row = await self.db.fetchone(q.KEYS_CHECKED, (record.job_id,))
            return await self._fail(
                record,
                exc.message,
                kind=failure_kind(exc),
                keys_checked=checked_row["keys_checked"] if checked_row else None,
            )
        watch.done()
        verified = verify_hit(template, outcome.hit)
        if not verified.full:
            raise VanikeysError("verification_failed", "the worker's match did not verify: the order was refunded")
        # Rated as a pull would rate the same address (its rarity in pulls of the configured budget), not per key.
        shown = shown_key(watch.pattern, watch.odds, verified.hit.identifier, verified.score, self.settings.pull_budget)
        return await self._found(
            record,
            [(shown, verified.secret, verified.hit.secret_kind)],
            outcome.checked,
            outcome.result.elapsed_s,
            outcome.result.backend,
        )

    async def _found(
        self,
        record: JobRecord,
        found: list[tuple[ShownKey, int, str]],
        checked: int,
        elapsed: float,
        backend: str,
        *,
        keys_due: int | None = None,
    ) -> JobRecord:
        keys = [k for k, _, _ in found]
        best_index = max(range(len(keys)), key=lambda i: (keys[i].one_in_pulls, keys[i].score, -i))
        result: dict[str, Any] = {
            "keys": [shown_key_to_json(k) for k in keys],
            "best_index": best_index,
            "backend": backend,
        }
        # Cut short by its time limit (a single pull short of its keys, or a 10-pull short of whole pulls):
        # the unground share is refunded the same way for both, and the reveal says so.
        refund = None if keys_due is None else cut_short_refund(record, checked, keys_due)
        if refund is not None:
            result["cut_short"] = refund
        async with self.db.transaction() as tx:
            if await self.vault.issued_elsewhere(tx, record.job_id, [k.identifier for k in keys]):
                raise VanikeysError(
                    "verification_failed",
                    "the grinder returned a key that was already handed out (a replayed result): the job was refunded",
                )
            updated = await self._move_in(
                tx,
                record,
                "verified",
                result=json.dumps(result),
                keys_checked=checked,
                elapsed_s=elapsed,
                best_one_in=keys[best_index].one_in_pulls,
            )
            for position, (shown, secret, kind) in enumerate(found):
                await self.vault.store(tx, record.job_id, position, shown.identifier, kind, secret)
            if refund is not None and (refund["tokens"] or refund["free_pulls"]):
                await self.ledger.credit(
                    tx,
                    record.spec.user,
                    refund["tokens"],
                    kind="refund",
                    idempotency_key=f"refund:{record.job_id}:pulls",
                    free_pulls_back=refund["free_pulls"],
                    job_id=record.job_id,
                    reason=f"cut short by its time limit: {refund['ground_pct']}% of its keys ground",
                    day=record.day,
                )
        fault_point("job.found")
        return self.events.reached("found", updated, keys_checked=checked, grind_s=elapsed, engine=backend)

    async def _reveal_and_deliver(self, record: JobRecord) -> JobRecord:
        """Found: the public result first (the caller's reveal, or the observer's), then the private delivery,
        attempted once automatically (after that, /keys delivers)."""
        if record.delivery_attempted_at is not None:
            return record
        await self._reveal(record)
        record = await self._deliver(record, automatic=True)
        await self._observe_settled(record)
        return record

    async def _reveal(self, record: JobRecord) -> None:
        """Show the found result publicly; a reveal that fails never keeps the key from its owner."""
        hook = self._reveals.pop(record.job_id, None)
        try:
            if hook is not None:
                await hook(record)
            elif self.observer is not None:
                await self.observer.job_found(record)
        except (asyncio.CancelledError, StorageUnavailable):
            raise
        except Exception as exc:
            log.warning(
                "job %s: the public result was not shown (%s); delivering the key anyway",
                record.job_id,
                type(exc).__name__,
            )

    async def _deliver(self, record: JobRecord, *, automatic: bool) -> JobRecord:
        if self.deliverer is None:
            return record
        transition(record.status, "delivering")
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                q.ATTEMPT_DELIVERY_ONCE if automatic else q.ATTEMPT_DELIVERY_AGAIN, (time.time(), record.job_id)
            )
            if changed != 1:
                raise StaleTransition(record.job_id)
        fault_point("job.delivering")
        try:
            secrets = await self.vault.open_job(record.job_id)
        except VaultError as exc:  # the operator's to fix; the key stays sealed for /keys
            log.error("job %s: not delivered: %s", record.job_id, exc.message)
            if automatic:
                return await self.get(record.job_id)
            raise ServiceError(
                "vault_unavailable",
                _(
                    "your key is safe in the vault, but this bot cannot open it right "
                    "now (its operator has been told): try {cmd_keys} again later",
                    **commands("keys"),
                ),
            ) from None
        if not secrets:
            return await self.get(record.job_id)
        sent = await self.deliverer.deliver(record, secrets)
        if sent is None:  # nothing went out: offer it again when a front end is there
            transition(record.status, "deferred")
            async with self.db.transaction() as tx:
                await tx.execute(q.DEFER_DELIVERY, (record.job_id,))
            return self.events.reached("delivery_deferred", await self.get(record.job_id))
        if not sent:
            transition(record.status, "undelivered")
            return self.events.reached("undelivered", await self.get(record.job_id))
        now = time.time()
        try:
            async with self.db.transaction() as tx:
                updated = await self._move_in(tx, record, "delivered", delivered_at=now, now=now)
                await self.vault.mark_delivered(tx, record.job_id, now)
        except StaleTransition:  # another process delivered it first (and counted it)
            return await self.get(record.job_id)
        fault_point("job.delivered")
        return self.events.reached("delivered", updated)

    async def _fail(
        self,
        record: JobRecord,
        why: str,
        *,
        kind: FailureKind,
        keys_checked: int | None = None,
        event: str = "failed",
    ) -> JobRecord:
        """The job failed: `why` (the engine's or provider's words) is logged and kept for operators; people are
        told `kind` (bot/grinding/failures.py)."""
        log.info("job %s failed (%s): %s", record.job_id, kind, why)
        columns: dict[str, Any] = {"error": why, "error_kind": kind}
        if keys_checked is not None:
            columns["keys_checked"] = keys_checked
        return await self._move(record, event, **columns)

    async def _refund(self, record: JobRecord) -> JobRecord:
        async with self.db.transaction() as tx:
            updated = await self._move_in(tx, record, "refund")
            await self.ledger.credit(
                tx,
                record.spec.user,
                record.price,
                kind="refund",
                idempotency_key=f"refund:{record.job_id}",
                free_pulls_back=record.free_pulls,
                job_id=record.job_id,
                reason=record.error or "job failed",
                day=record.day,
            )
        fault_point("job.refunded")
        self.events.reached("refunded", updated, tokens=record.price, free_pulls=record.free_pulls)
        await self._observe_settled(updated)
        return updated

    async def _move(self, record: JobRecord, event: str, **columns: Any) -> JobRecord:
        """Commit the table's transition for `event` with `columns` in a transaction of its own."""
        async with self.db.transaction() as tx:
            updated = await self._move_in(tx, record, event, **columns)
        fault_point(f"job.{updated.status}")
        return self.events.reached(updated.status, updated)

    async def _move_in(
        self, tx: Tx, record: JobRecord, event: str, *, now: float | None = None, **columns: Any
    ) -> JobRecord:
        """Within `tx`: move the job along the table's row for `event`, only if it is still in the state it
        leaves (StaleTransition: another process moved it first), and log the step. The row as it now stands."""
        to = transition(record.status, event).to
        if to in SETTLED:  # nothing more will happen to it: its claim goes in the same statement
            columns = {**columns, "owner": None, "lease_until": None}
        row = await tx.fetchone(
            q.move(tuple(columns)),
            (to, time.time() if now is None else now, *columns.values(), record.job_id, record.status),
        )
        if row is None:
            raise StaleTransition(record.job_id)
        await self._step(tx, record.job_id, to)
        return record_from_row(row)

    async def _observe_settled(self, record: JobRecord) -> None:
        if self.observer is None:
            return
        try:
            await self.observer.job_settled(record)
        except Exception as exc:
            log.warning("job %s: settle notice failed: %s", record.job_id, type(exc).__name__)

    @staticmethod
    async def _step(tx: Tx, job_id: str, status: str) -> None:
        await tx.execute(q.LOG_STEP, (job_id, status, time.time()))

    # --- claims ------------------------------------------------------------------

    async def _claim(self, job_id: str) -> JobRecord | None:
        """Take the job for this process: a compare-and-set on the owner seen, so two processes never both win.
        The job as it stands once ours; None when it is settled or a live peer drives it."""
        seen = await self.leases.seen(job_id)
        if seen is None or seen.status in SETTLED:
            return None
        owner, until, now = seen.owner, seen.lease_until or 0, seen.now
        if owner == self.owner and until > now + self.settings.job_lease_s / 2:
            return record_from_row(seen.row)  # ours, freshly leased (a job this process just created): as read
        free = owner is None or owner == self.owner or until < now or _owner_dead(owner)
        if not free or not await self.leases.take(job_id, seen):
            return None
        if owner is not None and owner != self.owner:
            log.info("job %s: taken over from %s", job_id, owner)
        return await self.get(job_id)  # read again: its last owner may have moved it since it was seen

    async def _renew(self, job_id: str) -> None:
        if not await self.leases.renew(job_id):
            self._lease_lost(job_id, "another process")

    def _lease_lost(self, job_id: str, owner: str) -> None:
        """A peer holds the job's lease now: stop driving it here at once (the drive ends in `_abandon`)."""
        task = self._tasks.get(job_id)
        if task is None or task.done() or job_id in self._lost:
            return
        log.warning(
            "job %s: lease lost to %s (this process was paused or cut off for longer than a lease); "
            "stopping its work here",
            job_id,
            owner,
        )
        self._lost.add(job_id)
        task.cancel()

    async def _abandon(self, record: JobRecord | None) -> None:
        """After losing a job's lease: cancel its provider jobs that die with this process (local grinding),
        which the new owner cannot re-attach to. Durable ones (RunPod) are the new owner's to wait on.
        An order's own fan-out stops its non-durable chunks when cancelled (bot/grinding/orders.py)."""
        if record is None or record.spec.kind != "pull" or getattr(self.grinder, "durable", False):
            return
        for provider_job_id in json.loads(record.backend_job_id or "[]"):
            try:
                await self.grinder.cancel(provider_job_id)
            except Exception as exc:  # the new owner's drive is unaffected; say so and go on
                log.warning(
                    "job %s: cancelling provider job %s failed: %s", record.job_id, provider_job_id, type(exc).__name__
                )

    async def _release_quietly(self, job_id: str) -> None:
        """Release the claim; when storage is down the claim stays ours and the sweep picks the job up again."""
        try:
            await self._release(job_id)
        except StorageUnavailable:
            pass

    async def _release(self, job_id: str) -> None:
        await self.leases.release(job_id)


class GrindWatch:
    """The set-up pulls and orders share around one grind: the pattern and its odds (computed on a thread),
    the provider's timer, the `job.grinding` fault point at the first progress, and the lease kept alive."""

    def __init__(self, jobs: Jobs, record: JobRecord, pattern: Pattern, odds: Odds) -> None:
        self.jobs = jobs
        self.record = record
        self.pattern = pattern
        self.odds = odds
        self.timer = jobs.events.provider_timer(jobs.grinder.backend, record.spec.kind)
        self._progressed = False
        self._renewed = time.monotonic()

    @classmethod
    async def start(cls, jobs: Jobs, record: JobRecord, job: GrindJob) -> GrindWatch:
        pattern = job.compiled()
        odds = await asyncio.to_thread(odds_of, pattern)  # up to a second for many-term patterns
        return cls(jobs, record, pattern, odds)

    def progressed(self) -> None:
        """The provider reported progress: the first report ends its queue wait and is a fault point."""
        if not self._progressed:
            self._progressed = True
            self.timer.progressed()
            fault_point("job.grinding")

    async def keep_lease(self) -> None:
        """Renew the job's lease every third of a lease (a grind that reports progress keeps its claim)."""
        if time.monotonic() - self._renewed > self.jobs.settings.job_lease_s / 3:
            self._renewed = time.monotonic()
            await self.jobs._renew(self.record.job_id)

    def done(self) -> None:
        self.timer.done()


def _note_failure(task: asyncio.Task[JobRecord]) -> None:
    """A drive nobody awaits (a resumed or taken-over job) that stopped on an error: say so once, in one line.
    The job stays where it stood; the next sweep drives it again."""
    if task.cancelled():
        return
    exc = task.exception()
    if isinstance(exc, StorageUnavailable):  # the store logged the episode (bot/logs.py)
        log.debug("%s stopped: storage unavailable (%s); the next sweep resumes it", task.get_name(), exc.why)
    elif exc is not None and not isinstance(exc, ServiceError):
        log.error("%s stopped: %s: %s", task.get_name(), type(exc).__name__, exc)


def _owner_dead(owner: str) -> bool:
    """A claim by a process on this host that no longer exists can be taken over at once."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
