"""End to end, a guild of several people: the reveal sequence, cards, easy patterns, /config, /gift, profiles."""

from __future__ import annotations

import asyncio
import functools
import io

import pytest
from PIL import Image

from bot.answers import UserRef
from bot.frontends.discord.reveal import CARD_FILENAME
from tests.discord.conftest import Harness
from tests.discord.fake_discord import ALL_PERMISSIONS, CHANNEL, EPHEMERAL, MANAGE_GUILD, FakeDiscord, FakeUser
from tests.discord.test_orders import grant
from tests.discord.test_pulls import reveal_of, secrets_in_dms

RARE_AND_UP = {"Rare", "Epic", "Legendary", "Mythic"}


def ref(user: FakeUser) -> UserRef:
    return UserRef("discord", str(user.id), user.global_name or "")


def private_to(fake: FakeDiscord, user: FakeUser, text: str) -> list[dict]:
    return [m for m in fake.ephemeral_messages(user.id) if text in m["content"] or text in str(m["embeds"])]


async def test_a_shared_pull_rolls_then_reveals_then_sends_the_key(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = harness.fake
    gate = asyncio.Event()
    real_pull = harness.app.service.pull

    @functools.wraps(real_pull)
    async def slow_pull(*args: object, **kwargs: object) -> object:  # a grind that takes a moment
        await gate.wait()
        return await real_pull(*args, **kwargs)

    monkeypatch.setattr(harness.app.service, "pull", slow_pull)
    uma = fake.add_user("uma")
    interaction = await fake.slash(uma, "pull", {"pattern": "^abc", "count": 10})
    await fake.wait_for(
        lambda: (
            (m := fake.messages.get(interaction.original_id or 0))
            and len([h for h in m.get("history", []) if h["embeds"]]) >= 2
        ),
        timeout=10,
    )
    gate.set()
    await fake.wait_for(lambda: reveal_of(fake, uma) and len(secrets_in_dms(fake, uma)) == 10, timeout=30)

    dm_channel = str(fake.dm_channels[uma.id])
    events = []
    for request in fake.requests:
        body = request.body if isinstance(request.body, dict) else {}
        title = ((body.get("embeds") or [{}])[0]).get("title", "")
        if (request.method == "PATCH" and str(interaction.original_id) in request.path + request.text()) or (
            request.method == "PATCH" and "@original" in request.path and title
        ):
            events.append("roll" if "Rolling" in title else "reveal")
        elif request.method == "POST" and request.path == f"/channels/{dm_channel}/messages":
            events.append("dm")
    first_reveal, first_dm = events.index("reveal"), events.index("dm")
    assert events[0] == "roll" and events.count("roll") >= 2, events
    assert first_reveal < first_dm, "the DM comes after the public reveal"
    history = fake.messages[interaction.original_id]["history"]
    rolls = [h for h in history if h["embeds"] and "Rolling" in h["embeds"][0]["title"]]
    assert {h["embeds"][0]["color"] for h in rolls} == {0x5865F2}, "the tier colour stays hidden while rolling"

    reveal = reveal_of(fake, uma)[0]["embeds"][0]
    listed = [line for f in reveal["fields"] if f["name"].startswith("All 10 pulls") for line in f["value"].split("\n")]
    scores = [int(line.split("`")[1].split("/")[0]) for line in listed]
    assert len(listed) == 10 and scores[0] == max(scores), "best first, the headline"
    assert reveal["title"].split()[1] == _tier_of(listed[0])


def _tier_of(line: str) -> str:
    emoji = line.split()[0]
    from bot.frontends.discord.rendering import TIER_EMOJI

    return next(tier for tier, e in TIER_EMOJI.items() if e == emoji)


async def test_a_rare_or_better_reveal_carries_its_card_as_the_embed_image(harness: Harness) -> None:
    fake = harness.fake
    vic = fake.add_user("vic")
    await grant(harness, vic, 5000)
    for _ in range(40):  # with 120 keys a pull, a 10-pull's best of ^ab (exact case) is Rare+ 59% of the time
        before = len(reveal_of(fake, vic))
        await fake.slash(vic, "pull", {"pattern": "^ab", "exact_case": True, "count": 10})
        reveals = await fake.wait_for(
            lambda before=before: len(reveal_of(fake, vic)) > before and reveal_of(fake, vic), timeout=30
        )
        embed = reveals[-1]["embeds"][0]
        if embed["title"].split()[1] in RARE_AND_UP:
            break
        assert "image" not in embed and not reveals[-1]["attachments"], "no card below Rare"
    else:
        pytest.fail("no Rare pull in forty 10-pulls")
    assert embed["image"]["url"] == f"attachment://{CARD_FILENAME}"
    assert reveals[-1]["attachments"][0]["filename"] == CARD_FILENAME
    card = next(data for name, data in reversed(fake.uploads) if name == CARD_FILENAME)
    assert Image.open(io.BytesIO(card)).size == (800, 320)


async def test_an_easy_pattern_is_offered_privately_with_buttons_only_the_asker_can_use(harness: Harness) -> None:
    fake = harness.fake
    wes, xia = fake.add_user("wes"), fake.add_user("xia")
    await grant(harness, wes, 1000)
    asked = await fake.slash(wes, "pull", {"pattern": "a"})
    offer = (await fake.wait_for(lambda: [m for m in fake.ephemeral_messages(wes.id) if m["components"]]))[0]
    assert "order" in offer["content"].lower()
    assert fake.messages[asked.original_id].get("deleted") and not fake.public_messages()
    buttons = {c["label"]: c["custom_id"] for row in offer["components"] for c in row["components"]}
    assert set(buttons) == {"Pull anyway", "Order instead"}
    free_before = (await harness.app.service.balance(ref(wes))).free_pulls_left
    assert free_before == harness.app.settings.free_pulls_per_day, "warned before anything was charged"

    foreign = await fake.press(xia, int(offer["id"]), buttons["Pull anyway"])
    note = (await fake.wait_for(lambda: fake.messages_of(foreign)))[0]
    assert note["flags"] & EPHEMERAL and "belongs to" in note["content"] and not reveal_of(fake, xia)

    await fake.press(wes, int(offer["id"]), buttons["Pull anyway"])
    reveal = (await fake.wait_for(lambda: reveal_of(fake, wes)))[0]
    assert "✨ full match" in reveal["embeds"][0]["title"]
    quote = await fake.press(wes, int(offer["id"]), buttons["Order instead"])
    priced = (await fake.wait_for(lambda: [m for m in fake.messages_of(quote) if m["content"]]))[0]
    assert priced["flags"] & EPHEMERAL and "tokens" in priced["content"]


async def test_config_is_for_server_managers_and_steers_pulls(harness: Harness) -> None:
    fake = harness.fake
    boss = fake.add_user("boss", permissions=ALL_PERMISSIONS | MANAGE_GUILD)
    yan = fake.add_user("yan")

    refused = await fake.slash(yan, "config", {"setting": "pulls", "value": "off"})
    note = (await fake.wait_for(lambda: [m for m in fake.messages_of(refused) if m["content"]]))[0]
    assert refused.acked_with == 5 and note["flags"] & EPHEMERAL and "admin" in note["content"].lower()
    shown = await fake.slash(boss, "config")
    settings = (await fake.wait_for(lambda: [m for m in fake.messages_of(shown) if m["embeds"]]))[0]
    assert settings["flags"] & EPHEMERAL and "pulls" in str(settings["embeds"][0]).lower()

    await fake.slash(boss, "config", {"setting": "pull_channel", "value": "424242"})
    await fake.wait_for(lambda: len([m for m in fake.ephemeral_messages(boss.id) if m["embeds"]]) == 2)
    misplaced = await fake.slash(yan, "pull", {"pattern": "^abc"})
    pointer = await fake.wait_for(lambda: private_to(fake, yan, "<#424242>"))
    assert "not charged" in pointer[0]["content"] and fake.messages[misplaced.original_id].get("deleted")

    await fake.slash(boss, "config", {"setting": "pull_channel", "channel": CHANNEL})
    await fake.wait_for(lambda: len([m for m in fake.ephemeral_messages(boss.id) if m["embeds"]]) == 3)
    await fake.slash(yan, "pull", {"pattern": "^abc"})
    await fake.wait_for(lambda: reveal_of(fake, yan))
    assert not [m for m in fake.public_messages() if "424242" in str(m)], "settings never shown in public"


async def test_gifts_move_tokens_once_and_bad_amounts_get_one_clean_line(harness: Harness) -> None:
    fake = harness.fake
    zed, amy = fake.add_user("zed"), fake.add_user("amy")
    await grant(harness, zed, 100)

    await fake.slash(zed, "gift", {"user": amy, "tokens": "25"})
    receipt = await fake.wait_for(lambda: [m for m in fake.ephemeral_messages(zed.id) if m["content"]])
    assert "25" in receipt[0]["content"]
    told = await fake.wait_for(lambda: fake.dms_to(amy.id))
    assert "25" in told[0]["content"]
    assert (await harness.app.service.balance(ref(zed))).tokens == 75
    assert (await harness.app.service.balance(ref(amy))).tokens == 25

    for bad in ("²5", "٣", "1e309", "9" * 400, "-3"):
        interaction = await fake.slash(zed, "gift", {"user": amy, "tokens": bad})
        note = (
            await fake.wait_for(
                lambda interaction=interaction: [m for m in fake.messages_of(interaction) if m["content"]]
            )
        )[0]
        assert note["flags"] & EPHEMERAL and note["content"].startswith("⚠️") and "\n" not in note["content"]
    await fake.slash(zed, "gift", {"user": zed, "tokens": "5"})
    await fake.wait_for(lambda: len([m for m in fake.ephemeral_messages(zed.id) if m["content"].startswith("⚠️")]) == 6)
    assert (await harness.app.service.balance(ref(zed))).tokens == 75
    assert not fake.public_messages(), "gifts are between the two people"


async def test_profile_streak_season_and_card(harness: Harness) -> None:
    fake = harness.fake
    bea = fake.add_user("bea")
    await fake.slash(bea, "pull", {"pattern": "^abc"})
    await fake.wait_for(lambda: reveal_of(fake, bea))

    private = await fake.slash(bea, "profile")
    profile = (await fake.wait_for(lambda: [m for m in fake.messages_of(private) if m["embeds"]]))[0]
    assert profile["flags"] & EPHEMERAL and "Bea's profile" in profile["embeds"][0]["title"]
    shared = await fake.slash(bea, "profile", {"share": True})
    public = (await fake.wait_for(lambda: [m for m in fake.messages_of(shared) if m["embeds"]]))[0]
    assert not public["flags"] & EPHEMERAL, "shown because she chose to"
    streak = await fake.slash(bea, "streak")
    streak_note = (await fake.wait_for(lambda: [m for m in fake.messages_of(streak) if m["content"]]))[0]
    assert streak_note["flags"] & EPHEMERAL and "streak" in streak_note["content"].lower()
    season = await fake.slash(bea, "season")
    board = (await fake.wait_for(lambda: [m for m in fake.messages_of(season) if m["embeds"]]))[0]
    assert "Bea" in board["embeds"][0]["description"]
    card = await fake.slash(bea, "card")
    shown = (await fake.wait_for(lambda: [m for m in fake.messages_of(card) if m["embeds"]]))[0]
    name = shown["attachments"][0]["filename"]
    assert shown["embeds"][0]["image"]["url"] == f"attachment://{name}"
    png = next(data for upload, data in reversed(fake.uploads) if upload == name)
    assert Image.open(io.BytesIO(png)).size == (800, 320)


async def test_an_epic_reveal_is_also_posted_to_the_announcement_channel(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service decides (Epic and up, a channel set); the front end posts the same reveal there, no buttons."""
    import dataclasses

    fake = harness.fake
    real_pull = harness.app.service.pull

    @functools.wraps(real_pull)
    async def announcing_pull(*args: object, on_reveal: object = None, **kwargs: object) -> object:
        async def reveal(answer: object) -> None:
            await on_reveal(dataclasses.replace(answer, announce_channel=str(fake.channel_id)))  # type: ignore

        return await real_pull(*args, on_reveal=reveal, **kwargs)

    monkeypatch.setattr(harness.app.service, "pull", announcing_pull)
    cy = fake.add_user("cy")
    interaction = await fake.slash(cy, "pull", {"pattern": "^abc"})
    both = await fake.wait_for(lambda: len(reveal_of(fake, cy)) == 2 and reveal_of(fake, cy))
    announcement = next(m for m in both if m["id"] != str(interaction.original_id))
    assert announcement["embeds"][0]["title"] == both[0]["embeds"][0]["title"]
    assert not announcement["components"], "the buttons stay under the reveal itself"


async def test_an_order_where_the_bot_cannot_post_is_answered_privately(harness: Harness) -> None:
    from tests.discord.fake_discord import SEND_MESSAGES

    fake = harness.fake
    fake.bot_permissions = ALL_PERMISSIONS & ~SEND_MESSAGES
    dee = fake.add_user("dee")
    await grant(harness, dee, 1000)
    await fake.slash(dee, "order", {"pattern": "^abc"})
    receipt = (await fake.wait_for(lambda: [m for m in fake.ephemeral_messages(dee.id) if m["embeds"]]))[0]
    assert "Paid" in receipt["content"] and "Send Messages" in receipt["content"]
    await fake.wait_for(lambda: secrets_in_dms(fake, dee), timeout=60)
    assert not fake.public_messages() and not [r for r in fake.requests if r.status == 403]


async def test_a_gift_to_a_bot_account_is_refused_and_nothing_moves(harness: Harness) -> None:
    fake = harness.fake
    zed, robo = fake.add_user("zed"), fake.add_user("robo")
    robo.bot = True
    await grant(harness, zed, 100)
    interaction = await fake.slash(zed, "gift", {"user": robo, "tokens": "5"})
    note = (await fake.wait_for(lambda: [m for m in fake.messages_of(interaction) if m["content"]]))[0]
    assert note["flags"] & EPHEMERAL and "bots cannot receive tokens" in note["content"]
    assert (await harness.app.service.balance(ref(zed))).tokens == 100
    assert (await harness.app.service.balance(ref(robo))).tokens == 0
    assert not fake.dms_to(robo.id)
