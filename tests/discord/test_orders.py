"""End to end: /order edits one message in place with its progress and announces completion where it was placed."""

from __future__ import annotations

from bot.answers import UserRef
from bot.frontends.discord.views import encode_owner
from gpu_worker.formats import FORMATS, identifier_from_secret
from gpu_worker.patterns import is_full, parse_pattern
from tests.discord.conftest import Harness
from tests.discord.fake_discord import DEFERRED_CHANNEL_MESSAGE, EPHEMERAL, FakeDiscord, FakeUser
from tests.discord.test_pulls import ADDRESS_IN_CODE, WIF_IN_DM, assert_secret_only_in_dm, wif_secret


def announcements(fake: FakeDiscord, user: FakeUser) -> list[dict]:
    return [m for m in fake.public_messages() if m["content"].startswith("🎉") and f"<@{user.id}>" in m["content"]]


async def grant(harness: Harness, user: FakeUser, tokens: int) -> None:
    await harness.app.service.grant(UserRef("discord", str(user.id), user.global_name or ""), tokens)


async def test_an_order_edits_its_message_with_progress_and_announces_completion(harness: Harness) -> None:
    fake = harness.fake
    ivy = fake.add_user("ivy")
    await grant(harness, ivy, 1000)

    interaction = await fake.slash(ivy, "order", {"pattern": "^abc"})
    done = await fake.wait_for(lambda: announcements(fake, ivy), timeout=60)

    assert interaction.acked_with == DEFERRED_CHANNEL_MESSAGE and interaction.ack_delay_s < 3.0
    progress = fake.messages[interaction.original_id]
    assert not progress["flags"] & EPHEMERAL
    # one message, edited in place: the acceptance, progress, then the found key
    titles = [h["embeds"][0]["title"] for h in progress["history"] if h["embeds"]]
    assert titles[0] == "Order placed: ^abc" or titles[0].startswith("Order grinding"), titles
    assert any(t.startswith("Order grinding") for t in titles), titles
    assert titles[-1].startswith("Order complete"), titles
    assert any("Progress" in [f["name"] for f in h["embeds"][0]["fields"]] for h in progress["history"] if h["embeds"])
    edits_via_channel = fake.requests_to("PATCH", f"/channels/{fake.channel_id}/messages/{interaction.original_id}")
    assert edits_via_channel, "progress and completion edit the message through the channel endpoint"
    final = progress["embeds"][0]
    found_field = next(f for f in final["fields"] if f["name"] == "Found")
    address = ADDRESS_IN_CODE.search(found_field["value"]).group(1)
    assert is_full(parse_pattern("btc", "^abc"), FORMATS["btc"].body(address))

    # the announcement replies to the order's message in the same channel, mentioning the buyer
    assert done[0]["channel_id"] == str(fake.channel_id)
    notice = next(
        r
        for r in fake.requests_to("POST", f"/channels/{fake.channel_id}/messages")
        if r.body.get("content", "").startswith("🎉")
    )
    assert str(notice.body["message_reference"]["message_id"]) == str(interaction.original_id)

    # the key went by DM and is the key of the address shown
    wif = WIF_IN_DM.findall(" ".join(m["content"] for m in await fake.wait_for(lambda: fake.dms_to(ivy.id))))[0]
    assert identifier_from_secret(FORMATS["btc"], wif_secret(wif)) == address
    assert_secret_only_in_dm(fake, ivy, wif)


async def test_an_order_without_tokens_is_refused_privately(harness: Harness) -> None:
    fake = harness.fake
    jay = fake.add_user("jay")
    interaction = await fake.slash(jay, "order", {"pattern": "^abc"})
    notes = await fake.wait_for(lambda: fake.ephemeral_messages(jay.id))
    assert "token" in notes[0]["content"].lower()
    assert fake.messages[interaction.original_id].get("deleted")
    assert not fake.public_messages()


