"""The one service every front end calls. It knows nothing of Discord or Telegram.

Each command takes a user, a community (None: a private chat) and arguments,
and returns an answer from bot/answers.py, or raises ServiceError with a
one-line message ready to show.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot import committed, logs
from bot.answers import (
    BalanceAnswer,
    CardAnswer,
    CommandHelp,
    CommunityConfig,
    CommunityRef,
    ConfigAnswer,
    CutShort,
    GiftAnswer,
    HelpAnswer,
    HistoryAnswer,
    HistoryEntry,
    KeysAnswer,
    LeaderboardAnswer,
    LeaderboardEntry,
    OddsAnswer,
    OrderAnswer,
    OrderView,
    Origin,
    PersonalBest,
    ProfileAnswer,
    PullAnswer,
    SeasonLeaderboardAnswer,
    ServiceError,
    ShownKey,
    StreakAnswer,
    TopupAnswer,
    TopupPack,
    UserRef,
    WrongChannel,
    history_detail,
)
from bot.cards import CardSpec, render_card, use_font, warm_up
from bot.command_refs import commands
from bot.committed import FaultAnswer, read_back
from bot.community import controls, gifts, late_reveals, records, streaks, visibility
from bot.community.calendar import season_of
from bot.community.late_reveals import LateReveal
from bot.config import Settings
from bot.delivery import KEYS_HINT, Delivery
from bot.fair_share import REMOTE_SLOTS, FairShare
from bot.grinding.failures import failure_reason
from bot.i18n import PEOPLE, public_now
from bot.job_records import JobRecord, JobSpec
from bot.jobs import Jobs
from bot.ledger import Credit, Debit, Ledger
from bot.links import gallery_message, odds_page_url
from bot.odds_cache import shared_odds_cache
from bot.ports import CheckoutProvider, FrontEnd
from bot.results import best_first, shown_key, shown_key_from_json, tier_at_least
from bot.storage import Database, StorageUnavailable
from gpu_worker.errors import VanikeysError
from gpu_worker.formats import FORMATS, get_format, parse_pubkey
from gpu_worker.humanize import FAR_BEYOND, FAR_BEYOND_S, duration
from gpu_worker.i18n import N_, _, current, ngettext, number, percent, use_locale
from gpu_worker.odds import Odds, odds as odds_of, p_full_in
from gpu_worker.patterns import MAX_PATTERN_LENGTH, Pattern, parse_pattern

if TYPE_CHECKING:
    from payments.events import ApplyOutcome, LedgerInstruction

__all__ = ["CommunityRef", "Origin", "Service", "ServiceError", "UserRef"]

log = logging.getLogger(__name__)

MAX_PATTERN_CHARS = MAX_PATTERN_LENGTH  # the one limit, from gpu_worker.patterns
MAX_NAME_CHARS = 200
PULL_COUNTS = (1, 10)
CARD_TIER = "Rare"  # a reveal of this tier or rarer comes with a card image
ANNOUNCE_TIER = "Epic"  # ... and of this tier or rarer is also posted to the announcement channel
EASY_FULL_SHARE = 0.5  # a pull that matches fully more often than this is an "easy pattern"
REVEAL_TIMEOUT_S = 120.0  # the front end's reveal may take this long before the key goes out anyway
LANGUAGE_TTL_S = 60.0  # a community's language, as read, is trusted this long (community_language)
ON_ITS_WAY = N_("the private key is on its way to you privately")
ANSWERED_KEPT = 4096  # job ids a read-back after a fault must not claim (jobs already answered for)

RevealHook = Callable[[PullAnswer], Awaitable[None]]


class Service:
    """The bot's commands, the same for every front end: each takes plain values and returns an answer (bot/answers.py).

    A refusal is a ServiceError with a one-line message; a storage fault under a command is a FaultAnswer (a
    StorageUnavailable) saying what committed. The service is also the jobs' observer: it pushes order progress and
    results to the front end of the platform that placed them.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        ledger: Ledger,
        jobs: Jobs,
        delivery: Delivery,
        checkout: CheckoutProvider | None = None,
        *,
        fair_share: FairShare | None = None,
    ) -> None:
        self.settings = settings
        # The grinders' capacity, shared fairly by the front ends (bot/fair_share.py has the rule).
        self.fair_share = fair_share or FairShare(settings.grind_slots or REMOTE_SLOTS)
        self.db = db
        self.ledger = ledger
        self.jobs = jobs
        self.delivery = delivery
        self.checkout = checkout
        self._awaited: set[str] = set()  # pulls whose caller gets the answer directly
        self._recorded: set[str] = set()  # pulls their caller recorded (bests, streaks) before the job settled
        self._answered: dict[str, None] = {}  # jobs created and answered for, oldest first (see _account_for)
        self._unsure_payments: set[str] = set()  # payment keys a fault left unknown: their buyer is not told yet
        self._background: set[asyncio.Task[None]] = set()
        self._languages: dict[tuple[str, str], tuple[str | None, float]] = {}  # community -> (locale, when read)
        self.odds_cache = shared_odds_cache()  # uncached odds run in a worker process, not on the event loop
        jobs.observer = self
        jobs.deliverer = delivery
        use_font(settings.card_font)
        warm_up()  # the first reveal's card is then as quick as the rest

    # --- commands ----------------------------------------------------------------

    async def pull(
        self,
        user: UserRef,
        community: CommunityRef | None,
        pattern: str,
        format: str = "btc",
        count: int = 1,
        *,
        exact_case: bool = False,
        fuzzy: bool = False,
        channel: str | None = None,
        allow_easy: bool = False,
        on_reveal: RevealHook | None = None,
    ) -> PullAnswer:
        """Charge, grind, verify and store a pull; reveal it (`on_reveal`), then deliver the key privately.

        channel: where the command was typed (a platform channel id), checked against the community's
        pull channel. allow_easy: pull even when the pattern matches fully more often than not.
        on_reveal: awaited with the answer once the result is stored and before the private delivery;
        if it raises (or takes past REVEAL_TIMEOUT_S) the key is delivered all the same.
        Returns the final answer, whose `delivered` / `delivery_note` say how the delivery went.
        """
        _check_user(user)
        if isinstance(count, bool) or not isinstance(count, int) or count not in PULL_COUNTS:
            raise ServiceError(
                "bad_count",
                _(
                    "count must be 1 or 10, not {count}: type /pull <pattern> [format] 10 "
                    "for a 10-pull (it costs {pulls} pulls)",
                    count=repr(count)[:20],
                    pulls=self.settings.ten_pull_pulls,
                ),
            )
        config = await self._config_for(community)
        _check_pull_allowed(config, channel)
        compiled = _compile(pattern, format, exact_case, fuzzy)
        odds = await self.odds_cache.get(compiled)
        if not allow_easy:
            self._refuse_easy(compiled, odds)
        spec = JobSpec(
            kind="pull",
            user=user,
            community=community,
            origin=None,
            format_id=compiled.format_id,
            pattern=compiled.text,
            case_mode=_case(exact_case),
            fuzzy=fuzzy,
            split_pubkey=None,
            count=count,
            budget=self.settings.pull_budget,
            expected_keys=odds.expected_keys,
            locale=public_now(),
        )
        release = await self.fair_share.acquire(user.platform)  # this front end's share of the grinders (one job)
        try:
            pulls, tokens = await self._pull_charge(user, config, count)
            created, _fresh = await self._create(spec, pulls=pulls, tokens=tokens)
        except BaseException:
            release()
            raise
        job_id = created.job_id
        self._awaited.add(job_id)
        revealed: list[PullAnswer] = []
        showing: list[asyncio.Task[None]] = []  # the front end's reveal in flight, cancelled if the caller gives up

        async def reveal(found: JobRecord) -> None:  # the drive awaits it between found and the private delivery
            release()  # ground and stored: the reveal and the DM need no share of the grinders
            revealed.append(await self._pull_answer(found, compiled, odds, config))
            if on_reveal is None:
                return
            showing.append(asyncio.ensure_future(self._reveal(on_reveal, revealed[0])))
            try:
                await showing[0]
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if not showing[0].cancelled() or (current is not None and current.cancelling()):
                    raise  # the drive itself is being stopped
                # the caller gave up mid-reveal: the key goes out now, not when the reveal would have ended

        def settled(_: object) -> None:
            release()  # a drive that ended without the reveal (failed, or its caller gave up) gives it back here
            self._awaited.discard(job_id)

        try:
            driving = self.jobs.start(job_id, reveal=reveal)  # one drive: found, revealed, then delivered
            driving.add_done_callback(settled)
            try:
                record = await asyncio.shield(driving)
            finally:
                self.jobs.forget_reveal(job_id)  # a caller that gave up: the key goes out without its reveal
                for shown in showing:
                    shown.cancel()  # no-op once the reveal ended
            if record.status == "refunded":
                raise ServiceError(
                    "grind_failed",
                    _(
                        "the pull failed ({error}): {given_back}; try again",
                        error=failure_reason(record.error_kind),
                        given_back=_given_back(record),
                    ),
                    committed="refunded",
                )
            if record.status not in ("found", "delivered"):
                raise ServiceError(
                    "busy",
                    _(
                        "the pull was charged and is still being worked on by another bot "
                        "process: its key will reach you privately, or use {cmd_keys} in a "
                        "minute",
                        **commands("keys"),
                    ),
                    committed="charged",
                )
            answer = revealed[0] if revealed else await self._pull_answer(record, compiled, odds, config)
            delivered = record.status == "delivered"
            # read just before the delivery when revealed (a delivery changes no balance); after it otherwise
            balance = answer.balance_after if revealed else (await self.ledger.account(user)).balance
        except StorageUnavailable as fault:  # charged: say so, and how the job goes on
            raise await self._job_fault(fault, created) from None
        many = answer.count > 1
        with use_locale(created.spec.locale or current()):  # the reveal's language: public in a community
            note = self._delivery_note(delivered, many)
        return dataclasses.replace(answer, delivered=delivered, balance_after=balance, delivery_note=note)

    @staticmethod
    def _delivery_note(delivered: bool, many: bool) -> str:
        if delivered:
            return (
                _("the private keys were sent to you privately")
                if many
                else _("the private key was sent to you privately")
            )
        hint = _(KEYS_HINT, **commands("keys"))
        return (
            _("the private keys could not be sent to you privately and were kept safe: {hint}", hint=hint)
            if many
            else _("the private key could not be sent to you privately and was kept safe: {hint}", hint=hint)
        )

    async def _reveal(self, on_reveal: RevealHook, answer: PullAnswer) -> None:
        try:
            await asyncio.wait_for(on_reveal(answer), REVEAL_TIMEOUT_S)
        except Exception as exc:  # the reveal failing must not keep the key from its owner
            log.warning("pull %s: the reveal failed (%s); delivering the key anyway", answer.job_id, type(exc).__name__)

    async def _pull_answer(
        self, record: JobRecord, compiled: Pattern, odds: Odds, config: CommunityConfig | None
    ) -> PullAnswer:
        """The pull's answer in the language of its reveal (public in a community: its language), card and all."""
        with use_locale(record.spec.locale or current()):
            return await self._pull_answer_here(record, compiled, odds, config)

    async def _pull_answer_here(
        self, record: JobRecord, compiled: Pattern, odds: Odds, config: CommunityConfig | None
    ) -> PullAnswer:
        spec = record.spec
        assert record.result is not None
        keys = best_first(record.shown_keys)
        best = keys[0]
        account = await self.ledger.account(spec.user)
        personal_best, streak = await self._after_pull(record, best)
        announce = None
        if config is not None and config.announce_channel and tier_at_least(best.tier, ANNOUNCE_TIER):
            announce = config.announce_channel
        card = None
        if tier_at_least(best.tier, CARD_TIER):
            card = await self._card_png(best, compiled.text, spec.community, spec.user)
        delivered = record.status == "delivered"
        return PullAnswer(
            job_id=record.job_id,
            user=spec.user,
            community=spec.community,
            pattern=compiled.text,
            format_id=compiled.format_id,
            format_title=get_format(compiled.format_id).title,
            count=spec.count,
            keys=keys,
            best_index=0,
            tokens_spent=record.price,
            free_pulls_used=record.free_pulls,
            balance_after=account.balance,
            keys_checked=record.keys_checked,
            backend=str(record.result.get("backend", record.backend)),
            elapsed_s=record.elapsed_s,
            odds=self._odds_answer(compiled, odds),
            delivered=delivered,
            delivery_note=_("the private key was sent to you privately") if delivered else _(ON_ITS_WAY),
            personal_best=personal_best,
            announce_channel=announce,
            card_png=card,
            streak=streak,
            cut_short=_cut_short(record.result),
        )

    async def _after_pull(self, record: JobRecord, best: ShownKey) -> tuple[PersonalBest | None, StreakAnswer | None]:
        """Record the pull for bests, seasons and streaks; a failure here never costs the person their key."""
        spec = record.spec
        try:
            personal_best = await records.record_pull(
                self.db,
                records.PullRecord(
                    record.job_id, spec.user, spec.community, spec.format_id, spec.pattern, best, record.created_at
                ),
                self.settings.time_zone,
            )
            streak = await streaks.after_pull(self.db, self.ledger, spec.user, self._streak_rules)
            if record.status == "found" and record.delivery_attempted_at is None:  # revealed before delivery:
                self._recorded.add(record.job_id)  # job_settled, which follows the delivery, need not record it
            return personal_best, streak
        except Exception as exc:
            log.warning("pull %s: community records failed: %s", record.job_id, type(exc).__name__)
            return None, None

    async def _card_png(
        self, key: ShownKey, pattern: str, community: CommunityRef | None, user: UserRef | None
    ) -> bytes | None:
        try:
            return await asyncio.to_thread(
                render_card, CardSpec(key, pattern, community.title if community else "", user.label if user else "")
            )
        except Exception as exc:
            log.warning("card not rendered: %s", type(exc).__name__)
            return None

    def _refuse_easy(self, compiled: Pattern, odds: Odds) -> None:
        share = p_full_in(odds, self.settings.pull_budget)
        if share <= EASY_FULL_SHARE:
            return
        price, _why = self._order_price(odds)
        offer = (
            _(
                "{cmd_order} {pattern} {format} gets an exact match for {price} tokens",
                **commands("order"),
                pattern=compiled.text,
                format=compiled.format_id,
                price=price,
            )
            if price is not None
            else _("an order gets an exact match")
        )
        raise ServiceError(
            "easy_pattern",
            _(
                "{pattern} is easy: a pull matches it fully {share} of the time, which "
                "rates Common; {offer}, or pull anyway",
                pattern=repr(compiled.text),
                share=format(share, ".0%"),
                offer=offer,
            ),
        )

    async def _pull_charge(self, user: UserRef, config: CommunityConfig | None, count: int) -> tuple[int, int]:
        """(pulls, tokens) to charge: a community's lower free-pull allowance turns the rest into paid pulls."""
        pulls = self.settings.pull_cost_pulls(count)
        if (
            config is None
            or config.free_pulls_per_day is None
            or config.free_pulls_per_day >= config.operator_free_pulls
        ):
            return pulls, 0
        usage = await self.ledger.usage(user)
        free = min(pulls, max(0, config.effective_free_pulls - usage.free_pulls_used))
        return free, (pulls - free) * self.settings.pull_price

    async def order(
        self,
        user: UserRef,
        community: CommunityRef | None,
        pattern: str,
        format: str = "btc",
        pubkey: str | None = None,
        *,
        exact_case: bool = False,
        fuzzy: bool = False,
        origin: Origin | None = None,
    ) -> OrderAnswer:
        """Charge an order's price and start grinding until an exact match; its key (or offset) is delivered privately.

        pubkey: the person's public key for a split-key order (they get an offset, never a private key).
        Raises ServiceError (bad_pattern, bad_pubkey, too_hard past the order time limit, insufficient_tokens ...).
        """
        _check_user(user)
        compiled = _compile(pattern, format, exact_case, fuzzy)
        split = None
        if pubkey is not None and pubkey.strip():
            try:
                split = parse_pubkey(pubkey.strip()).format(compressed=True).hex()
            except VanikeysError as exc:
                raise ServiceError(exc.code, exc.message) from None
        odds = await self.odds_cache.get(compiled)
        price, refusal = self._order_price(odds)
        if price is None:
            raise ServiceError("too_hard", refusal or _("this pattern is too hard to order"))
        budget = max(1, math.ceil(odds.expected_keys * self.settings.order_attempt_factor))
        spec = JobSpec(
            kind="order",
            user=user,
            community=community,
            origin=origin,
            format_id=compiled.format_id,
            pattern=compiled.text,
            case_mode=_case(exact_case),
            fuzzy=fuzzy,
            split_pubkey=split,
            count=1,
            budget=budget,
            expected_keys=odds.expected_keys,
            locale=public_now(),  # its progress after a restart, when no update says which language
        )
        record, debit = await self._create(spec, pulls=0, tokens=price)
        self.jobs.start(record.job_id)
        expected_s = odds.expected_keys / self.settings.keys_per_s
        with use_locale(spec.locale):  # shown where it was placed, in that language
            note = (
                _("your offset will arrive privately; combine it with your own secret using `vanikeys combine`")
                if split
                else _("your private key will arrive privately when the match is found")
            )
            return OrderAnswer(
                order=self.order_view(record, record.keys_checked, 0.0),
                balance_after=debit.balance_after,
                expected_s=expected_s,
                note=_("expected time about {time}; {note}", time=duration(expected_s), note=note),
            )

    async def _create(self, spec: JobSpec, *, pulls: int, tokens: int) -> tuple[JobRecord, Debit]:
        """Charge and record a job; a storage fault is answered with what committed, read back when the fault
        came at the commit itself (which a lost connection leaves unknown)."""
        since = time.time() - 1.0  # created_at is this process's clock too; a second of slack for a clock step
        try:
            record, debit = await self.jobs.create(spec, pulls=pulls, tokens=tokens)
        except StorageUnavailable as fault:
            raise await self._create_fault(fault, spec, since) from None
        self._account_for(record.job_id)
        return record, debit

    def _account_for(self, job_id: str) -> None:
        """A job this service has answered for: a later read-back never claims it for another command."""
        self._answered[job_id] = None
        while len(self._answered) > ANSWERED_KEPT:
            del self._answered[next(iter(self._answered))]

    async def _create_fault(self, fault: StorageUnavailable, spec: JobSpec, since: float) -> FaultAnswer:
        try:
            row = await read_back(
                lambda: committed.job_created_after(
                    self.db,
                    owner=self.jobs.owner,
                    platform=spec.user.platform,
                    user_id=spec.user.user_id,
                    kind=spec.kind,
                    format_id=spec.format_id,
                    pattern=spec.pattern,
                    since=since,
                    exclude=set(self._answered),
                )
            )
        except StorageUnavailable:
            log.warning(
                "%s for %s: storage failed at the charge and could not be read back (%s)",
                spec.kind,
                logs.user_ref(spec.user.platform, spec.user.user_id),
                fault.why,
            )
            return FaultAnswer(fault.why, "unknown", committed.unknown_words(spec.kind))
        if row is None:
            return FaultAnswer(fault.why, "nothing", committed.nothing_words(spec.kind))
        job_id = row["job_id"]
        self._account_for(job_id)
        self.jobs.start(job_id)  # paid: drive it now rather than at the next sweep; the key goes out privately
        said, words = committed.job_words(spec.kind, row["status"], row["price"], row["free_pulls"])
        return FaultAnswer(fault.why, said, words, job_id=job_id)

    async def _job_fault(self, fault: StorageUnavailable, created: JobRecord) -> FaultAnswer:
        """A fault after the charge committed: the job goes on by itself (bot/jobs.py); say where it stands."""
        try:
            status: str | None = await read_back(lambda: committed.job_status(self.db, created.job_id))
        except StorageUnavailable:
            status = None
        said, words = committed.job_words(created.spec.kind, status, created.price, created.free_pulls)
        return FaultAnswer(fault.why, said, words, job_id=created.job_id)

    async def odds(
        self, pattern: str, format: str = "btc", *, exact_case: bool = False, fuzzy: bool = False
    ) -> OddsAnswer:
        """The odds of a pattern, and what a pull and an order of it would cost; charges nothing, needs no user."""
        compiled = _compile(pattern, format, exact_case, fuzzy)
        return self._odds_answer(compiled, await self.odds_cache.get(compiled))

    async def balance(self, user: UserRef) -> BalanceAnswer:
        """The person's tokens, debt, free pulls left today and spending today, with the current prices."""
        _check_user(user)
        account = await self.ledger.account(user)
        usage = await self.ledger.usage(user)
        s = self.settings
        return BalanceAnswer(
            user=user,
            tokens=account.balance,
            debt=account.debt,
            frozen=account.frozen,
            free_pulls_left=max(0, s.free_pulls_per_day - usage.free_pulls_used),
            free_pulls_per_day=s.free_pulls_per_day,
            spent_today=usage.spent,
            daily_spend_limit=s.daily_spend_limit,
            pull_price=s.pull_price,
            ten_pull_price=s.pull_cost_pulls(10) * s.pull_price,
        )

    async def topup(self, user: UserRef, pack: str | None = None) -> TopupAnswer:
        """/topup: the packs on sale, or a checkout link for `pack` that is this user's alone.

        Without payments configured, says so (configured=False) instead. Raises ServiceError for an unknown pack.
        """
        _check_user(user)
        if self.checkout is None:
            free = self.settings.free_pulls_per_day
            still = (
                ngettext("you still get {n} free pull a day", "you still get {n} free pulls a day", free)
                if free
                else _("there are no free pulls here either")
            )
            return TopupAnswer(
                configured=False,
                message=_(
                    "payments are not configured on this bot, so tokens cannot be bought here yet; {still}", still=still
                ),
            )
        from payments.errors import PaymentsError

        catalog = self.checkout.packs
        packs = tuple(TopupPack(p.pack_id, p.tokens, p.price) for p in catalog.packs)
        if pack is None or not pack.strip():
            return TopupAnswer(
                configured=True,
                packs=packs,
                message=_(
                    "choose a pack with {cmd_topup} <pack>: {packs}", packs=catalog.describe(), **commands("topup")
                ),
            )
        try:
            link = await self.checkout.create_checkout(user.platform, user.user_id, pack)
        except PaymentsError as exc:
            raise ServiceError(exc.code, exc.message) from None
        chosen = TopupPack(link.pack.pack_id, link.pack.tokens, link.pack.price)
        return TopupAnswer(
            configured=True,
            url=link.url,
            pack=chosen,
            packs=packs,
            message=ngettext(
                "pay {price} for {n} token at this link (it is yours alone); the token "
                "arrives as soon as Stripe confirms the payment",
                "pay {price} for {n} tokens at this link (it is yours alone); the tokens "
                "arrive as soon as Stripe confirms the payment",
                chosen.tokens,
                price=chosen.price,
            ),
        )

    async def keys(self, user: UserRef) -> KeysAnswer:
        """/keys: purge secrets past their grace period, then deliver every found, undelivered job of the person
        again."""
        _check_user(user)
        await self.jobs.vault.purge()
        pending = await self.jobs.for_user(user, statuses=("found",))
        delivered: list[str] = []
        undelivered: list[str] = []
        for record in pending:
            (delivered if await self.jobs.deliver_again(record) else undelivered).append(record.job_id)
        if not pending:
            message = _("you have no undelivered keys: every key found for you has been delivered")
        elif undelivered:
            message = _(
                "{sent} sent privately, {waiting} could not be sent: open your direct messages to the bot and "
                "send {cmd_keys} again",
                sent=len(delivered),
                **commands("keys"),
                waiting=len(undelivered),
            )
        else:
            message = _("{sent} sent to you privately", sent=len(delivered))
        return KeysAnswer(delivered=tuple(delivered), undelivered=tuple(undelivered), message=message)

    async def history(self, user: UserRef) -> HistoryAnswer:
        """The person's last 25 ledger entries, newest first, with the balance now."""
        _check_user(user)
        rows = await self.db.fetchall(
            "SELECT kind, tokens, free_pulls, reason, created_at FROM ledger WHERE platform = ? AND user_id = ? "
            "ORDER BY id DESC LIMIT 25",
            (user.platform, user.user_id),
        )
        entries = tuple(
            HistoryEntry(
                at=datetime.fromtimestamp(r["created_at"], tz=UTC),
                kind=r["kind"],
                tokens=r["tokens"],
                detail=history_detail(r["kind"], r["reason"] or "", r["free_pulls"]),
            )
            for r in rows
        )
        account = await self.ledger.account(user)
        return HistoryAnswer(user=user, entries=entries, balance=account.balance)

    async def leaderboard(self, community: CommunityRef | None) -> LeaderboardAnswer:
        """The rarest pulls here (community None: pulls made outside any community), at most 10, one per person."""
        params: tuple[str, ...]
        if community is None:
            where, params = "community_id IS NULL", ()
        else:
            where, params = "community_platform = ? AND community_id = ?", (community.platform, community.community_id)
        rows = await self.db.fetchall(
            f"SELECT platform, user_id, display_name, pattern, result, created_at FROM jobs WHERE kind = 'pull' "
            f"AND status IN ('found', 'delivered') AND {where} ORDER BY best_one_in DESC, created_at LIMIT 500",
            params,
        )
        entries: list[LeaderboardEntry] = []
        seen: set[tuple[str, str]] = set()
        for row in rows:
            who = (row["platform"], row["user_id"])
            if who in seen or not row["result"]:
                continue
            seen.add(who)
            result = json.loads(row["result"])
            key = shown_key_from_json(result["keys"][result["best_index"]])
            entries.append(
                LeaderboardEntry(
                    rank=len(entries) + 1,
                    user=UserRef(*who, row["display_name"]),
                    key=key,
                    pattern=row["pattern"],
                    at=datetime.fromtimestamp(row["created_at"], tz=UTC),
                )
            )
            if len(entries) == 10:
                break
        return LeaderboardAnswer(community=community, entries=tuple(entries))

    # --- community -----------------------------------------------------------------

    async def config(self, user: UserRef, community: CommunityRef | None, *, is_admin: bool) -> ConfigAnswer:
        """/config with no arguments: the community's settings (admins only)."""
        _check_user(user)
        community = _require_admin(community, is_admin)
        config = await self._config_for(community)
        assert config is not None
        names = ", ".join(controls.SETTINGS)
        return ConfigAnswer(
            config=config,
            changed=None,
            lines=controls.describe(config),
            message=_(
                "change one with {cmd_config} <setting> <value>; settings: {names}", names=names, **commands("config")
            ),
        )

    async def configure(
        self,
        user: UserRef,
        community: CommunityRef | None,
        setting: str,
        value: str,
        *,
        is_admin: bool,
        label: str = "",
    ) -> ConfigAnswer:
        """/config <setting> <value> (admins only). Settings: pull_channel, announce_channel (a channel id, or
        none; `label` is how to name it to people, e.g. "#pulls"), pulls (on/off), free_pulls (a number up to the
        operator's daily free pulls, or default)."""
        _check_user(user)
        community = _require_admin(community, is_admin)
        change = await controls.save_setting(
            self.db, community, user, setting, value, label, self.settings.free_pulls_per_day
        )
        config = await self._config_for(community)
        assert config is not None
        self._languages[(community.platform, community.community_id)] = (config.language, time.monotonic())
        if config.gallery and config.gallery_slug and setting.strip().lower() == "gallery":  # where it is now
            change = gallery_message(self.settings, config.gallery_slug)
        return ConfigAnswer(
            config=config,
            changed=setting.strip().lower().replace("-", "_"),
            lines=controls.describe(config),
            message=change,
        )

    async def gift(
        self, sender: UserRef, recipient: UserRef, tokens: int, *, idempotency_key: str, recipient_is_bot: bool = False
    ) -> GiftAnswer:
        """/gift @user TOKENS: move tokens, both ledger rows exactly once per idempotency key (use the
        platform's interaction or message id). The recipient is told privately; the answer is for the sender.
        A bot account (the platform says which) can hold no tokens: refused before anything moves."""
        _check_user(sender)
        _check_user(recipient)
        if recipient_is_bot:
            raise ServiceError("bad_recipient", _("bots cannot receive tokens: gift them to a person"))
        try:
            outcome = await gifts.give(self.db, self.ledger, sender, recipient, tokens, idempotency_key)
        except StorageUnavailable as fault:
            outcome = await self._gift_fault(fault, sender, recipient, tokens, idempotency_key)
        if outcome.applied:
            with use_locale(PEOPLE.of(recipient.platform, recipient.user_id) or current()):  # their language
                told = ngettext(
                    "{who} gifted you {n} token; your balance is now {balance}",
                    "{who} gifted you {n} tokens; your balance is now {balance}",
                    tokens,
                    who=sender.label,
                    balance=number(outcome.recipient_balance),
                )
            await self._notify(recipient, told)
        message = (
            ngettext(
                "you gifted {n} token to {who}; your balance is {balance}",
                "you gifted {n} tokens to {who}; your balance is {balance}",
                tokens,
                who=recipient.label,
                balance=number(outcome.sender_balance),
            )
            if outcome.applied
            else _("that gift was already made; your balance is {balance}", balance=number(outcome.sender_balance))
        )
        return GiftAnswer(
            sender=sender,
            recipient=recipient,
            tokens=tokens,
            balance_after=outcome.sender_balance,
            applied=outcome.applied,
            message=message,
        )

    async def _gift_fault(
        self, fault: StorageUnavailable, sender: UserRef, recipient: UserRef, tokens: int, idempotency_key: str
    ) -> gifts.GiftOutcome:
        """Both rows commit together: read the sender's back to know whether the gift was made."""
        sent_key, received_key = gifts.gift_keys(sender, idempotency_key)
        try:
            sent, received = await read_back(
                lambda: asyncio.gather(
                    committed.ledger_row(self.db, sent_key), committed.ledger_row(self.db, received_key)
                )
            )
        except StorageUnavailable:
            raise FaultAnswer(
                fault.why,
                "unknown",
                ngettext(
                    "the bot's database failed while your gift of {n} token was being made, and cannot say yet "
                    "whether it was: check {cmd_balance} in a minute before you send it again",
                    "the bot's database failed while your gift of {n} tokens was being made, and cannot say yet "
                    "whether it was: check {cmd_balance} in a minute before you send it again",
                    tokens,
                    **commands("balance"),
                ),
            ) from None
        if sent is None or received is None:
            raise FaultAnswer(
                fault.why,
                "nothing",
                ngettext(
                    "nothing was given: the bot's database failed before your gift of {n} token was made; "
                    "try again shortly",
                    "nothing was given: the bot's database failed before your gift of {n} tokens was made; "
                    "try again shortly",
                    tokens,
                ),
            ) from None
        return gifts.GiftOutcome(True, sent["balance_after"], received["balance_after"])

    async def streak(self, user: UserRef) -> StreakAnswer:
        """The person's current and best streak of days with a pull, in the operator's time zone."""
        _check_user(user)
        return await streaks.streak_of(self.db, user, self._streak_rules)

    async def season_leaderboard(self, community: CommunityRef | None) -> SeasonLeaderboardAnswer:
        """This week's rarest pull per person here (weeks start Monday 00:00 in the operator's time zone)."""
        season = season_of(time.time(), self.settings.time_zone)
        entries = await records.season_entries(self.db, community, season.label)
        return SeasonLeaderboardAnswer(
            community=community,
            season=season.label,
            starts_at=season.starts_at,
            ends_at=season.ends_at,
            entries=tuple(entries),
        )

    async def profile(
        self, user: UserRef, community: CommunityRef | None, *, share: bool = False, hide: bool = False
    ) -> ProfileAnswer:
        """/profile: best pulls, streak, this season's rank here. Show privately unless `share` (the person
        chose to show it). Sharing also names the person on community gallery pages (bot/web); `hide` stops that."""
        _check_user(user)
        if hide or share:
            await visibility.set_shown(self.db, user, not hide)
        pulls, total = await records.best_pulls(self.db, user)
        season = season_of(time.time(), self.settings.time_zone)
        rank = await records.season_rank(self.db, community, season.label, user)
        return ProfileAnswer(
            user=user,
            community=community,
            best_pulls=tuple(pulls),
            total_pulls=total,
            streak=await self.streak(user),
            season=season.label,
            season_rank=rank,
            share=bool(share),
        )

    async def card(self, user: UserRef, community: CommunityRef | None, job_id: str | None = None) -> CardAnswer:
        """/card: the card of the person's pull `job_id` (default: their latest), best key; never a secret."""
        _check_user(user)
        if job_id is None or not str(job_id).strip():
            job_id = await records.latest_job(self.db, user)
            if job_id is None:
                raise ServiceError(
                    "not_found",
                    _("you have no pulls yet: {cmd_pull} a pattern first, then {cmd_card}", **commands("pull", "card")),
                )
        try:
            record = await self.jobs.get(str(job_id).strip()[:64])
        except KeyError:
            record = None
        if (
            record is None
            or record.spec.user.key != user.key
            or record.spec.kind != "pull"
            or record.status not in ("found", "delivered")
        ):
            raise ServiceError(
                "not_found",
                _("no pull of yours has that id: {cmd_card} alone shows your latest pull", **commands("card")),
            )
        key = best_first(record.shown_keys)[0]
        png = await asyncio.to_thread(
            render_card, CardSpec(key, record.spec.pattern, community.title if community else "", user.label)
        )
        return _card_answer(key, record.spec.pattern, png)

    def render_card(
        self,
        format: str,
        identifier: str,
        pattern: str,
        *,
        exact_case: bool = False,
        fuzzy: bool = False,
        community_title: str = "",
    ) -> CardAnswer:
        """`vanikeys card`: a card for any identifier of the format, scored and rated as one pull's best."""
        return card_for_identifier(
            format,
            identifier,
            pattern,
            pull_keys=self.settings.pull_budget,
            exact_case=exact_case,
            fuzzy=fuzzy,
            community_title=community_title,
        )

    async def keep_late_reveals(self, platform: str, lines_by_chat: Mapping[str, Sequence[str]]) -> int:
        """A stopping front end's reveals that never went out (digest lines per chat), for after the restart."""
        return await late_reveals.keep(self.db, platform, lines_by_chat)

    async def claim_late_reveals(self, platform: str) -> dict[str, list[LateReveal]]:
        """What a previous stop kept, per chat, claimed by this process to post; `forget_late_reveals` once posted."""
        return await late_reveals.claim(self.db, platform)

    async def forget_late_reveals(self, ids: Iterable[int]) -> None:
        """Drop kept reveals by id (posted, or never postable there)."""
        await late_reveals.forget(self.db, ids)

    async def keep_waiting_reveal(self, platform: str, chat_id: str, line: str, owner: str) -> int:
        """A reveal waiting in a running front end's queue, stored so that a hard kill does not lose it; its id
        for `forget_late_reveals` once it went out. `owner` (this process's front end) renews its claim."""
        return await late_reveals.keep_waiting(self.db, platform, chat_id, line, owner)

    async def renew_late_reveals(self, owner: str) -> None:
        """Keep `owner`'s claims on kept reveals alive (the process is running): they do not lapse."""
        await late_reveals.renew(self.db, owner)

    async def release_late_reveals(self, owner: str) -> None:
        """Unclaim everything `owner` holds, for the next start to post at once."""
        await late_reveals.release(self.db, owner)

    async def claim_lapsed_reveals(self, platform: str, owner: str) -> dict[str, list[LateReveal]]:
        """Kept reveals nobody live holds (a stop released them, or a killed process's claim lapsed after
        `job_lease_s`), claimed for `owner` to post."""
        return await late_reveals.claim(
            self.db, platform, f"{owner}:posting:{uuid.uuid4().hex}", lapse_s=self.settings.job_lease_s, owner=owner
        )

    async def community_language(self, community: CommunityRef | None) -> str | None:
        """The locale an admin set for a community's public messages (None: not set), remembered for a minute so a
        busy group costs no query per update; /config language through this process updates it at once, through
        another process (several bots on one database) within LANGUAGE_TTL_S."""
        if community is None:
            return None
        key = (community.platform, community.community_id)
        known = self._languages.get(key)
        if known is None or time.monotonic() - known[1] > LANGUAGE_TTL_S:
            config = await self._config_for(community)
            self._languages.pop(key, None)
            if len(self._languages) >= 10_000:
                self._languages.pop(next(iter(self._languages)))
            known = (config.language if config is not None else None, time.monotonic())
            self._languages[key] = known
        return known[0]

    async def _config_for(self, community: CommunityRef | None) -> CommunityConfig | None:
        if community is None:
            return None
        return await controls.load_config(self.db, community, self.settings.free_pulls_per_day)

    @property
    def _streak_rules(self) -> streaks.StreakRules:
        s = self.settings
        return streaks.StreakRules(s.time_zone, s.streak_milestones, s.streak_bonus_pulls)

    def help(self) -> HelpAnswer:
        """/help: every command with its usage and summary at this deployment's prices, the formats, and notes."""
        s = self.settings
        formats = ", ".join(FORMATS)
        commands = (
            CommandHelp(
                "pull",
                _("/pull <pattern> [format] [count]"),
                _(
                    "grind {keys} keys and get the best match with its rarity; count 1 or 10 (a 10-pull costs "
                    "{ten}); {price} tokens a pull after {free} free a day",
                    keys=number(s.pull_budget),
                    ten=s.ten_pull_pulls,
                    price=s.pull_price,
                    free=s.free_pulls_per_day,
                ),
            ),
            CommandHelp(
                "order",
                _("/order <pattern> [format] [pubkey]"),
                _(
                    "grind until an exact match; priced by difficulty; give your public key for a split-key "
                    "order (you get an offset, never a private key)"
                ),
            ),
            CommandHelp(
                "odds", _("/odds <pattern> [format]"), _("the chance of a match, the rarity table and an order's price")
            ),
            CommandHelp("balance", "/balance", _("your tokens, free pulls left today and your daily limit")),
            CommandHelp("topup", _("/topup [pack]"), _("buy tokens")),
            CommandHelp("keys", "/keys", _("get the private keys that could not be sent to you")),
            CommandHelp("history", "/history", _("your recent spending, refunds and purchases")),
            CommandHelp("leaderboard", "/leaderboard", _("the rarest pulls here")),
            CommandHelp("help", "/help", _("this list")),
        )
        notes = (
            _("formats: {formats} (default btc)", formats=formats),
            _(
                "patterns: terms separated by spaces, found in order; ^ anchors the start, $ the end, ? is any "
                "character"
            ),
            _(
                "matching is case-insensitive unless you ask for exact case; fuzzy also accepts look-alikes (0/o, "
                "1/i/l, ...)"
            ),
        )
        return HelpAnswer(commands=commands, formats=tuple((f.id, f.title) for f in FORMATS.values()), notes=notes)

    def register_frontend(self, frontend: FrontEnd, *, only_user: UserRef | None = None) -> None:
        """Deliver through `frontend` from now on, and offer it the keys found while no front end ran.
        only_user: a front end that is one person's screen (the console) is offered only that person's keys."""
        self.delivery.register(frontend)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        pending = (
            self.jobs.deliver_pending(frontend.platform) if only_user is None else self._deliver_pending_for(only_user)
        )
        task = loop.create_task(pending)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def wait_idle(self) -> None:
        """Until the pending deliveries offered to front ends and every job this process drives have settled."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self.jobs.wait_idle()

    async def _deliver_pending_for(self, user: UserRef) -> None:
        rows = await self.db.fetchall(
            "SELECT job_id FROM jobs WHERE status = 'found' AND delivery_attempted_at IS NULL AND platform = ? "
            "AND user_id = ?",
            (user.platform, user.user_id),
        )
        for row in rows:
            self.jobs.start(row["job_id"])

    async def apply_instruction(self, instruction: LedgerInstruction) -> ApplyOutcome:
        """Payments: credit (tokens > 0), claw back (tokens < 0) or undo a clawback (`reverses`), once per key."""
        from payments.events import ApplyOutcome

        user = UserRef(instruction.platform, instruction.user_id)
        kind, reason = f"payment_{instruction.reason}", f"{instruction.reason} {instruction.stripe_id}"
        key = instruction.idempotency_key
        try:
            if instruction.reverses is not None:
                credit = await self.ledger.reverse(
                    user, instruction.reverses, kind=kind, idempotency_key=key, reason=reason
                )
            else:
                credit = await self.ledger.apply(
                    user, instruction.tokens, kind=kind, idempotency_key=key, reason=reason
                )
        except StorageUnavailable as fault:
            # Applied or not? Read back: applied, the buyer is told and Stripe gets its 200; not (or unknown),
            # the fault goes to the webhook, which answers 503 so that Stripe retries (once per key).
            try:
                applied = await self._applied_credit(user, key)
            except StorageUnavailable:
                self._unsure_payments.add(key)  # a retry that finds it applied tells the buyer then
                raise
            if applied is None:
                raise fault from None
            credit = applied
        if not credit.applied and key in self._unsure_payments:  # applied as storage failed, never told
            credit = await self._applied_credit(user, key) or credit
        self._unsure_payments.discard(key)
        outcome = ApplyOutcome(
            applied=credit.applied,
            tokens_moved=credit.tokens_moved,
            debt=credit.debt_after,
            balance=credit.balance_after,
        )
        logs.event(
            "payment.applied" if credit.applied else "payment.replayed",
            key=instruction.idempotency_key,
            user=logs.user_ref(user.platform, user.user_id),
            tokens=credit.tokens_moved,
        )
        if credit.applied:
            await self._notify(user, instruction.notice_for(outcome))
        return outcome

    async def _applied_credit(self, user: UserRef, key: str) -> Credit | None:
        """The credit a ledger key made, read back (None: it made none)."""
        row = await read_back(lambda: committed.ledger_row(self.db, key))
        if row is None:
            return None
        account = await read_back(lambda: self.ledger.account(user))
        return Credit(True, row["tokens"], row["debt_change"], row["balance_after"], account.debt)

    async def grant(self, user: UserRef, tokens: int, *, reason: str = "admin grant") -> int:
        """Console admin: add tokens; returns the new balance."""
        _check_user(user)
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens <= 0 or tokens > 10**12:
            raise ServiceError(
                "bad_amount", _("grant a whole number of tokens from 1 to 10^12, not {tokens}", tokens=repr(tokens))
            )
        key = f"grant:{uuid.uuid4().hex}"
        try:
            return (
                await self.ledger.apply(user, tokens, kind="grant", idempotency_key=key, reason=reason)
            ).balance_after
        except StorageUnavailable as fault:
            try:
                row = await read_back(lambda: committed.ledger_row(self.db, key))
            except StorageUnavailable:
                raise FaultAnswer(
                    fault.why,
                    "unknown",
                    ngettext(
                        "the bot's database failed during the grant of {n} token and cannot say yet whether it "
                        "was made: check the balance in a minute before granting again",
                        "the bot's database failed during the grant of {n} tokens and cannot say yet whether it "
                        "was made: check the balance in a minute before granting again",
                        tokens,
                    ),
                ) from None
            if row is None:
                raise FaultAnswer(
                    fault.why,
                    "nothing",
                    ngettext(
                        "nothing was granted: the bot's database failed before the grant of {n} token was made; "
                        "try again shortly",
                        "nothing was granted: the bot's database failed before the grant of {n} tokens was made; "
                        "try again shortly",
                        tokens,
                    ),
                ) from None
            return int(row["balance_after"])

    # --- job observer (orders' progress and endings) -------------------------------

    async def job_progress(self, record: JobRecord, checked: int, rate: float) -> None:
        """JobObserver.job_progress: an order's progress goes to its platform's front end (edited in place at its
        origin)."""
        frontend = self.delivery.frontend_for(record.spec.user.platform)
        if frontend is not None and record.spec.kind == "order":
            with use_locale(record.spec.locale or current()):  # as placed, also after a restart
                await frontend.order_progress(self.order_view(record, checked, rate))

    async def job_found(self, record: JobRecord) -> None:
        """An order's result, announced where it was placed before its key goes out privately (pulls awaited
        by pull() are revealed by their caller). The delivery waits at most REVEAL_TIMEOUT_S for it."""
        frontend = self.delivery.frontend_for(record.spec.user.platform)
        if frontend is None or record.spec.kind != "order":
            return
        with use_locale(record.spec.locale or current()):  # the task copies the locale
            announcing = asyncio.create_task(frontend.order_finished(self.order_view(record, record.keys_checked, 0.0)))
        self._background.add(announcing)
        announcing.add_done_callback(self._background.discard)
        try:
            await asyncio.wait_for(asyncio.shield(announcing), REVEAL_TIMEOUT_S)
        except TimeoutError:  # it goes on in the background; the key does not wait for it any longer
            log.warning(
                "order %s: the result is still being announced after %.0f s; delivering the key",
                record.job_id,
                REVEAL_TIMEOUT_S,
            )
            announcing.add_done_callback(
                lambda t: t.cancelled() or t.exception()
            )  # retrieved: front ends log their own

    async def job_settled(self, record: JobRecord) -> None:
        """JobObserver.job_settled: record a settled pull's best (bests, streaks) once, then tell the front end.

        An order that failed is shown at its origin (a found one was already announced); a pull refunded while its
        caller was not waiting for the answer is told to its owner.
        """
        if record.spec.kind == "pull" and record.status in ("found", "delivered"):
            keys = best_first(record.shown_keys)
            if keys and record.job_id not in self._recorded:
                await self._after_pull(record, keys[0])  # once per job: a no-op when pull() recorded it
        self._recorded.discard(record.job_id)
        frontend = self.delivery.frontend_for(record.spec.user.platform)
        if frontend is None:
            return
        if record.spec.kind == "order":
            if record.status not in ("found", "delivered"):  # a found order was announced before its delivery
                with use_locale(record.spec.locale or current()):
                    await frontend.order_finished(self.order_view(record, record.keys_checked, 0.0))
        elif record.status == "refunded" and record.job_id not in self._awaited:
            user = record.spec.user
            with use_locale(PEOPLE.of(user.platform, user.user_id) or record.spec.locale or current()):  # a DM
                told = _(
                    "your pull for {pattern} failed ({error}): {given_back}",
                    pattern=repr(record.spec.pattern),
                    error=failure_reason(record.error_kind),
                    given_back=_given_back(record),
                )
            await frontend.notify(user, told)

    def order_view(self, record: JobRecord, checked: int, rate: float) -> OrderView:
        """The order as the person sees it now: status, progress at `checked` keys and `rate` keys/s, and one line to
        show."""
        spec = record.spec
        expected = spec.expected_keys or 1.0
        keys = record.shown_keys
        found = keys[0] if keys else None
        # Past the expected number of keys there is no "time left": every key has the same chance.
        eta = (expected - checked) / rate if rate > 0 and checked < expected else None
        pending = record.status == "found" and record.delivery_attempted_at is None

        def message() -> str:  # in the current locale: the view's, or a private notice's (the person's)
            return _order_message(record, checked, expected, pending)

        return OrderView(
            order_id=record.job_id,
            user=spec.user,
            community=spec.community,
            origin=spec.origin,
            pattern=spec.pattern,
            format_id=spec.format_id,
            split=spec.split_pubkey is not None,
            status=record.status,  # type: ignore[arg-type]  # an order's status (a str) is one of OrderStatus
            price=record.price,
            keys_checked=checked,
            expected_keys=expected,
            percent=100.0 * checked / expected,
            rate_keys_per_s=rate,
            eta_s=eta,
            found=found,
            delivered=record.status == "delivered",
            message=message(),
            delivery_pending=pending,
            message_in_current_locale=message,
        )

    # --- helpers ---------------------------------------------------------------------

    def _odds_answer(self, pattern: Pattern, odds: Odds) -> OddsAnswer:
        price, refusal = self._order_price(odds)
        budget = self.settings.pull_budget
        return OddsAnswer(
            format_id=pattern.format_id,
            format_title=get_format(pattern.format_id).title,
            pattern=pattern.text,
            max_score=pattern.max_score,
            p_full=odds.p_full,
            expected_keys=odds.expected_keys,
            pull_keys=budget,
            p_full_in_pull=p_full_in(odds, budget),
            p_at_least=tuple(odds.p_at_least),
            pull_price=self.settings.pull_price,
            order_price=price,
            order_expected_s=odds.expected_keys / self.settings.keys_per_s,
            order_refusal=refusal,
            web_url=odds_page_url(self.settings.web_url, pattern),
        )

    def _order_price(self, odds: Odds) -> tuple[int | None, str | None]:
        expected_s = odds.expected_keys / self.settings.keys_per_s
        if not math.isfinite(odds.expected_keys) or expected_s > self.settings.max_order_s:
            keys = f"{odds.expected_keys:,.3g}" if math.isfinite(odds.expected_keys) else "∞"
            needs = (
                _("about {keys} keys, about {time} of grinding", keys=keys, time=duration(expected_s))
                if expected_s < FAR_BEYOND_S
                else _("about {keys} keys, {far}", keys=keys, far=_(FAR_BEYOND))
            )
            return None, _(
                "an exact match needs {needs}, past the {limit} limit: shorten the pattern, or {cmd_pull} for "
                "the best partial match",
                needs=needs,
                **commands("pull"),
                limit=duration(self.settings.max_order_s),
            )
        return self.settings.order_price(odds.expected_keys), None

    async def _notify(self, user: UserRef, text: str) -> None:
        frontend = self.delivery.frontend_for(user.platform)
        if frontend is None:
            return
        try:
            await frontend.notify(user, text)
        except Exception as exc:
            log.warning("notice to %s failed: %s", user.platform, type(exc).__name__)


def _check_user(user: Any) -> None:
    if not isinstance(user, UserRef) or not user.platform or not user.user_id:
        raise ServiceError("bad_user", "a user needs a platform and a user id")
    if len(user.user_id) > MAX_NAME_CHARS or len(user.platform) > MAX_NAME_CHARS:
        raise ServiceError("bad_user", f"a user id is at most {MAX_NAME_CHARS} characters")


def _require_admin(community: CommunityRef | None, is_admin: bool) -> CommunityRef:
    if community is None:
        raise ServiceError(
            "not_admin", _("{cmd_config} works in a server or group, not in a private chat", **commands("config"))
        )
    if is_admin is not True:
        raise ServiceError("not_admin", _("only this community's admins can use {cmd_config}", **commands("config")))
    return community


def _check_pull_allowed(config: CommunityConfig | None, channel: str | None) -> None:
    if config is None:
        return
    if not config.pulls_allowed:
        raise ServiceError("pulls_disabled", _("an admin turned pulls off here; pull in a private chat with the bot"))
    if config.pull_channel and channel is not None and str(channel) != config.pull_channel:
        raise WrongChannel(config.pull_channel, config.pull_channel_label)


def card_for_identifier(
    format: str,
    identifier: str,
    pattern: str,
    *,
    pull_keys: int,
    exact_case: bool = False,
    fuzzy: bool = False,
    community_title: str = "",
) -> CardAnswer:
    """A card for an identifier typed by someone: validated against the format, scored, rated as a pull's best."""
    compiled = _compile(pattern, format, exact_case, fuzzy)
    fmt = get_format(compiled.format_id)
    text = identifier.strip() if isinstance(identifier, str) else ""
    if not text.startswith(fmt.prefix) or len(text) > 120 or len(text) <= len(fmt.prefix):
        raise ServiceError(
            "bad_identifier",
            _("that is not a {format} identifier: it starts with {prefix}", format=fmt.title, prefix=repr(fmt.prefix)),
        )
    body = fmt.body(text)
    allowed = set(fmt.alphabet) | (set(fmt.alphabet.upper()) if not fmt.case_sensitive else set())
    if any(ch not in allowed for ch in body):
        raise ServiceError(
            "bad_identifier",
            _("that is not a {format} identifier: it has characters outside its alphabet", format=fmt.title),
        )
    from gpu_worker.patterns import score as score_of

    key = shown_key(compiled, odds_of(compiled), text, score_of(compiled, body), pull_keys)
    return _card_answer(key, compiled.text, render_card(CardSpec(key, compiled.text, community_title)))


