"""Every command through the real service on a real SQLite file with the python grinder."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

import base58
import coincurve
import pytest
from Crypto.Hash import RIPEMD160

from bot.answers import CommunityRef, Origin, ServiceError, UserRef
from bot.app import App, create_app
from bot.config import Settings
from bot.grinder import InProcessGrindingClient
from bot.service import card_for_identifier
from gpu_worker.formats import CURVE_ORDER, get_format
from gpu_worker.job import GrindHit, GrindJob, GrindResult
from gpu_worker.patterns import parse_pattern, score
from payments.events import LedgerInstruction

from .conftest import ALICE, BOB, GUILD, RecordingFrontEnd, small_settings


def btc_address_from_wif(wif: str) -> str:
    """Independent of gpu_worker: WIF -> secret -> coincurve -> P2PKH."""
    raw = base58.b58decode_check(wif)
    assert raw[0] == 0x80 and raw[-1] == 0x01 and len(raw) == 34
    pub = coincurve.PrivateKey(raw[1:33]).public_key.format(compressed=True)
    h160 = RIPEMD160.new(hashlib.sha256(pub).digest()).digest()
    return base58.b58encode_check(b"\x00" + h160).decode()


async def test_pull_answers_best_key_and_delivers_a_secret_that_derives_it(
    app: App, frontend: RecordingFrontEnd
) -> None:
    await app.service.grant(ALICE, 5)
    answer = await app.service.pull(ALICE, GUILD, "^ab", "btc")
    assert answer.count == 1 and len(answer.keys) == 1 and answer.tokens_spent == 1 and answer.balance_after == 4
    key = answer.best
    pattern = parse_pattern("btc", "^ab")
    assert key.identifier.startswith("1") and key.max_score == 2
    assert key.score == score(pattern, key.identifier[1:])
    assert sum(end - start for start, end in key.spans) == key.score
    assert "".join(text for text, lit in key.segments() if lit).lower() == "ab"[: key.score]
    assert key.tier in ("Common", "Uncommon", "Rare", "Epic", "Legendary", "Mythic")
    assert answer.keys_checked == app.settings.pull_budget and answer.delivered
    [(user, delivery)] = frontend.deliveries
    assert user == ALICE and delivery.job_id == answer.job_id and "<redacted>" in repr(delivery)
    [secret] = delivery.secrets
    assert secret.secret_kind == "private_key" and secret.export_kind == "wif"
    assert btc_address_from_wif(secret.value) == key.identifier
    assert 0 < answer.odds.p_full < 1 and answer.odds.pull_keys == app.settings.pull_budget


async def test_ten_pull_costs_nine_and_returns_ten_keys_in_one_private_message(
    app: App, frontend: RecordingFrontEnd
) -> None:
    await app.service.grant(ALICE, 9)
    answer = await app.service.pull(ALICE, None, "xy", "trx", 10, allow_easy=True)
    assert answer.count == 10 and len(answer.keys) == 10 and answer.tokens_spent == 9 and answer.balance_after == 0
    best = answer.best
    assert all(best.one_in_pulls >= k.one_in_pulls for k in answer.keys)
    [(_, delivery)] = frontend.deliveries
    assert [s.identifier for s in delivery.secrets] == [k.identifier for k in answer.keys]
    fmt = get_format("trx")
    for s in delivery.secrets:
        assert fmt.identifier(coincurve.PrivateKey(bytes.fromhex(s.value)).public_key) == s.identifier


async def test_free_daily_pulls_come_first(tmp_path) -> None:
    async with create_app(small_settings(tmp_path, free_pulls_per_day=2, pull_price=5)) as app:
        fe = RecordingFrontEnd()
        app.service.register_frontend(fe)
        first = await app.service.pull(ALICE, None, "a", allow_easy=True)
        assert (first.tokens_spent, first.free_pulls_used) == (0, 1)
        balance = await app.service.balance(ALICE)
        assert (balance.free_pulls_left, balance.tokens, balance.ten_pull_price) == (1, 0, 45)
        await app.service.pull(ALICE, None, "a", allow_easy=True)
        with pytest.raises(ServiceError) as err:
            await app.service.pull(ALICE, None, "a", allow_easy=True)
        assert err.value.code == "insufficient_tokens" and "/topup" in err.value.message


async def test_closed_dms_keep_the_key_for_keys(app: App) -> None:
    closed = RecordingFrontEnd(dms_open=False)
    app.service.register_frontend(closed)
    await app.service.grant(ALICE, 1)
    answer = await app.service.pull(ALICE, GUILD, "zz", allow_easy=True)
    assert not answer.delivered and "/keys" in answer.delivery_note
    still = await app.service.keys(ALICE)
    assert still.undelivered == (answer.job_id,) and "open your direct messages" in still.message
    opened = RecordingFrontEnd()
    app.service.register_frontend(opened)
    got = await app.service.keys(ALICE)
    assert got.delivered == (answer.job_id,)
    assert [d.job_id for _, d in opened.deliveries] == [answer.job_id]
    again = await app.service.keys(ALICE)
    assert again.delivered == () and "no undelivered keys" in again.message
    assert len(opened.deliveries) == 1


async def test_order_finds_an_exact_match_reports_progress_and_delivers(app: App, frontend: RecordingFrontEnd) -> None:
    await app.service.grant(ALICE, 100)
    where = Origin("test", "channel-9", "message-3")
    answer = await app.service.order(ALICE, GUILD, "^a", "btc", origin=where)
    assert answer.order.status == "accepted" and answer.order.price >= app.settings.order_premium
    assert answer.order.origin == where and answer.order.expected_keys > 1
    assert answer.balance_after == 100 - answer.order.price
    await app.jobs.wait_idle()
    [finished] = frontend.finished  # announced before the private delivery, which then went out
    assert finished.status == "found" and finished.delivery_pending and not finished.delivered
    assert finished.found is not None and finished.found.full
    assert "on its way to you privately" in finished.message
    assert finished.origin == where and frontend.progress
    assert all(p.origin == where and p.order_id == answer.order.order_id and p.percent >= 0 for p in frontend.progress)
    assert finished.found.identifier[1].lower() == "a"
    [(_, delivery)] = frontend.deliveries
    assert btc_address_from_wif(delivery.secrets[0].value) == finished.found.identifier


async def test_an_orders_result_is_announced_before_its_key_goes_out_privately(
    app: App, frontend: RecordingFrontEnd
) -> None:
    """Like a pull's reveal: the public result first, then the private message (never the other way round)."""
    await app.service.grant(ALICE, 100)
    await app.service.order(ALICE, GUILD, "^a", "btc", origin=Origin("test", "channel-9", "message-3"))
    await app.jobs.wait_idle()
    assert frontend.calls == ["order_finished", "deliver_private"]
    [job] = await app.db.fetchall("SELECT status FROM jobs")
    assert job["status"] == "delivered"


