"""End to end: /pull and its buttons through the real discord.py client, a real Service and the fake Discord."""

from __future__ import annotations

import re

import base58

from bot.answers import UserRef
from bot.frontends.discord.rendering import TIER_COLOURS
from gpu_worker.formats import FORMATS, identifier_from_secret
from tests.discord.conftest import Harness
from tests.discord.fake_discord import DEFERRED_CHANNEL_MESSAGE, EPHEMERAL, FakeDiscord, FakeUser

WIF_IN_DM = re.compile(r"WIF: \|\|`([1-9A-HJ-NP-Za-km-z]{51,52})`\|\|")
ADDRESS_IN_CODE = re.compile(r"```\n(1[1-9A-HJ-NP-Za-km-z]{25,34})\n")


def reveal_of(fake: FakeDiscord, user: FakeUser) -> list[dict]:
    """Public reveals in the guild channel that name this user."""
    return [
        m
        for m in fake.public_messages()
        if m["embeds"] and user.global_name in m["embeds"][0].get("author", {}).get("name", "")
    ]


def secrets_in_dms(fake: FakeDiscord, user: FakeUser) -> list[str]:
    return [wif for m in fake.dms_to(user.id) for wif in WIF_IN_DM.findall(m["content"])]


def wif_secret(wif: str) -> int:
    raw = base58.b58decode_check(wif)
    assert raw[0] == 0x80 and len(raw) == 34 and raw[-1] == 0x01, "a compressed mainnet WIF"
    return int.from_bytes(raw[1:33], "big")


def assert_secret_only_in_dm(fake: FakeDiscord, user: FakeUser, secret_text: str) -> None:
    dm_channel = fake.dm_channels[user.id]
    for request in fake.requests:
        if request.path == f"/channels/{dm_channel}/messages":
            continue
        assert secret_text not in request.text(), f"secret leaked in {request.method} {request.path}"
    for message in fake.messages.values():
        if message["channel_id"] != str(dm_channel):
            assert secret_text not in str(message), "secret shown outside the DM"


async def test_pull_in_a_guild_channel_reveals_publicly_and_dms_the_key(harness: Harness) -> None:
    fake = harness.fake
    alice = fake.add_user("alice")

    interaction = await fake.slash(alice, "pull", {"pattern": "^ab"})
    reveal = await fake.wait_for(lambda: reveal_of(fake, alice))
    dms = await fake.wait_for(lambda: fake.dms_to(alice.id))

    # acknowledged at once with a public "thinking" response, then the reveal replaced it
    assert interaction.acked_with == DEFERRED_CHANNEL_MESSAGE and interaction.ack_delay_s < 3.0
    callback = fake.requests_to("POST", f"/interactions/{interaction.id}/")[0]
    assert not (callback.body.get("data") or {}).get("flags", 0) & EPHEMERAL
    assert reveal[0]["id"] == str(interaction.original_id)
    embed = reveal[0]["embeds"][0]
    assert "Alice pulled ^ab" in embed["author"]["name"]
    shown_address = ADDRESS_IN_CODE.search(embed["description"]).group(1)
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    # 120 keys find at least the 'a' of ^ab all but ~0.5% of the time; a best of 0/2 has nothing to highlight
    highlighted = "__**" in embed["description"]
    assert highlighted == (fields["Score"] != "0/2"), "the matched part, and only a match, is highlighted"
    assert re.fullmatch(r"\d/2", fields["Score"]) and "per pull" in fields["Full match odds"]
    assert fields["Rarity"] == "every pull" or re.fullmatch(r"1 in [\d.]+[KMBTQ]? pulls", fields["Rarity"])
    tier = embed["title"].split()[1]
    assert embed["color"] == TIER_COLOURS[tier]
    buttons = [c["custom_id"] for row in reveal[0]["components"] for c in row["components"]]
    assert buttons == ["vk:pull:1:btc:-:^ab", "vk:pull:10:btc:-:^ab", "vk:quote:btc:-:^ab"]

    # the DM channel was opened for alice and the key sent there, and it really is the shown address's key
    opened = fake.requests_to("POST", "/users/@me/channels")
    assert [str(r.body["recipient_id"]) for r in opened] == [str(alice.id)]
    wifs = secrets_in_dms(fake, alice)
    assert len(wifs) == 1
    assert identifier_from_secret(FORMATS["btc"], wif_secret(wifs[0])) == shown_address
    assert_secret_only_in_dm(fake, alice, wifs[0])
    assert not fake.ephemeral_messages(alice.id), "no closed-DM note when the DM went through"
    assert len(dms) == 1


