"""End to end, several people in one guild: nothing private in the channel, buttons that belong to their owner."""

from __future__ import annotations

import re

from bot.answers import UserRef
from bot.frontends.discord.views import encode_owner
from gpu_worker.patterns import MAX_PATTERN_LENGTH
from tests.discord.conftest import Harness
from tests.discord.fake_discord import ALL_PERMISSIONS, EMBED_LINKS, EPHEMERAL, FakeDiscord, FakeUser
from tests.discord.test_orders import announcements
from tests.discord.test_pulls import WIF_IN_DM, reveal_of, secrets_in_dms

# Each word must start a word: an address is random base58, and "wiF" inside one is no leak
# (about one run in 50 had one).
PRIVATE_WORDS = re.compile(r"\b(?:balance|purchase|top.?up|history\b|wif)|\|\|", re.IGNORECASE)


def everything_public(fake: FakeDiscord) -> list[str]:
    """Every public message the fake saw, with every version it was ever edited to, as text."""
    texts = []
    for message in fake.public_messages():
        versions = [{k: message[k] for k in ("content", "embeds")}, *message.get("history", [])]
        texts.extend(str(version) for version in versions)
    return texts


async def grant(harness: Harness, user: FakeUser, tokens: int) -> None:
    await harness.app.service.grant(UserRef("discord", str(user.id), user.global_name or ""), tokens)


async def test_a_whole_session_shows_no_balance_purchase_history_or_key_in_the_channel(harness: Harness) -> None:
    fake = harness.fake
    ann, ben, cat = fake.add_user("ann"), fake.add_user("ben"), fake.add_user("cat", dms_closed=True)
    for user in (ann, ben, cat):
        await grant(harness, user, 777)

    await fake.slash(ann, "pull", {"pattern": "^ab"})
    await fake.slash(ben, "pull", {"pattern": "^ab", "count": 10})
    await fake.slash(cat, "pull", {"pattern": "^ab"})
    await fake.slash(ann, "order", {"pattern": "^abc"})
    for user in (ann, ben, cat):
        for command in ("balance", "history", "keys", "topup"):
            await fake.slash(user, command)
    await fake.slash(ben, "odds", {"pattern": "^Love"})
    await fake.slash(cat, "leaderboard")
    await fake.wait_for(lambda: announcements(fake, ann), timeout=60)
    await fake.wait_for(lambda: reveal_of(fake, ben) and reveal_of(fake, cat) and len(secrets_in_dms(fake, ben)) == 10)
    receipt = await fake.wait_for(lambda: [m for m in fake.ephemeral_messages(ann.id) if "Paid" in m["content"]])
    assert "balance is now" in receipt[0]["content"], "the buyer is told the balance, privately"

    public = everything_public(fake)
    assert len(public) >= 6
    amounts = {
        str((await harness.app.service.balance(UserRef("discord", str(u.id)))).tokens) for u in (ann, ben, cat)
    } | {"777"}
    order_price = re.search(r"Paid (\d+) tokens", receipt[0]["content"]).group(1)
    for text in public:
        assert not PRIVATE_WORDS.search(text), text
        assert not any(re.search(rf"\b{amount} tokens", text) for amount in amounts), text
        if "Order" in text:
            assert f"{order_price} tokens" not in text, "what the buyer paid is theirs to know"
    wifs = [w for m in fake.messages.values() for w in WIF_IN_DM.findall(m["content"])]
    assert wifs and not any(w in text for w in wifs for text in public)


async def test_a_foreign_press_on_a_confirm_button_does_nothing_and_tells_the_presser_privately(
    harness: Harness,
) -> None:
    fake = harness.fake
    kim, lou = fake.add_user("kim"), fake.add_user("lou")
    await grant(harness, kim, 1000)
    await grant(harness, lou, 1000)
    await fake.slash(kim, "pull", {"pattern": "^abc"})
    reveal = (await fake.wait_for(lambda: reveal_of(fake, kim)))[0]
    quote = await fake.press(kim, int(reveal["id"]), "vk:quote:btc:-:^abc")
    offer = (await fake.wait_for(lambda: [m for m in fake.messages_of(quote) if m["content"]]))[0]
    confirm_id = offer["components"][0]["components"][0]["custom_id"]

    press = await fake.press(lou, int(offer["id"]), confirm_id)  # lou replays kim's button
    note = (await fake.wait_for(lambda: fake.messages_of(press)))[0]
    assert note["flags"] & EPHEMERAL and note["visible_to"] == str(lou.id) and "belongs to" in note["content"]
    for user in (kim, lou):
        assert (await harness.app.service.balance(UserRef("discord", str(user.id)))).tokens == 1000
    assert not announcements(fake, kim) and not announcements(fake, lou)

    mine = await fake.press(kim, int(offer["id"]), confirm_id)
    await fake.wait_for(lambda: announcements(fake, kim), timeout=60)
    assert mine.acked_with == 5
    assert (await harness.app.service.balance(UserRef("discord", str(kim.id)))).tokens < 1000