def _card_answer(key: ShownKey, pattern: str, png: bytes) -> CardAnswer:
    from bot.cards import HEIGHT, WIDTH

    safe = "".join(ch for ch in key.identifier[-12:] if ch.isalnum())
    return CardAnswer(
        key=key,
        pattern=pattern,
        format_id=key.format_id,
        png=png,
        width=WIDTH,
        height=HEIGHT,
        filename=f"vanikeys-{key.format_id}-{safe}.png",
    )


def _case(exact_case: bool) -> str:
    return "exact" if exact_case else "insensitive"


def _compile(pattern: Any, format: Any, exact_case: bool, fuzzy: bool) -> Pattern:
    if not isinstance(format, str) or not format.strip():
        raise ServiceError("bad_format", _("say which format: one of {formats}", formats=", ".join(FORMATS)))
    if not isinstance(pattern, str) or not pattern.strip():
        raise ServiceError("bad_pattern", _("give a pattern, for example {cmd_pull} ^Love btc", **commands("pull")))
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ServiceError("bad_pattern", _("a pattern is at most {n} characters; shorten it", n=MAX_PATTERN_CHARS))
    try:
        return parse_pattern(
            format.strip().lower(), pattern.strip(), case="exact" if exact_case else "insensitive", fuzzy=fuzzy
        )
    except VanikeysError as exc:
        raise ServiceError(exc.code, exc.message) from None


