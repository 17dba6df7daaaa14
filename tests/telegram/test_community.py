"""The community commands on Telegram: /config for group admins only, /gift, /profile, /streak, /season,
/card, and a Rare-and-up reveal posted as a card image with its caption."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

from bot.answers import UserRef
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.harness import running_bot


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


async def test_config_is_for_group_admins_only(fake: FakeBotApi, tmp_path: Path) -> None:
    ann, ben = fake.user(4101, "Ann"), fake.user(4102, "Ben")
    group = fake.group_chat()
    fake.admins[(group["id"], ann["id"])] = "creator"
    async with running_bot(fake, tmp_path):
        await fake.push_text(fake.private_chat(ben), ben, "/start")
        await fake.push_text(group, ben, "/config pulls off")
        refused = await fake.wait_for_message(ben["id"], "⚠️")
        await fake.push_text(group, ann, "/config pulls off")
        changed = await fake.wait_for_message(group["id"], "Settings for this group")
        await fake.push_text(group, ben, "/pull ^a")
        await fake.wait_for(lambda: len([m for m in fake.messages_in(ben["id"]) if "⚠️" in m.text]) == 2)
        await fake.push_text(group, ann, "/config pulls on")
        await fake.wait_for(lambda: len([m for m in fake.messages_in(group["id"]) if "Settings" in m.text]) == 2)
        await fake.push_text(group, ben, "/pull ^a")
        await fake.wait_for_message(group["id"], " pulled ")
    assert "admin" in refused.text.lower()
    assert "pulls" in changed.text
    disabled = [m.text for m in fake.messages_in(ben["id"]) if "⚠️" in m.text][1]
    assert "pulls off" in disabled  # refused because pulls are off here


async def test_an_admins_config_answer_does_not_wait_behind_a_busy_groups_traffic(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    """Before: the answer queued behind the group's 20 a minute and came more than a minute late. Now it goes
    privately (the group gets a pointer in its turn); an admin the bot cannot write to gets it in the group,
    ahead of everything waiting there."""
    from bot.frontends.telegram.outbox import OutboxLimits

    ann, cid, dee = fake.user(4111, "Ann"), fake.user(4112, "Cid"), fake.user(4113, "Dee")
    group = fake.group_chat()
    fake.admins[(group["id"], ann["id"])] = "creator"
    fake.admins[(group["id"], dee["id"])] = "administrator"
    # Telegram's 20 a minute, scaled down: long enough for the queue below to build before the group's next turn
    window_s = 5.0
    fake.group_limit, fake.group_window_s = 1, window_s
    # the leaderboards still queued at the end are kept at the stop, at once (the stop is not what this is about)
    config = {"outbox": OutboxLimits(group_messages=1, group_window_s=window_s), "stop_grace_s": 0.1}
    async with running_bot(fake, tmp_path, config=config):
        await fake.push_text(fake.private_chat(ann), ann, "/start")
        await fake.wait_for_message(ann["id"], "VaniKeys")
        await fake.push_text(group, cid, "/help")  # takes the group's one message for the next window_s
        await fake.wait_for_message(group["id"], "/pull")
        for _ in range(3):
            await fake.push_text(group, cid, "/leaderboard")  # public traffic queued ahead
        await fake.push_text(group, ann, "/config pulls off")
        answer = await fake.wait_for_message(ann["id"], "Settings for this group", timeout=30)
        await fake.push_text(group, dee, "/config")  # never opened a private chat with the bot
        public = await fake.wait_for_message(group["id"], "Settings for this group", timeout=60)
    sent = [r for r in fake.requests if r.method == "sendMessage" and r.error is None]
    answered_at = next(r.at for r in sent if r.params.get("chat_id") == ann["id"] and "Settings" in r.params["text"])
    group_after_help = [r for r in sent if r.params.get("chat_id") == group["id"]][1:]
    assert "pulls" in answer.text
    assert answered_at < group_after_help[0].at, "privately, before the group's next message could go"
    assert "Settings for this group" in group_after_help[0].params["text"], "ahead of the leaderboards queued first"
    assert public.text


async def test_gift_by_reply_moves_tokens_once_and_tells_both_privately(fake: FakeBotApi, tmp_path: Path) -> None:
    cat, dov = fake.user(4201, "Cat"), fake.user(4202, "Dov")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path) as running:
        await running.app.service.grant(UserRef("telegram", str(cat["id"])), 100)
        for person in (cat, dov):
            await fake.push_text(fake.private_chat(person), person, "/start")
        hello = fake.user_message(group, dov, "hi all")
        await fake.push_text(group, cat, "/gift 30", reply_to=hello)
        await fake.wait_for_message(cat["id"], "🎁")
        await fake.wait_for(lambda: len(fake.messages_in(dov["id"])) >= 2)
        await fake.push_text(group, cat, "/gift 30")  # no reply: says how
        usage = await fake.wait_for_message(group["id"], "Reply to the person's message")
        balances = [(await running.app.service.balance(UserRef("telegram", str(p["id"])))).tokens for p in (cat, dov)]
    assert balances == [70, 30]
    assert "/gift TOKENS" in usage.text
    assert not [m for m in fake.messages_in(group["id"]) if "70" in m.text]


async def test_a_gift_to_a_bot_is_refused_and_nothing_moves(fake: FakeBotApi, tmp_path: Path) -> None:
    cat = fake.user(4211, "Cat")
    helper_bot = {**fake.user(4212, "HelperBot"), "is_bot": True}
    group = fake.group_chat()
    async with running_bot(fake, tmp_path) as running:
        await running.app.service.grant(UserRef("telegram", str(cat["id"])), 100)
        await fake.push_text(fake.private_chat(cat), cat, "/start")
        for author in (helper_bot, fake.bot_user):  # another bot, and VaniKeys itself
            posted = fake.user_message(group, author, "beep")
            await fake.push_text(group, cat, "/gift 5", reply_to=posted)
        await fake.wait_for(
            lambda: (
                len(
                    [
                        m
                        for m in fake.messages_in(cat["id"]) + fake.messages_in(group["id"])
                        if "bots cannot receive tokens" in m.text
                    ]
                )
                == 2
            )
        )
        balances = [
            (await running.app.service.balance(UserRef("telegram", str(p["id"])))).tokens
            for p in (cat, helper_bot, fake.bot_user)
        ]
    assert balances == [100, 0, 0]


async def test_profile_streak_season_and_card(fake: FakeBotApi, tmp_path: Path) -> None:
    eva = fake.user(4301, "Eva")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path):
        await fake.push_text(fake.private_chat(eva), eva, "/start")
        await fake.push_text(group, eva, "/pull ^a")
        await fake.wait_for_message(group["id"], " pulled ")
        await fake.push_text(group, eva, "/profile")
        profile = await fake.wait_for_message(eva["id"], "👤")
        await fake.push_text(group, eva, "/streak")
        await fake.wait_for_message(eva["id"], "🔥")
        await fake.push_text(group, eva, "/season")
        season = await fake.wait_for_message(group["id"], "Season")
        await fake.push_text(group, eva, "/card")
        card = await fake.wait_for(lambda: next((m for m in fake.messages_in(group["id"]) if m.photo), None))
        await fake.push_text(group, eva, "/profile share")
        await fake.wait_for_message(group["id"], "👤")
    assert "Eva · 1 pull ·" in profile.text and "Eva" in season.text
    assert png_size(card.photo)[0] >= 400 and "^a" in card.text


async def test_a_rare_reveal_is_a_card_with_its_caption(fake: FakeBotApi, tmp_path: Path) -> None:
    """The service attaches a card to Rare-and-up pulls; the reveal is then a photo replacing the rolling step."""
    fay = fake.user(4401, "Fay")
    group = fake.group_chat()
    async with running_bot(fake, tmp_path, config={"rolling_step_s": 0.05}) as running:
        service = running.app.service
        real_pull = service.pull

        async def pull_with_card(*args, **kwargs):  # type: ignore[no-untyped-def]
            on_reveal = kwargs.pop("on_reveal")

            async def reveal(answer):  # type: ignore[no-untyped-def]
                card = service.render_card(answer.format_id, answer.best.identifier, answer.pattern)
                await on_reveal(dataclasses.replace(answer, card_png=card.png))

            return await real_pull(*args, on_reveal=reveal, **kwargs)

        service.pull = pull_with_card  # type: ignore[method-assign]
        await fake.push_text(fake.private_chat(fay), fay, "/start")
        await fake.push_text(group, fay, "/pull ^a")
        photo = await fake.wait_for(lambda: next((m for m in fake.messages_in(group["id"]) if m.photo), None))
    assert " pulled " in photo.text and photo.button("Pull this too")
    assert png_size(photo.photo) == (800, 320)
    assert [m for m in fake.deleted if "rolling" in m.text]  # the suspense step made way for the card
