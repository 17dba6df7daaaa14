"""End to end: the real Application polling the loopback Bot API, a real Service underneath."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

from tests.telegram.fake_bot_api import FakeBotApi, StoredMessage
from tests.telegram.harness import btc_address_from_wif, running_bot

ADDRESS = re.compile(r"\b1[1-9A-HJ-NP-Za-km-z]{25,34}\b")
WIF = re.compile(r"WIF: (\S+)")


def wifs(messages: list[StoredMessage]) -> list[str]:
    return [wif for m in messages for wif in WIF.findall(m.text)]


async def test_group_pull_posts_publicly_and_delivers_privately(fake: FakeBotApi, tmp_path: Path) -> None:
    alice = fake.user(101, "Alice")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path):
        await fake.push_text(fake.private_chat(alice), alice, "/start")
        await fake.wait_for_message(alice["id"], "VaniKeys")
        await fake.push_text(group, alice, "/pull@VaniKeysTestBot ^a")
        post = await fake.wait_for_message(group["id"], "pulled")
        private = await fake.wait_for(lambda: wifs(fake.messages_in(alice["id"])))
    assert "Alice" in post.text and "^a" in post.text
    assert re.search(r"(Common|Uncommon|Rare|Epic|Legendary|Mythic) · score \d/1", post.text)
    assert "Odds:" in post.text and "private chat" in post.text
    shown = ADDRESS.search(post.text).group(0)
    assert btc_address_from_wif(private[0]) == shown
    assert private[0] not in post.text and all(
        private[0] not in r.params.get("text", "")
        for r in fake.calls("sendMessage")
        if r.params["chat_id"] == group["id"]
    )
    delivery = next(r for r in fake.calls("sendMessage") if private[0] in r.params["text"])
    assert delivery.params["chat_id"] == alice["id"] and delivery.params.get("protect_content") is True
    assert [b["text"] for b in post.buttons()] == [
        "🎰 Pull this too",
        "🔟 10-pull this too",
        "🧾 Order this too",
        "🔑 Get my key",
    ]
    assert {c["command"] for c in fake.commands} >= {
        "pull",
        "order",
        "odds",
        "balance",
        "topup",
        "keys",
        "history",
        "leaderboard",
        "help",
    }


async def test_never_started_user_gets_deep_link_and_start_keys_delivers(fake: FakeBotApi, tmp_path: Path) -> None:
    bob = fake.user(202, "Bob")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path):
        await fake.push_text(group, bob, "/pull ^b")
        post = await fake.wait_for_message(group["id"], "pulled")
        await fake.wait_for(
            lambda: any(
                r.error is not None and r.error.code == 403 and r.params["chat_id"] == bob["id"]
                for r in fake.calls("sendMessage")
            )
        )
        link = f"https://t.me/{fake.bot_username}?start=keys"
        assert post.button("Get my key")["url"] == link
        assert "button fetches it" in post.text
        assert wifs(fake.messages_in(bob["id"])) == []

        await fake.push_text(fake.private_chat(bob), bob, "/start keys")
        delivered = await fake.wait_for(lambda: wifs(fake.messages_in(bob["id"])))
        assert btc_address_from_wif(delivered[0]) == ADDRESS.search(post.text).group(0)

        # delivered once: asking again sends nothing new
        await fake.push_text(fake.private_chat(bob), bob, "/keys")
        await fake.wait_for(lambda: len(fake.messages_in(bob["id"])) >= 3)
        await asyncio.sleep(0.2)
        assert len(wifs(fake.messages_in(bob["id"]))) == 1


async def test_buttons_pull_again_and_ten_pull(fake: FakeBotApi, tmp_path: Path) -> None:
    carol = fake.user(303, "Carol")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path):
        await fake.push_text(fake.private_chat(carol), carol, "/start")
        await fake.push_text(group, carol, "/pull ^c")
        first = await fake.wait_for_message(group["id"], "pulled")
        query = await fake.push_callback(carol, first, first.button("Pull this too")["callback_data"])
        await fake.wait_for(lambda: len([m for m in fake.messages_in(group["id"]) if "pulled" in m.text]) == 2)
        assert fake.callback_answered(query)
        query10 = await fake.push_callback(carol, first, first.button("10-pull")["callback_data"])
        ten = await fake.wait_for_message(group["id"], "Best of 10")
        assert fake.callback_answered(query10)
        await fake.wait_for(lambda: len(wifs(fake.messages_in(carol["id"]))) == 12)
    assert len(ADDRESS.findall(ten.text)) == 11  # the best, then all ten


async def test_expired_button_is_answered_with_what_to_do(fake: FakeBotApi, tmp_path: Path) -> None:
    dave = fake.user(404, "Dave")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path):
        await fake.push_text(group, dave, "/help")
        help_message = await fake.wait_for_message(group["id"], "/pull")
        query = await fake.push_callback(dave, help_message, "k|no-such-ref")
        await fake.wait_for(lambda: fake.callback_answered(query))
    answer = next(r for r in fake.calls("answerCallbackQuery") if r.params["callback_query_id"] == query)
    assert "expired" in answer.params["text"] and answer.params["show_alert"] is True


async def test_hostile_names_and_bad_patterns(fake: FakeBotApi, tmp_path: Path) -> None:
    eve = fake.user(505, "<b>Eve</b> & <i>co")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path):
        await fake.push_text(fake.private_chat(eve), eve, "/start")
        await fake.push_text(group, eve, "/pull ^a")
        post = await fake.wait_for_message(group["id"], "pulled")
        await fake.push_text(group, eve, "/pull ^0OIl")
        error = await fake.wait_for_message(eve["id"], "⚠️")  # about what she typed: to her alone
        pointer = await fake.wait_for_message(group["id"], "⚠️")
        await fake.push_text(group, eve, "/pull")
        usage = await fake.wait_for_message(group["id"], "Say what to look for")
    assert "<b>Eve</b> & <i>co" in post.text  # shown as typed, not as markup: Telegram accepted the HTML
    assert len(error.text.splitlines()) == 1 and "0" in error.text
    assert "0OIl" not in pointer.text and "privately" in pointer.text
    assert "/pull <pattern>" in usage.text
    assert not [r for r in fake.requests if r.error is not None and r.error.code == 400]


async def test_cooldown_between_pulls(fake: FakeBotApi, tmp_path: Path) -> None:
    frank = fake.user(606, "Frank")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path, config={"cooldown_s": 60}):
        await fake.push_text(group, frank, "/pull ^a")
        await fake.wait_for_message(group["id"], "pulled")
        await fake.push_text(group, frank, "/pull ^a")
        slow = await fake.wait_for_message(group["id"], "Slow down")
    assert "s." in slow.text
    assert len([m for m in fake.messages_in(group["id"]) if "pulled" in m.text]) == 1


async def test_order_edits_one_message_and_announces(fake: FakeBotApi, tmp_path: Path) -> None:
    gina = fake.user(707, "Gina")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path, settings={"order_premium": 1, "keys_per_token": 10.0}) as running:
        from bot.answers import UserRef

        await running.app.service.grant(UserRef("telegram", str(gina["id"]), "Gina"), 1000)
        await fake.push_text(fake.private_chat(gina), gina, "/start")
        await fake.push_text(group, gina, "/order ^ab")
        done = await fake.wait_for_message(group["id"], "is done", timeout=30)
        progress = await fake.wait_for_message(group["id"], "Order for")
        private = await fake.wait_for(lambda: wifs(fake.messages_in(gina["id"])))
    edits = [r for r in fake.calls("editMessageText") if r.error is None]
    assert edits and {r.params["message_id"] for r in edits} == {progress.data["message_id"]}
    assert "delivered" in progress.text or "found" in progress.text
    assert btc_address_from_wif(private[0]) == ADDRESS.search(done.text).group(0)
    assert ADDRESS.search(done.text).group(0)[1:3].lower() == "ab"


async def test_private_keys_never_reach_the_logs(fake: FakeBotApi, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    hana = fake.user(808, "Hana")
    async with running_bot(fake, tmp_path):
        await fake.push_text(fake.private_chat(hana), hana, "/pull ^a")
        secret = (await fake.wait_for(lambda: wifs(fake.messages_in(hana["id"]))))[0]
    assert secret not in caplog.text
    assert fake.token not in caplog.text


async def test_reveal_sequence_rolling_then_reveal_then_dm(fake: FakeBotApi, tmp_path: Path) -> None:
    """Typing…, a "rolling…" message stepped without the tier, the reveal (best first), and only then the DM."""
    ivan, mia = fake.user(909, "Ivan"), fake.user(910, "Mia")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path, config={"rolling_step_s": 0.05}):
        await fake.push_text(fake.private_chat(ivan), ivan, "/start")
        await fake.wait_for_message(ivan["id"], "VaniKeys")
        await fake.push_text(group, ivan, "/pull ^a 10")
        reveal = await fake.wait_for_message(group["id"], "Best of 10")
        await fake.wait_for(lambda: wifs(fake.messages_in(ivan["id"])))
        await fake.push_text(group, mia, "/pull ^a 10")  # Mia's buttons and Ivan's are their own
        await fake.wait_for(lambda: len([m for m in fake.messages_in(group["id"]) if "Best of 10" in m.text]) == 2)
    group_calls = [
        (i, r)
        for i, r in enumerate(fake.requests)
        if r.params.get("chat_id") == group["id"] and r.method in ("sendMessage", "editMessageText")
    ]
    rolling = [(i, r) for i, r in group_calls if "rolling" in r.params.get("text", "")]
    assert rolling and rolling[0][1].method == "sendMessage"
    assert not any(tier in r.params["text"] for _, r in rolling for tier in ("Common", "Rare", "Epic", "Mythic"))
    reveal_at = next(i for i, r in group_calls if "Best of 10" in r.params.get("text", ""))
    dm_at = next(
        i
        for i, r in enumerate(fake.requests)
        if r.method == "sendMessage" and r.params.get("chat_id") == ivan["id"] and "WIF" in r.params.get("text", "")
    )
    assert rolling[0][0] < reveal_at < dm_at
    assert any(chat == group["id"] and action == "typing" for chat, action, _ in fake.chat_actions)
    # best first: the listed scores never rise
    scores = [int(s) for s in re.findall(r"(\d)/1\b", reveal.text.split("\n", 3)[-1])]
    assert scores == sorted(scores, reverse=True)


async def test_easy_pattern_offers_buttons_for_the_asker(fake: FakeBotApi, tmp_path: Path) -> None:
    kai, lou = fake.user(911, "Kai"), fake.user(912, "Lou")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path):
        await fake.push_text(fake.private_chat(kai), kai, "/start")
        await fake.push_text(group, kai, "/pull a")  # matches fully in nearly every pull
        warning = await fake.wait_for_message(group["id"], "Nothing was charged")
        foreign = await fake.push_callback(lou, warning, warning.button("Pull anyway")["callback_data"])
        await fake.wait_for(lambda: fake.callback_answered(foreign))
        assert not [m for m in fake.messages_in(group["id"]) if "pulled" in m.text]
        await fake.push_callback(kai, warning, warning.button("Pull anyway")["callback_data"])
        post = await fake.wait_for_message(group["id"], "pulled")
        await fake.push_callback(kai, warning, warning.button("Order instead")["callback_data"])
        await fake.wait_for_message(group["id"], "Order the exact match")
    assert "Kai" in post.text and "full match" in post.text


async def test_private_pull_reveals_in_the_message_that_carries_the_key(fake: FakeBotApi, tmp_path: Path) -> None:
    """In a private chat the reveal heads the key's own message: one message per pull, not two (Telegram's
    30 a second is the ceiling under load), with the reveal's buttons, protected from forwarding."""
    from tests.telegram.fake_bot_api import forbidden_blocked

    kim, lee = fake.user(1201, "Kim"), fake.user(1202, "Lee")
    async with running_bot(fake, tmp_path):
        await fake.push_text(fake.private_chat(kim), kim, "/pull ^a")
        (message,) = await fake.wait_for(lambda: [m for m in fake.messages_in(kim["id"]) if WIF.search(m.text)])
        await fake.push_text(fake.private_chat(kim), kim, "/pull ^a 10")
        await fake.wait_for(lambda: len(wifs(fake.messages_in(kim["id"]))) == 11)
        # a delivery that fails: the reveal still comes, on its own, and says where the key is
        fake.fail_next("sendMessage", forbidden_blocked(), when=lambda params: "WIF" in str(params.get("text")))
        await fake.push_text(fake.private_chat(lee), lee, "/pull ^a")
        alone = await fake.wait_for_message(lee["id"], " pulled ")
    assert " pulled " in message.text and "Odds:" in message.text
    address = ADDRESS.search(message.text).group(0)
    assert btc_address_from_wif(WIF.search(message.text).group(1)) == address
    assert "goes to the puller's private chat" not in message.text
    assert [b["text"] for b in message.buttons()][:2] == ["🎰 Pull this too", "🔟 10-pull this too"]
    sent = next(r for r in fake.calls("sendMessage") if "WIF" in r.params.get("text", ""))
    assert sent.params.get("protect_content") is True
    pulls = [m for m in fake.messages_in(kim["id"]) if " pulled " in m.text]
    assert len(pulls) == 2  # one reveal per pull: the 10-pull's too, alone or with its keys
    assert "WIF" not in alone.text and "🔒" in alone.text  # the key waits in the vault; the reveal says so