async def test_an_order_whose_private_delivery_is_refused_was_announced_once_before_it(
    app: App, frontend: RecordingFrontEnd
) -> None:
    frontend.dms_open = False
    await app.service.grant(ALICE, 100)
    await app.service.order(ALICE, GUILD, "^a", "btc")
    await app.jobs.wait_idle()
    assert frontend.calls == ["order_finished", "deliver_private"]
    [finished] = frontend.finished
    assert finished.delivery_pending and finished.found is not None
    [job] = await app.db.fetchall("SELECT status, delivery_attempted_at FROM jobs")
    assert job["status"] == "found" and job["delivery_attempted_at"] is not None  # waits in the vault for /keys


async def test_an_orders_rarity_is_rated_in_pulls_as_a_pull_would_rate_the_same_address(
    app: App, frontend: RecordingFrontEnd
) -> None:
    await app.service.grant(ALICE, 500)
    await app.service.order(ALICE, GUILD, "^ab", "btc")
    await app.jobs.wait_idle()
    [finished] = frontend.finished
    assert finished.found is not None and finished.found.full
    card = card_for_identifier("btc", finished.found.identifier, "^ab", pull_keys=app.settings.pull_budget)
    # the same address judged as a pull's best key: same tier and the same "1 in N pulls", never N keys
    assert (finished.found.tier, finished.found.one_in_pulls) == (card.key.tier, card.key.one_in_pulls)
    odds = await app.service.odds("^ab", "btc")
    assert finished.found.one_in_pulls < odds.expected_keys