async def test_order_button_quotes_privately_then_confirm_places_the_order(harness: Harness) -> None:
    fake = harness.fake
    kim = fake.add_user("kim")
    await grant(harness, kim, 1000)
    await fake.slash(kim, "pull", {"pattern": "^abc"})
    reveal = await fake.wait_for(lambda: [m for m in fake.public_messages() if m["embeds"]])

    quote = await fake.press(kim, int(reveal[0]["id"]), "vk:quote:btc:-:^abc")
    offer = await fake.wait_for(lambda: [m for m in fake.messages_of(quote) if m["content"]])
    assert offer[0]["flags"] & EPHEMERAL and "tokens" in offer[0]["content"]
    confirm_id = offer[0]["components"][0]["components"][0]["custom_id"]
    assert confirm_id == f"vk:order:{encode_owner(kim.id)}:btc:-:^abc", "the confirmation belongs to kim"
    balance_before = (await harness.app.service.balance(UserRef("discord", str(kim.id)))).tokens

    confirm = await fake.press(kim, int(offer[0]["id"]), confirm_id)
    await fake.wait_for(lambda: announcements(fake, kim), timeout=60)
    assert not fake.messages[confirm.original_id]["flags"] & EPHEMERAL, "the order's progress is public"
    balance_after = (await harness.app.service.balance(UserRef("discord", str(kim.id)))).tokens
    assert balance_after < balance_before


async def test_an_order_placed_before_a_restart_is_finished_in_its_message_after_it(
    fake: FakeDiscord, tmp_path
) -> None:
    """The Origin stored with the order is all a new process needs to keep editing the same message."""
    from bot.app import create_app
    from tests.discord.conftest import discord_settings, quiet_config, start_bot, stop_bot

    settings = discord_settings(tmp_path, job_lease_s=1.0)
    async with create_app(settings) as app:
        bot, task = await start_bot(fake, app, quiet_config())
        try:
            rex = fake.add_user("rex")
            await app.service.grant(UserRef("discord", str(rex.id), "Rex"), 1000)
            interaction = await fake.slash(rex, "order", {"pattern": "^abc"})
            await fake.wait_for(lambda: interaction.original_id and fake.messages[interaction.original_id].get("edits"))
        finally:
            await stop_bot(bot, task)
    assert not announcements(fake, rex), "the order was still running when the first process stopped"
    requests_before_restart = len(fake.requests)

    async with create_app(settings) as app:
        bot, task = await start_bot(fake, app, quiet_config())
        try:
            await fake.wait_for(lambda: announcements(fake, rex), timeout=60)
            await fake.wait_for(lambda: fake.dms_to(rex.id), timeout=30)  # the DM follows the announcement
        finally:
            await stop_bot(bot, task)
    message = fake.messages[interaction.original_id]
    assert message["embeds"][0]["title"].startswith("Order complete")
    assert len(announcements(fake, rex)) == 1, "announced once, by whichever process finished it"
    wifs = WIF_IN_DM.findall(" ".join(m["content"] for m in fake.dms_to(rex.id)))
    assert len(wifs) == 1, "delivered exactly once across the restart"
    edits_after_restart = [
        r
        for r in fake.requests[requests_before_restart:]
        if r.method == "PATCH" and r.path == f"/channels/{fake.channel_id}/messages/{interaction.original_id}"
    ]
    assert edits_after_restart, "the second process edited the original message"


async def test_an_orders_result_is_announced_in_the_channel_before_its_key_is_dmd(harness: Harness) -> None:
    """Like a pull (rolling, reveal, DM): the public result first, then the private message."""
    fake = harness.fake
    una = fake.add_user("una")
    await grant(harness, una, 1000)
    await fake.slash(una, "order", {"pattern": "^abc"})
    await fake.wait_for(lambda: announcements(fake, una), timeout=60)
    await fake.wait_for(lambda: fake.dms_to(una.id), timeout=30)
    posts = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/messages")]
    announced = next(
        i
        for i, r in enumerate(posts)
        if r.path == f"/channels/{fake.channel_id}/messages" and r.body.get("content", "").startswith("🎉")
    )
    dm = next(i for i, r in enumerate(posts) if r.path == f"/channels/{fake.dm_channels[una.id]}/messages")
    assert announced < dm, "the announcement went out before the DM"
    assert "on its way by DM" in posts[announced].body["content"]