async def test_closed_dms_get_an_ephemeral_explanation_and_keys_wait_for_slash_keys(harness: Harness) -> None:
    fake = harness.fake
    bob = fake.add_user("bob", dms_closed=True)

    await fake.slash(bob, "pull", {"pattern": "^ab"})
    reveal = await fake.wait_for(lambda: reveal_of(fake, bob))
    notes = await fake.wait_for(lambda: fake.ephemeral_messages(bob.id))
    assert "Direct Messages" in notes[0]["content"] and notes[0]["content"].count("/keys") == 1
    assert len(fake.ephemeral_messages(bob.id)) == 1, "the closed-DMs notice comes once"
    refused = [r for r in fake.requests if r.path.endswith("/messages") and r.status == 403]
    assert refused, "the DM was attempted and refused with 50007"
    assert not secrets_in_dms(fake, bob)
    assert "/keys" in reveal[0]["embeds"][0]["footer"]["text"]
    shown_address = ADDRESS_IN_CODE.search(reveal[0]["embeds"][0]["description"]).group(1)

    # bob opens his DMs and asks again: the key comes out of the vault
    fake.closed_dms.discard(bob.id)
    keys = await fake.slash(bob, "keys")
    answer = await fake.wait_for(lambda: [m for m in fake.messages_of(keys) if m["content"]])
    assert answer[0]["flags"] & EPHEMERAL and "1 sent" in answer[0]["content"]
    wifs = await fake.wait_for(lambda: secrets_in_dms(fake, bob))
    assert identifier_from_secret(FORMATS["btc"], wif_secret(wifs[0])) == shown_address
    assert_secret_only_in_dm(fake, bob, wifs[0])

    # delivered once: asking again finds nothing waiting
    again = await fake.slash(bob, "keys")
    answer = await fake.wait_for(lambda: [m for m in fake.messages_of(again) if m["content"]])
    assert "no undelivered keys" in answer[0]["content"]
    assert len(secrets_in_dms(fake, bob)) == 1


async def test_buttons_pull_again_and_ten_pull_for_whoever_presses(harness: Harness) -> None:
    fake = harness.fake
    alice, carol = fake.add_user("alice"), fake.add_user("carol")
    await fake.slash(alice, "pull", {"pattern": "^ab"})
    reveal = (await fake.wait_for(lambda: reveal_of(fake, alice)))[0]

    press = await fake.press(carol, int(reveal["id"]), "vk:pull:1:btc:-:^ab")
    carols = await fake.wait_for(lambda: reveal_of(fake, carol))
    assert press.acked_with == DEFERRED_CHANNEL_MESSAGE and press.ack_delay_s < 3.0
    assert "Carol pulled ^ab" in carols[0]["embeds"][0]["author"]["name"]
    assert len(await fake.wait_for(lambda: secrets_in_dms(fake, carol))) == 1

    await fake.press(carol, int(reveal["id"]), "vk:pull:10:btc:-:^ab")
    ten = await fake.wait_for(lambda: [m for m in reveal_of(fake, carol) if "best of 10" in m["embeds"][0]["title"]])
    listed = [
        line
        for f in ten[0]["embeds"][0]["fields"]
        if f["name"].startswith("All 10 pulls")
        for line in f["value"].splitlines()
    ]
    assert len(listed) == 10
    assert (
        len(await fake.wait_for(lambda: len(secrets_in_dms(fake, carol)) == 11 and secrets_in_dms(fake, carol))) == 11
    )
    balance = await harness.app.service.balance(UserRef("discord", str(carol.id)))
    assert balance.free_pulls_left == harness.app.settings.free_pulls_per_day - 1 - harness.app.settings.ten_pull_pulls