async def test_split_key_order_delivers_an_offset_never_a_private_key(app: App, frontend: RecordingFrontEnd) -> None:
    await app.service.grant(ALICE, 100)
    own_secret = secrets.randbelow(CURVE_ORDER - 1) + 1
    own_pub = coincurve.PrivateKey(own_secret.to_bytes(32, "big")).public_key.format(compressed=True).hex()
    answer = await app.service.order(ALICE, None, "^b", "eth", own_pub)
    assert answer.order.split and "vanikeys combine" in answer.note
    await app.jobs.wait_idle()
    [(_, delivery)] = frontend.deliveries
    [offset] = delivery.secrets
    assert offset.secret_kind == "offset" and "vanikeys combine eth" in delivery.note
    combined = (own_secret + int(offset.value, 16)) % CURVE_ORDER
    eth = get_format("eth").identifier(coincurve.PrivateKey(combined.to_bytes(32, "big")).public_key)
    assert eth == offset.identifier and eth[2].lower() == "b"
    assert offset.value not in (f"{combined:064x}",)


async def test_order_refused_past_the_maximum_difficulty_with_its_time(app: App) -> None:
    await app.service.grant(ALICE, 10_000)
    with pytest.raises(ServiceError) as err:
        await app.service.order(ALICE, None, "^abcdef01", "eth")
    assert err.value.code == "too_hard" and "of grinding" in err.value.message and "/pull" in err.value.message
    assert (await app.service.balance(ALICE)).tokens == 10_000
    odds = await app.service.odds("^abcdef01", "eth")
    assert odds.order_price is None and odds.order_refusal
    hopeless = await app.service.odds("^abcdefabcdefabcdefabcdef", "eth")  # ~10^28 keys: no figure means anything
    assert hopeless.order_refusal and "far beyond any budget" in hopeless.order_refusal
    assert "years" not in hopeless.order_refusal


async def test_order_that_gives_up_is_refunded_exactly_once(tmp_path) -> None:
    async with create_app(small_settings(tmp_path, order_attempt_factor=1e-9)) as app:
        fe = RecordingFrontEnd()
        app.service.register_frontend(fe)
        await app.service.grant(ALICE, 500)
        answer = await app.service.order(ALICE, None, "^abc", "eth")
        await app.jobs.wait_idle()
        [finished] = fe.finished
        assert finished.status == "refunded" and "refunded" in finished.message
        assert (await app.service.balance(ALICE)).tokens == 500
        rows = await app.db.fetchall("SELECT kind FROM ledger WHERE job_id = ?", (answer.order.order_id,))
        assert sorted(r["kind"] for r in rows) == ["order", "refund"]
        # driving the settled job again changes nothing
        await app.jobs.drive(answer.order.order_id)
        assert (await app.service.balance(ALICE)).tokens == 500
        assert await app.ledger.audit() == []


class ForgingGrinder(InProcessGrindingClient):
    """A worker that lies: its hit's secret does not derive its identifier."""

    async def wait(self, job_id: str, job: GrindJob, on_progress=None) -> GrindResult:
        real = await super().wait(job_id, job, on_progress)
        hit = real.results[0]
        forged = GrindHit(
            secret=f"{(int(hit.secret, 16) + 1) % CURVE_ORDER:064x}",
            secret_kind=hit.secret_kind,
            identifier=hit.identifier,
            score=hit.score,
            full=hit.full,
        )
        return real.model_copy(update={"results": [forged]})


async def test_a_forged_worker_result_is_refused_and_the_pull_refunded(settings: Settings) -> None:
    async with create_app(settings, grinder=ForgingGrinder("python")) as app:
        fe = RecordingFrontEnd()
        app.service.register_frontend(fe)
        await app.service.grant(ALICE, 3)
        with pytest.raises(ServiceError) as err:
            await app.service.pull(ALICE, None, "ab", allow_easy=True)
        assert err.value.code == "grind_failed" and "refunded 1 token;" in err.value.message
        assert fe.deliveries == []
        assert (await app.service.balance(ALICE)).tokens == 3
        assert await app.db.fetchone("SELECT COUNT(*) AS n FROM vault") is not None
        assert (await app.db.fetchone("SELECT COUNT(*) AS n FROM vault"))["n"] == 0


