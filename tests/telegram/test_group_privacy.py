"""Several people in one group: buttons belong to their owner, nothing personal is posted in the group,
errors about what someone typed go to them alone, and the platform's rules are kept."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from hypothesis import given, settings, strategies as st

from bot.answers import UserRef
from bot.frontends.command_args import ArgError, parse_odds, parse_order, parse_pull
from bot.frontends.telegram.outbox import OutboxLimits
from gpu_worker.errors import VanikeysError
from tests.telegram.fake_bot_api import FakeBotApi, StoredMessage, too_many_requests
from tests.telegram.harness import running_bot
from tests.telegram.test_stars import buy_small_pack

ALL_STATUSES = ("accepted", "submitted", "running", "found", "delivered", "failed", "refunded")
WIF = re.compile(r"WIF: (\S+)")
# What must never reach a group: balances, what someone paid, spent or got back, debts, keys.
PRIVATE_IN_GROUP = [
    re.compile(p)
    for p in (
        r"(?i)balance\W{0,4}\d",
        r"(?i)\bpaid \d",
        r"(?i)refunded \d",
        r"(?i)\bowe\b",
        r"(?i)free pulls left",
        r"(?i)spent today",
        r"(?i)tokens have arrived",
        r"(?i)\d+ tokens · ",
        r"WIF",
        r"(?i)private key:",
        r"(?i)this costs \d",
        r"\b[5KL][1-9A-HJ-NP-Za-km-z]{50,51}\b",
    )
]


def user_ref(user: dict) -> UserRef:
    return UserRef("telegram", str(user["id"]))


def group_texts(fake: FakeBotApi, group_id: int) -> list[str]:
    """Every text the bot tried to show in the group: each send and each edit, accepted or not."""
    return [
        r.params.get("text", r.params.get("caption", ""))
        for r in fake.requests
        if r.method in ("sendMessage", "editMessageText", "sendPhoto", "editMessageCaption")
        and r.params.get("chat_id") == group_id
    ]


def pulls_in(fake: FakeBotApi, chat_id: int) -> list[StoredMessage]:
    return [m for m in fake.messages_in(chat_id) if "pulled" in m.text]


async def answer_text(fake: FakeBotApi, query: str) -> dict:
    await fake.wait_for(lambda: fake.callback_answered(query))
    return next(r.params for r in fake.calls("answerCallbackQuery") if r.params["callback_query_id"] == query)


async def test_open_buttons_act_for_the_presser_and_personal_ones_only_for_their_owner(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    alice, bob = fake.user(2101, "Alice"), fake.user(2102, "Bob")
    group = fake.group_chat()
    async with running_bot(
        fake, tmp_path, settings={"order_premium": 1, "keys_per_token": 10.0, "free_pulls_per_day": 0}
    ) as running:
        for person in (alice, bob):
            await running.app.service.grant(user_ref(person), 500)
            await fake.push_text(fake.private_chat(person), person, "/start")
        await fake.push_text(group, alice, "/pull ^a")
        post = await fake.wait_for_message(group["id"], "pulled")
        await fake.push_callback(alice, post, post.button("Order this")["callback_data"])
        quote = await fake.wait_for_message(group["id"], "Order the exact match")
        alice_before = (await running.app.service.balance(user_ref(alice))).tokens
        # Alice's quote is hers: Bob's press on its Confirm is refused and spends nothing
        refused = await fake.push_callback(bob, quote, quote.button("Confirm order")["callback_data"])
        refusal = await answer_text(fake, refused)
        assert (
            refusal["show_alert"] is True and "someone else's" in refusal["text"] and "/order ^a btc" in refusal["text"]
        )
        assert not await running.app.jobs.for_user(user_ref(bob), statuses=ALL_STATUSES)
        # the reveal's open button pulls for Bob, with Bob's tokens, never Alice's
        pressed = await fake.push_callback(bob, post, post.button("Pull this too")["callback_data"])
        assert (await answer_text(fake, pressed)).get("show_alert") is not True
        await fake.wait_for(lambda: len(pulls_in(fake, group["id"])) == 2, timeout=30)
        await running.app.jobs.wait_idle()
        assert (await running.app.service.balance(user_ref(bob))).tokens == 500 - running.app.settings.pull_price
        assert (await running.app.service.balance(user_ref(alice))).tokens == alice_before
        assert "Bob" in pulls_in(fake, group["id"])[-1].text
        # "Order this too" quotes for Bob, and that quote's Confirm is Bob's own
        asked = await fake.push_callback(bob, post, post.button("Order this")["callback_data"])
        await answer_text(fake, asked)
        bobs_quote = await fake.wait_for(
            lambda: next(
                (m for m in fake.messages_in(group["id"]) if "Order the exact match" in m.text and "Bob" in m.text),
                None,
            )
        )
        mine = await fake.push_callback(bob, bobs_quote, bobs_quote.button("Confirm order")["callback_data"])
        assert (await answer_text(fake, mine)).get("show_alert") is not True
        await fake.wait_for_message(group["id"], "is done", timeout=30)


async def test_a_whole_session_posts_nothing_personal_in_the_group(fake: FakeBotApi, tmp_path: Path) -> None:
    alice, bob, carol = fake.user(2201, "Alice"), fake.user(2202, "@durov"), fake.user(2203, "Carol")
    group = fake.group_chat()
    wifs: list[str] = []
    fake.group_limit = 200  # a long session: pacing is tested elsewhere
    async with running_bot(
        fake,
        tmp_path,
        settings={"order_premium": 1, "keys_per_token": 10.0, "free_pulls_per_day": 1, "pull_price": 5},
        config={"outbox": OutboxLimits(group_messages=200)},
    ) as running:
        await running.app.service.grant(user_ref(alice), 300)
        await fake.push_text(fake.private_chat(alice), alice, "/start")
        await fake.push_text(fake.private_chat(bob), bob, "/start")
        payload = await buy_small_pack(fake, alice)
        await fake.replay_update(fake.successful_payment_update(alice, 50, payload, "stxSESSION"))
        await fake.wait_for_message(alice["id"], "have arrived")
        for person, command in [
            (alice, "/pull ^a"),
            (alice, "/pull ^b"),
            (bob, "/pull ^c"),
            (alice, "/pull ^d 10"),
            (carol, "/pull ^e"),
            (carol, "/pull ^f"),
            (bob, "/pull ^@durov$"),
            (alice, "/balance"),
            (bob, "/balance"),
            (carol, "/balance"),
            (alice, "/history"),
            (carol, "/history"),
            (alice, "/keys"),
            (carol, "/keys"),
            (alice, "/topup"),
            (bob, "/pull ^g btc ²"),
            (bob, "/order ^1O0"),
            (alice, "/order ^ab"),
        ]:
            before = len(fake.messages_in(group["id"]))
            await fake.push_text(group, person, command)
            await fake.wait_for(lambda before=before: len(fake.messages_in(group["id"])) > before, timeout=30)
        await fake.wait_for_message(group["id"], "is done", timeout=30)
        await running.handlers.outbox.idle()
        for person in (alice, bob, carol):
            wifs += [w for m in fake.messages_in(person["id"]) for w in WIF.findall(m.text)]
        alice_private = "\n".join(m.text for m in fake.messages_in(alice["id"]))
        bob_private = "\n".join(m.text for m in fake.messages_in(bob["id"]))
    texts = group_texts(fake, group["id"])
    assert len(texts) > 20 and wifs
    for text in texts:
        for pattern in PRIVATE_IN_GROUP:
            assert not pattern.search(text), (pattern.pattern, text)
        assert not any(wif in text for wif in wifs)
        assert "durov" not in text.replace("@\u2060durov", "")  # the typed pattern is never echoed
    for message in fake.messages_in(group["id"]):
        assert not [e for e in message.mentions if e["type"] == "mention"], message.text
    # ... and each of them got theirs privately
    assert "Free pulls left" in alice_private and "paid" in alice_private and "📜" in alice_private
    assert "^@durov$" in bob_private or "durov" in bob_private


async def test_refused_pull_does_not_start_the_cooldown(fake: FakeBotApi, tmp_path: Path) -> None:
    dan = fake.user(2301, "Dan")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path, config={"cooldown_s": 60}):
        await fake.push_text(fake.private_chat(dan), dan, "/start")
        await fake.push_text(group, dan, "/pull ^0OIl")
        await fake.wait_for_message(dan["id"], "⚠️")
        await fake.push_text(group, dan, "/pull ^a")
        await fake.wait_for(lambda: pulls_in(fake, group["id"]))
        await fake.push_text(group, dan, "/pull ^a")
        await fake.wait_for_message(dan["id"], "Slow down")  # an accepted pull does start it (told privately)
    assert len(pulls_in(fake, group["id"])) == 1


async def test_start_history_shows_history(fake: FakeBotApi, tmp_path: Path) -> None:
    eli = fake.user(2401, "Eli")
    async with running_bot(fake, tmp_path):
        await fake.push_text(fake.private_chat(eli), eli, "/pull ^a")
        await fake.wait_for_message(eli["id"], "pulled")
        await fake.push_text(fake.private_chat(eli), eli, "/start history")
        history = await fake.wait_for_message(eli["id"], "📜")
    assert "pull" in history.text and "VaniKeys" not in history.text


async def test_stale_commands_are_refused_with_a_note(fake: FakeBotApi, tmp_path: Path) -> None:
    fay = fake.user(2501, "Fay")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path, config={"stale_after_s": 120}) as running:
        await running.app.service.grant(user_ref(fay), 100)
        await fake.push_text(group, fay, "/pull ^a", age_s=3 * 3600)  # queued while the bot was down
        note = await fake.wait_for_message(group["id"], "late")
        assert not pulls_in(fake, group["id"])
        assert not await running.app.jobs.for_user(user_ref(fay), statuses=ALL_STATUSES)
        await fake.push_text(group, fay, "/pull ^a", age_s=5)  # a fresh one runs
        await fake.wait_for(lambda: pulls_in(fake, group["id"]))
    assert "did not run it" in note.text and "180 min" in note.text


async def test_stars_refund_update_takes_tokens_back_once(fake: FakeBotApi, tmp_path: Path) -> None:
    gus = fake.user(2601, "Gus")
    async with running_bot(fake, tmp_path, settings={"free_pulls_per_day": 0, "pull_price": 30}) as running:
        payload = await buy_small_pack(fake, gus)
        await fake.replay_update(fake.successful_payment_update(gus, 50, payload, "stxBACK"))
        await fake.wait_for_message(gus["id"], "have arrived")
        await fake.push_text(fake.private_chat(gus), gus, "/pull ^a")  # spends 30 of the 100
        await fake.wait_for_message(gus["id"], "pulled")
        refund = fake.refunded_payment_update(gus, "stxBACK")
        for _ in range(2):
            await fake.replay_update(refund)
        await asyncio.gather(*(fake.replay_update(refund) for _ in range(4)))
        await fake.wait_for_message(gus["id"], "owe")
        await asyncio.sleep(0.3)
        account = await running.app.service.balance(user_ref(gus))
        assert (account.tokens, account.debt) == (0, 30)
        await fake.push_text(fake.private_chat(gus), gus, "/pull ^a")  # frozen while in debt
        refused = await fake.wait_for_message(gus["id"], "owes")
        notices = [m for m in fake.messages_in(gus["id"]) if "refunded" in m.text]
    assert len(notices) == 1 and "⚠️" in refused.text


async def test_topup_sells_stars_and_offers_a_card_only_when_enabled(fake: FakeBotApi, tmp_path: Path) -> None:
    hal = fake.user(2701, "Hal")
    async with running_bot(fake, tmp_path):
        await fake.push_text(fake.private_chat(hal), hal, "/topup")
        menu = await fake.wait_for_message(hal["id"], "Top up")
    assert "Stars" in menu.text and "card" not in menu.text.lower() and "stripe" not in menu.text.lower()
    assert all("url" not in b for b in menu.buttons())
    async with running_bot(fake, tmp_path, config={"stripe_topup": True}):
        count = len(fake.messages_in(hal["id"]))
        await fake.push_text(fake.private_chat(hal), hal, "/topup")
        enabled = await fake.wait_for(lambda: fake.messages_in(hal["id"])[count:])
    assert "Stars" in enabled[-1].text and "card" in enabled[-1].text.lower()  # the service's card answer shown


async def test_final_order_edit_survives_a_429(fake: FakeBotApi, tmp_path: Path) -> None:
    ida = fake.user(2801, "Ida")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path, settings={"order_premium": 1, "keys_per_token": 10.0}) as running:
        await running.app.service.grant(user_ref(ida), 1000)
        await fake.push_text(fake.private_chat(ida), ida, "/start")
        fake.fail_next(
            "editMessageText", too_many_requests(1), times=2, when=lambda params: "✅" in params.get("text", "")
        )
        await fake.push_text(group, ida, "/order ^ab")
        await fake.wait_for_message(group["id"], "is done", timeout=30)
        placeholder = await fake.wait_for(
            lambda: next((m for m in fake.messages_in(group["id"]) if "✅" in m.text and "Order for" in m.text), None),
            timeout=15,
        )
    final_edits = [r for r in fake.calls("editMessageText") if "✅" in r.params.get("text", "")]
    assert [r.error.code if r.error else 200 for r in final_edits] == [429, 429, 200]
    assert "Placing" not in placeholder.text


async def test_an_order_whose_every_edit_is_refused_is_still_announced_promptly_and_never_stays_placing(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    gina = fake.user(2802, "Gina")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path, settings={"order_premium": 1, "keys_per_token": 10.0}) as running:
        await running.app.service.grant(user_ref(gina), 1000)
        await fake.push_text(fake.private_chat(gina), gina, "/start")
        fake.fail_next("editMessageText", too_many_requests(1), times=10_000)  # every edit, however long
        started = asyncio.get_running_loop().time()
        await fake.push_text(group, gina, "/order ^ab")
        await fake.wait_for_message(group["id"], "is done", timeout=30)
        announced_after = asyncio.get_running_loop().time() - started
        await fake.wait_for(lambda: not [m for m in fake.messages_in(group["id"]) if "Placing" in m.text], timeout=60)
    assert announced_after < 15, f"the result waited {announced_after:.0f} s behind refused edits"


async def test_commands_are_published_per_scope(fake: FakeBotApi, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        await fake.wait_for(lambda: "all_group_chats" in fake.scoped_commands)
    private = {c["command"] for c in fake.scoped_commands["all_private_chats"]}
    group = {c["command"] for c in fake.scoped_commands["all_group_chats"]}
    assert {"balance", "history", "keys", "topup"} <= private
    assert "pull" in group and not group & {"balance", "history", "keys", "topup", "refundstars"}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=12),
            st.integers(-(10**30), 10**30).map(str),
            st.sampled_from(["²", "٣", "1e309", "10", "btc", "--exact", "--fuzzy", "02" + "ab" * 32]),
        ),
        max_size=6,
    )
)
def test_argument_parsers_answer_cleanly_whatever_is_typed(words: list[str]) -> None:
    for parse in (parse_pull, parse_order, parse_odds):
        try:
            parsed = parse(words)
        except (ArgError, VanikeysError) as err:
            assert str(err) and "\n" not in str(err)
            continue
        assert parsed.pattern and parsed.count in (1, 10)


async def test_hostile_numbers_get_a_private_one_liner(fake: FakeBotApi, tmp_path: Path) -> None:
    jo = fake.user(2901, "Jo")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path):
        await fake.push_text(fake.private_chat(jo), jo, "/start")
        await fake.wait_for_message(jo["id"], "VaniKeys")
        for text in ("/pull ab btc ²", "/pull ab btc ٣", "/pull ab btc " + "9" * 400):
            before = len(fake.messages_in(jo["id"]))
            await fake.push_text(group, jo, text)
            got = await fake.wait_for(lambda before=before: fake.messages_in(jo["id"])[before:])
            assert "number" in got[-1].text and len(got[-1].text.splitlines()) == 1
    assert not pulls_in(fake, group["id"])


async def test_a_press_telegram_gave_up_on_does_nothing(fake: FakeBotApi, tmp_path: Path) -> None:
    """A button press that waited past Telegram's deadline (the bot was down) is not acted on late."""
    kit = fake.user(3001, "Kit")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path) as running:
        await running.app.service.grant(user_ref(kit), 100)
        await fake.push_text(group, kit, "/help")
        anchor = await fake.wait_for_message(group["id"], "/pull")
        fake.callback_deadline_s = 0.0  # every answer now comes too late for Telegram
        query = await fake.push_callback(kit, anchor, f"p|{kit['id']}|btc|i|^ab")
        await fake.wait_for(
            lambda: any(r.params.get("callback_query_id") == query for r in fake.calls("answerCallbackQuery"))
        )
        await asyncio.sleep(0.3)
        assert not await running.app.jobs.for_user(user_ref(kit), statuses=ALL_STATUSES)
        assert (await running.app.service.balance(user_ref(kit))).tokens == 100
    assert not pulls_in(fake, group["id"])


async def test_a_refused_order_in_a_group_leaves_one_public_message(fake: FakeBotApi, tmp_path: Path) -> None:
    poor = fake.user(5201, "Poor")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path):
        await fake.push_text(fake.private_chat(poor), poor, "/start")
        await fake.push_text(group, poor, "/order ^abc")  # no tokens: refused
        await fake.wait_for_message(poor["id"], "⚠️")
        await fake.wait_for_message(group["id"], "told you why privately")
        await asyncio.sleep(0.3)
    shown = [m.text for m in fake.messages_in(group["id"])]  # a deleted message is gone from the chat
    assert len(shown) == 1 and "told you why privately" in shown[0], shown