async def test_a_button_on_a_message_from_before_a_restart_still_pulls(harness: Harness) -> None:
    """Buttons are persistent: the custom_id alone says what to do, no view state is needed."""
    fake = harness.fake
    dave = fake.add_user("dave")
    old = fake._store(
        fake.channel_id,
        {
            "content": "from yesterday",
            "components": [
                {
                    "type": 1,
                    "components": [{"type": 2, "style": 1, "label": "Pull again", "custom_id": "vk:pull:1:trx:-:^ab"}],
                }
            ],
        },
        ephemeral=False,
        loading=False,
        interaction=None,
    )
    await fake.press(dave, int(old["id"]), "vk:pull:1:trx:-:^ab")
    reveal = await fake.wait_for(lambda: reveal_of(fake, dave))
    assert "TRON" in reveal[0]["embeds"][0]["author"]["name"]
    dm = (await fake.wait_for(lambda: fake.dms_to(dave.id)))[0]["content"]
    assert "HEX: ||`" in dm


async def test_a_pull_in_a_dm_shows_everything_there(harness: Harness) -> None:
    fake = harness.fake
    erin = fake.add_user("erin")
    interaction = await fake.slash(erin, "pull", {"pattern": "^ab"}, in_dm=True)
    dm_channel = fake.dm_channels[erin.id]
    reveal = await fake.wait_for(lambda: [m for m in fake.messages_of(interaction) if m["embeds"]])
    assert reveal[0]["channel_id"] == str(dm_channel)
    wifs = await fake.wait_for(lambda: secrets_in_dms(fake, erin))
    assert len(wifs) == 1
    assert not fake.public_messages(), "nothing reaches the server channel"


async def test_a_bad_pattern_is_explained_privately_and_leaves_no_public_trace(harness: Harness) -> None:
    fake = harness.fake
    frank = fake.add_user("frank")
    interaction = await fake.slash(frank, "pull", {"pattern": "0OIl", "exact_case": True})
    notes = await fake.wait_for(lambda: fake.ephemeral_messages(frank.id))
    assert notes[0]["content"].startswith("⚠️ ") and len(notes[0]["content"].splitlines()) == 1
    assert fake.messages[interaction.original_id].get("deleted"), "the public thinking message was removed"
    assert not fake.public_messages()


async def test_running_out_of_tokens_says_how_to_top_up(fake: FakeDiscord, tmp_path) -> None:
    from bot.app import create_app
    from tests.discord.conftest import discord_settings, quiet_config, start_bot, stop_bot

    async with create_app(discord_settings(tmp_path, free_pulls_per_day=0)) as app:
        bot, task = await start_bot(fake, app, quiet_config())
        try:
            gina = fake.add_user("gina")
            await fake.slash(gina, "pull", {"pattern": "^ab"})
            notes = await fake.wait_for(lambda: fake.ephemeral_messages(gina.id))
            assert "token" in notes[0]["content"].lower()
            assert not fake.public_messages() and not fake.dms_to(gina.id)
        finally:
            await stop_bot(bot, task)


async def test_cooldown_answers_at_once_without_pulling(fake: FakeDiscord, app) -> None:
    from tests.discord.conftest import quiet_config, start_bot, stop_bot

    bot, task = await start_bot(fake, app, quiet_config(pull_cooldown_s=60.0))
    try:
        hank = fake.add_user("hank")
        await fake.slash(hank, "pull", {"pattern": "^ab"})
        await fake.wait_for(lambda: reveal_of(fake, hank))
        second = await fake.slash(hank, "pull", {"pattern": "^ab"})
        note = await fake.wait_for(lambda: fake.messages_of(second))
        assert second.acked_with == 4 and note[0]["flags"] & EPHEMERAL and "again in" in note[0]["content"]
        assert len(reveal_of(fake, hank)) == 1
    finally:
        await stop_bot(bot, task)