class ReplayingGrinder(InProcessGrindingClient):
    """A worker that hands every job the first result it ever produced (a replayed response)."""

    first: GrindResult | None = None

    async def wait(self, job_id: str, job: GrindJob, on_progress=None) -> GrindResult:
        real = await super().wait(job_id, job, on_progress)
        if ReplayingGrinder.first is None:
            ReplayingGrinder.first = real
        return ReplayingGrinder.first


async def test_a_replayed_worker_result_is_never_handed_to_a_second_person(settings: Settings) -> None:
    async with create_app(settings, grinder=ReplayingGrinder("python")) as app:
        fe = RecordingFrontEnd()
        app.service.register_frontend(fe)
        await app.service.grant(ALICE, 3)
        await app.service.grant(BOB, 3)
        first = await app.service.pull(ALICE, None, "ab", allow_easy=True)
        with pytest.raises(ServiceError) as err:
            await app.service.pull(BOB, None, "ab", allow_easy=True)
        assert err.value.code == "grind_failed" and "did not check out" in err.value.message  # its kind, for people
        rows = await app.db.fetchall("SELECT error FROM jobs WHERE error_kind = 'not_verified'")
        assert ["already handed out" in row["error"] for row in rows] == [True]  # the words, for operators
        assert [user for user, _ in fe.deliveries] == [ALICE]
        assert fe.deliveries[0][1].secrets[0].identifier == first.keys[0].identifier
        assert (await app.service.balance(BOB)).tokens == 3, "Bob's pull was refunded"
        assert await app.ledger.audit() == []


async def test_payments_credit_once_claw_back_into_debt_and_freeze(app: App, frontend: RecordingFrontEnd) -> None:
    buy = LedgerInstruction(
        platform="test",
        user_id="alice",
        tokens=10,
        idempotency_key="stripe:checkout:cs_1",
        reason="purchase",
        notice="10 tokens have arrived",
        stripe_id="cs_1",
    )
    outcomes = await asyncio.gather(*(app.service.apply_instruction(buy) for _ in range(10)))
    assert sum(o.applied for o in outcomes) == 1
    assert (await app.service.balance(ALICE)).tokens == 10
    assert frontend.notices == [(UserRef("test", "alice"), "10 tokens have arrived")]
    await app.service.pull(ALICE, None, "a", allow_easy=True)
    await app.service.pull(ALICE, None, "a", allow_easy=True)
    back = LedgerInstruction(
        platform="test",
        user_id="alice",
        tokens=-10,
        idempotency_key="stripe:refund:re_1",
        reason="refund",
        notice="refunded",
        stripe_id="re_1",
    )
    out = await app.service.apply_instruction(back)
    assert (out.applied, out.tokens_moved, out.debt, out.balance) == (True, -8, 2, 0)
    assert "you owe 2 tokens" in frontend.notices[-1][1]
    balance = await app.service.balance(ALICE)
    assert balance.frozen and balance.debt == 2
    with pytest.raises(ServiceError) as err:
        await app.service.pull(ALICE, None, "a", allow_easy=True)
    assert err.value.code == "account_frozen"
    with pytest.raises(ServiceError):
        await app.service.order(ALICE, None, "^a", "btc")
    more = LedgerInstruction(
        platform="test",
        user_id="alice",
        tokens=5,
        idempotency_key="stripe:checkout:cs_2",
        reason="purchase",
        notice="5 tokens",
        stripe_id="cs_2",
    )
    settled = await app.service.apply_instruction(more)
    assert (settled.debt, settled.balance) == (0, 3)
    await app.service.pull(ALICE, None, "a", allow_easy=True)
    assert await app.ledger.audit() == []


async def test_topup_without_stripe_says_so_and_with_a_catalog_checks_the_pack(app: App, tmp_path) -> None:
    answer = await app.service.topup(ALICE)
    assert not answer.configured and "payments are not configured" in answer.message
    assert "Stripe" not in answer.message and "operator" not in answer.message  # words the person can act on
    from payments.checkout import CheckoutClient
    from payments.config import settings_from

    stripe = settings_from({"STRIPE_API_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"})
    client = CheckoutClient(stripe)
    try:
        async with create_app(small_settings(tmp_path / "b"), checkout=client) as paid:
            listing = await paid.service.topup(ALICE)
            assert listing.configured and listing.url is None and [p.tokens for p in listing.packs][:1] == [100]
            with pytest.raises(ServiceError) as err:
                await paid.service.topup(ALICE, "777")
            assert err.value.code == "bad_pack" and "choose one of" in err.value.message
    finally:
        await client.close()