async def test_the_easy_pattern_buttons_belong_to_the_asker(harness: Harness) -> None:
    fake = harness.fake
    max_, ned = fake.add_user("max"), fake.add_user("ned")
    custom_ids = (f"vk:pa:{encode_owner(max_.id)}:10:btc:-:^a", f"vk:oi:{encode_owner(max_.id)}:btc:-:^a")
    buttons = [{"type": 2, "style": 1, "label": "b", "custom_id": custom_id} for custom_id in custom_ids]
    message = fake._store(
        fake.channel_id,
        {"content": "warning for max", "components": [{"type": 1, "components": buttons}]},
        ephemeral=False,
        loading=False,
        interaction=None,
    )
    for custom_id in custom_ids:
        press = await fake.press(ned, int(message["id"]), custom_id)
        note = (await fake.wait_for(lambda press=press: fake.messages_of(press)))[0]
        assert note["flags"] & EPHEMERAL and "belongs to" in note["content"]
    balance = await harness.app.service.balance(UserRef("discord", str(ned.id)))
    assert balance.free_pulls_left == balance.free_pulls_per_day, "nothing was pulled for ned"
    assert not fake.dms_to(ned.id)


async def test_without_embed_links_the_reveal_is_private_and_says_what_to_fix(harness: Harness) -> None:
    fake = harness.fake
    fake.bot_permissions = ALL_PERMISSIONS & ~EMBED_LINKS
    ola = fake.add_user("ola")
    interaction = await fake.slash(ola, "pull", {"pattern": "^ab"})
    answer = await fake.wait_for(lambda: [m for m in fake.messages_of(interaction) if m["embeds"]])
    assert answer[0]["flags"] & EPHEMERAL and "Embed Links" in answer[0]["content"]
    assert "Alice" not in answer[0]["content"] and "Ola pulled ^ab" in answer[0]["embeds"][0]["author"]["name"]
    assert len(await fake.wait_for(lambda: secrets_in_dms(fake, ola))) == 1, "the key still goes by DM"
    assert not fake.public_messages(), "nothing half-posted in the channel"
    assert not [r for r in fake.requests if r.status == 403], "nothing was sent that Discord would refuse"


async def test_a_pattern_over_the_service_limit_is_refused_privately(harness: Harness) -> None:
    fake = harness.fake
    pat = fake.add_user("pat")
    long_pattern = "a" * (MAX_PATTERN_LENGTH + 1)
    interaction = await fake.slash(pat, "pull", {"pattern": long_pattern})
    note = (await fake.wait_for(lambda: fake.ephemeral_messages(pat.id)))[0]
    assert f"at most {MAX_PATTERN_LENGTH} characters" in note["content"]
    assert fake.messages[interaction.original_id].get("deleted"), "no public trace"
    assert not fake.public_messages() and not fake.dms_to(pat.id)


async def test_odds_has_a_per_user_cooldown_that_does_not_touch_others(fake: FakeDiscord, app) -> None:
    from tests.discord.conftest import quiet_config, start_bot, stop_bot

    bot, task = await start_bot(fake, app, quiet_config(odds_cooldown_s=60.0, autocomplete_cooldown_s=60.0))
    try:
        quy, ray = fake.add_user("quy"), fake.add_user("ray")
        await fake.slash(quy, "odds", {"pattern": "^Love"})
        await fake.wait_for(lambda: [m for m in fake.public_messages() if m["embeds"]])
        again = await fake.slash(quy, "odds", {"pattern": "^Lovely"})
        note = (await fake.wait_for(lambda: fake.messages_of(again)))[0]
        assert again.acked_with == 4 and note["flags"] & EPHEMERAL and "again in" in note["content"]
        other = await fake.slash(ray, "odds", {"pattern": "^Lovely"})
        answer = (await fake.wait_for(lambda: [m for m in fake.messages_of(other) if m["embeds"]]))[0]
        assert not answer["flags"] & EPHEMERAL

        typed = [await fake.autocomplete(quy, "pull", {"pattern": p}, "pattern") for p in ("^Lo", "^Lov")]
        first, second = [(await fake.wait_for(lambda i=i: i.autocomplete_choices))[0]["name"] for i in typed]
        assert "exact match 1 in" in first and second == "^Lov · odds with /odds", "typing fast costs no CPU"
    finally:
        await stop_bot(bot, task)