def _cut_short(result: dict[str, Any]) -> CutShort | None:
    refund = result.get("cut_short")
    if not isinstance(refund, dict):
        return None
    return CutShort(
        ground_pct=int(refund["ground_pct"]),
        tokens_back=int(refund["tokens"]),
        free_pulls_back=int(refund["free_pulls"]),
    )


def _order_message(record: JobRecord, checked: int, expected: float, pending: bool) -> str:
    """An order's one line for people at `checked` keys, in the current locale."""
    status = record.status
    keys = record.shown_keys
    identifier = keys[0].identifier if keys else ""
    if status == "accepted":
        return _("order accepted and paid; grinding starts now")
    if status == "submitted":
        return _("order submitted to the grinder")
    if status == "running":
        if checked <= expected:
            return _(
                "{checked} keys checked, {percent} of the expected {expected}",
                checked=number(checked),
                percent=percent(checked / expected),
                expected=number(round(expected)),
            )
        return _(
            "{checked} keys checked, past the {expected} expected: every key has the same chance, so the "
            "match may come at any moment",
            checked=number(checked),
            expected=number(round(expected)),
        )
    if status == "found":
        if pending:
            return _("found {identifier}; the secret is on its way to you privately", identifier=identifier)
        return _(
            "found {identifier}; the secret could not be sent privately: {hint}",
            identifier=identifier,
            hint=_(KEYS_HINT, **commands("keys")),
        )
    if status == "delivered":
        return _("found {identifier}; the secret was sent to you privately", identifier=identifier)
    if status == "failed":
        return _("the order failed ({error}); a refund follows", error=failure_reason(record.error_kind))
    if status == "refunded":
        return _(
            "the order failed ({error}): {given_back}",
            error=failure_reason(record.error_kind),
            given_back=_given_back(record),
        )
    return status


def _given_back(record: JobRecord) -> str:
    parts = []
    if record.price:
        parts.append(ngettext("{n} token", "{n} tokens", record.price))
    if record.free_pulls:
        parts.append(ngettext("{n} free pull", "{n} free pulls", record.free_pulls))
    return _("refunded {what}", what=_(" and ").join(parts)) if parts else _("nothing was charged")