async def test_an_orders_result_is_announced_before_its_key_goes_privately(fake: FakeBotApi, tmp_path: Path) -> None:
    """Like a pull (rolling, reveal, DM): the group hears the result first, then the buyer gets the key."""
    jo = fake.user(717, "Jo")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path, settings={"order_premium": 1, "keys_per_token": 10.0}) as running:
        from bot.answers import UserRef

        await running.app.service.grant(UserRef("telegram", str(jo["id"]), "Jo"), 1000)
        await fake.push_text(fake.private_chat(jo), jo, "/start")
        await fake.push_text(group, jo, "/order ^ab")
        await fake.wait_for_message(group["id"], "is done", timeout=30)
        await fake.wait_for(lambda: wifs(fake.messages_in(jo["id"])))
    sends = [(i, r) for i, r in enumerate(fake.requests) if r.method == "sendMessage" and r.error is None]
    announced = next(i for i, r in sends if r.params.get("chat_id") == group["id"] and "is done" in r.params["text"])
    delivered = next(i for i, r in sends if r.params.get("chat_id") == jo["id"] and "WIF" in r.params.get("text", ""))
    assert announced < delivered, "the group's announcement went out before the private key"
    text = next(r.params["text"] for i, r in sends if i == announced)
    assert "goes to the buyer's private chat" in text