async def test_history_and_leaderboard_per_community(app: App, frontend: RecordingFrontEnd) -> None:
    await app.service.grant(ALICE, 5)
    await app.service.grant(BOB, 5)
    other = CommunityRef("test", "guild-2", "Two")
    a = await app.service.pull(ALICE, GUILD, "ab", allow_easy=True)
    b = await app.service.pull(BOB, GUILD, "ab", allow_easy=True)
    await app.service.pull(ALICE, GUILD, "ab", allow_easy=True)
    c = await app.service.pull(BOB, other, "cd", allow_easy=True)
    board = await app.service.leaderboard(GUILD)
    assert sorted(e.user.user_id for e in board.entries) == ["alice", "bob"]
    assert [e.rank for e in board.entries] == [1, 2]
    assert board.entries[0].key.one_in_pulls >= board.entries[1].key.one_in_pulls
    best_of = {e.user.user_id: e.key.identifier for e in board.entries}
    assert best_of["bob"] == b.best.identifier
    two = await app.service.leaderboard(other)
    assert [e.key.identifier for e in two.entries] == [c.best.identifier]
    assert (await app.service.leaderboard(CommunityRef("test", "empty"))).entries == ()
    history = await app.service.history(ALICE)
    assert [e.kind for e in history.entries] == ["pull", "pull", "grant"]
    assert [e.tokens for e in history.entries] == [-1, -1, 5] and history.balance == 3
    assert a.job_id


@pytest.mark.parametrize(
    ("call", "code", "words"),
    [
        (lambda s: s.pull(ALICE, None, "ab", "btc", 2), "bad_count", "1 or 10"),
        (lambda s: s.pull(ALICE, None, "ab", "btc", True), "bad_count", "1 or 10"),
        (lambda s: s.pull(ALICE, None, "", "btc"), "bad_pattern", "give a pattern"),
        (lambda s: s.pull(ALICE, None, "a" * 65, "btc"), "bad_pattern", "at most"),
        (lambda s: s.pull(ALICE, None, "GO", "btc", exact_case=True), "bad_pattern", "never appears"),
        (lambda s: s.pull(ALICE, None, "ab", "doge"), "bad_format", "btc"),
        (lambda s: s.pull(UserRef("test", ""), None, "ab"), "bad_user", "user id"),
        (lambda s: s.balance(UserRef("", "alice")), "bad_user", "platform"),
        (lambda s: s.keys(UserRef("test", "")), "bad_user", "user id"),
        (lambda s: s.history(UserRef("test", "x" * 201)), "bad_user", "at most"),
        (lambda s: s.topup(UserRef("test", "")), "bad_user", "user id"),
        (lambda s: s.order(ALICE, None, "^a", "btc", "04" + "00" * 64), "bad_pubkey", "hex digits"),
        (lambda s: s.order(ALICE, None, "ab", "btc", "02abcd"), "bad_pubkey", "66 hex digits"),
        (lambda s: s.order(ALICE, None, "xyz", "eth"), "bad_pattern", "hex"),
        (lambda s: s.odds("^", "btc"), "bad_pattern", ""),
        (lambda s: s.odds("ab", ""), "bad_format", "one of"),
        (lambda s: s.grant(ALICE, 0), "bad_amount", "whole number"),
        (lambda s: s.grant(ALICE, -5), "bad_amount", "whole number"),
    ],
)
async def test_bad_input_is_a_clear_one_line_error_and_costs_nothing(app: App, call, code: str, words: str) -> None:
    await app.service.grant(ALICE, 3)
    with pytest.raises(ServiceError) as err:
        await call(app.service)
    assert err.value.code == code and words in err.value.message and "\n" not in err.value.message
    assert (await app.service.balance(ALICE)).tokens == 3
    assert (await app.db.fetchone("SELECT COUNT(*) AS n FROM jobs"))["n"] == 0


async def test_help_lists_every_command(app: App) -> None:
    names = [c.name for c in app.service.help().commands]
    assert names == ["pull", "order", "odds", "balance", "topup", "keys", "history", "leaderboard", "help"]
