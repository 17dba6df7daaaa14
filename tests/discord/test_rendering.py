"""Rendering, buttons' custom_ids, cooldowns and config: the pure parts, checked against Discord's limits."""

from __future__ import annotations

import re
import secrets

import pytest

from bot.answers import (
    DeliveredSecret,
    KeyDelivery,
    OddsAnswer,
    OrderAnswer,
    OrderView,
    PullAnswer,
    ShownKey,
    UserRef,
)
from bot.config import ConfigError
from bot.frontends.discord.config import DiscordConfig
from bot.frontends.discord.cooldowns import Cooldowns
from bot.frontends.discord.rendering import (
    caret_block,
    closed_dms_text,
    compact,
    delivery_messages,
    highlighted,
    one_in,
    one_in_unit,
    order_receipt_text,
    progress_bar,
    pull_embed,
)
from bot.frontends.discord.views import (
    ConfirmOrderButton,
    OrderInsteadButton,
    PatternRequest,
    PullAnywayButton,
    PullButton,
    QuoteOrderButton,
    reveal_view,
)
from gpu_worker.formats import FORMATS, identifier_from_secret

KEY = ShownKey("btc", "1LoveXyzAbc", ((1, 5), (8, 10)), 6, 6, True, "Mythic", float("inf"))


def test_highlight_marks_exactly_the_matched_parts() -> None:
    assert highlighted(KEY) == "1__**Love**__Xyz__**Ab**__c"
    assert caret_block(KEY) == "```\n1LoveXyzAbc\n ^^^^   ^^\n```"


def test_highlight_escapes_markdown_in_identifiers() -> None:
    key = ShownKey("did", "did:key:zQ3sh_a*b", ((13, 14),), 1, 1, True, "Mythic", 1.0)
    assert highlighted(key) == "did:key:zQ3sh__**\\_**__a\\*b"


def test_numbers_read_well() -> None:
    assert one_in(4_200_000) == "1 in 4.2M" and one_in(float("inf")) == "never" and one_in(1.0) == "every time"
    assert compact(950) == "950" and compact(12_345) == "12.3K"
    assert progress_bar(50, 10) == "█████░░░░░" and progress_bar(250, 4) == "████"


def test_a_ten_pull_of_did_keys_fits_discord_messages_and_keeps_each_key_whole() -> None:
    fmt = FORMATS["did"]
    items = []
    for _ in range(10):
        secret = secrets.randbelow(2**255) + 1
        export = fmt.export_secret(secret)
        items.append(
            DeliveredSecret(
                identifier_from_secret(fmt, secret), "private_key", export.kind, export.value, export.jwk, 3, 5, "Epic"
            )
        )
    delivery = KeyDelivery("job1", "pull", "did", "^abc", tuple(items), "Keep this secret.")
    messages = delivery_messages(delivery)
    assert all(len(m) <= 2000 for m in messages) and len(messages) >= 2
    text = "\n".join(messages)
    for item in items:
        assert f"HEX: ||`{item.value}`||" in text and item.jwk in text
        assert sum(item.value in m for m in messages) == 1, "a key is never split across messages"


def test_split_key_deliveries_say_it_is_an_offset() -> None:
    item = DeliveredSecret("1Abc", "offset", "hex", "ab" * 32)
    text = delivery_messages(KeyDelivery("j", "order", "btc", "^A", (item,), "combine it"))[0]
    assert "offset (combine with your key): ||`" in text


def test_secrets_redact_themselves_in_repr() -> None:
    item = DeliveredSecret("1Abc", "private_key", "wif", "KySECRET")
    assert "KySECRET" not in repr(KeyDelivery("j", "pull", "btc", "^A", (item,), "")) and "KySECRET" not in repr(item)


@pytest.mark.parametrize("request_", [PatternRequest("^Love", "btc"), PatternRequest("a b ?c$", "trx", True, True)])
async def test_button_custom_ids_round_trip(request_: PatternRequest) -> None:
    owner = 1_100_000_000_000_000_123
    for item, template in (
        (PullButton(request_, 10), PullButton),
        (QuoteOrderButton(request_), QuoteOrderButton),
        (ConfirmOrderButton(request_, owner), ConfirmOrderButton),
        (PullAnywayButton(request_, owner, 10), PullAnywayButton),
        (OrderInsteadButton(request_, owner), OrderInsteadButton),
    ):
        match = template.__discord_ui_compiled_template__.fullmatch(item.item.custom_id)  # type: ignore[attr-defined]
        assert match is not None
        back = await template.from_custom_id(None, item.item, match)  # type: ignore[arg-type]
        assert back.request == request_
        assert getattr(back, "owner_id", owner) == owner


def test_patterns_too_long_for_a_custom_id_get_no_buttons() -> None:
    assert reveal_view(PatternRequest("a" * 40, "btc")) is not None
    assert reveal_view(PatternRequest("a" * 90, "btc")) is None


def test_cooldowns_are_per_user_and_per_action() -> None:
    now = [100.0]
    cooldowns = Cooldowns({"pull": 5.0}, clock=lambda: now[0])
    assert cooldowns.wait_left("pull", 1) == 0
    assert cooldowns.wait_left("pull", 1) == pytest.approx(5.0)
    assert cooldowns.wait_left("pull", 2) == 0 and cooldowns.wait_left("order", 1) == 0
    cooldowns.release("pull", 1)
    assert cooldowns.wait_left("pull", 1) == 0
    now[0] += 5.01
    assert cooldowns.wait_left("pull", 1) == 0


def test_config_from_env() -> None:
    config = DiscordConfig.from_env(
        {"VANIKEYS_DISCORD_SYNC_ON_START": "global, 123", "VANIKEYS_DISCORD_PULL_COOLDOWN_S": "2.5"}, dotenv_path=None
    )
    assert config.sync_on_start == ("global", "123") and config.pull_cooldown_s == 2.5
    assert DiscordConfig.from_env({}, dotenv_path=None).sync_on_start == ()
    with pytest.raises(ConfigError, match=re.escape("set 'global' or comma-separated server ids")):
        DiscordConfig.from_env({"VANIKEYS_DISCORD_SYNC_ON_START": "yes"}, dotenv_path=None)
    with pytest.raises(ConfigError, match="VANIKEYS_DISCORD_ORDER_COOLDOWN_S='soon': a number of seconds"):
        DiscordConfig.from_env({"VANIKEYS_DISCORD_ORDER_COOLDOWN_S": "soon"}, dotenv_path=None)


def _answer(keys: tuple[ShownKey, ...], best_index: int) -> PullAnswer:
    odds = OddsAnswer(
        "did", "did:key", "^a_b", 4, 1e-6, 1e6, 100, 1e-4, (1.0, 0.1, 0.01, 0.001, 1e-6), 1, 50, 10.0, None
    )
    return PullAnswer(
        "job",
        UserRef("discord", "1", "Ann"),
        None,
        "^a_b",
        "did",
        "did:key",
        10,
        keys,
        best_index,
        0,
        10,
        5,
        1200,
        "python",
        0.5,
        odds,
        True,
        "",
    )


def test_a_ten_pull_lists_every_key_best_first_in_whole_lines_within_field_limits() -> None:
    # did identifiers full of markdown characters: the listing would pass 1,024 characters in one field
    keys = tuple(
        ShownKey(
            "did",
            "did:key:zQ3sh" + "_*~`|" * 9 + f"{n:03d}",
            tuple((13 + i, 14 + i) for i in range(0, 45, 2)),
            n % 4,
            4,
            False,
            ["Common", "Uncommon", "Rare", "Epic"][n % 4],
            float(3**n),
        )
        for n in range(10)
    )
    answer = _answer(keys, best_index=9)
    embed = pull_embed(answer, "Ann").to_dict()
    listing = [f for f in embed["fields"] if f["name"].startswith("All 10 pulls")]
    assert len(listing) >= 2, "split, not cut"
    assert all(len(f["value"]) <= 1024 for f in embed["fields"])
    lines = [line for f in listing for line in f["value"].split("\n")]
    assert len(lines) == 10 and not any(line.endswith("…") for line in lines)
    shown_order = [int(re.search(r"(\d{3})(?:`|$)", line.replace("\\", "")).group(1)) for line in lines]
    assert shown_order == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0], "best first, then rarest first"
    for field in listing:
        assert field["value"].count("__**") == field["value"].count("**__"), "no markup cut in half"
    assert len(str(embed)) < 6000


def test_rarity_reads_as_english() -> None:
    assert one_in_unit(1.0, "pull") == "every pull" and one_in_unit(12_400, "pull") == "1 in 12.4K pulls"
    assert one_in_unit(float("inf"), "key") == "never"
    keys = (ShownKey("btc", "1abc", ((1, 3),), 2, 2, True, "Common", 1.0),)
    odds = OddsAnswer("btc", "Bitcoin", "^ab", 2, 0.9, 1.1, 100, 1.0, (1.0, 0.9, 0.9), 1, None, 0.0, "too easy")
    answer = PullAnswer(
        "j",
        UserRef("discord", "1", "Ann"),
        None,
        "^ab",
        "btc",
        "Bitcoin",
        1,
        keys,
        0,
        0,
        1,
        5,
        100,
        "python",
        0.1,
        odds,
        True,
        "",
    )
    embed = pull_embed(answer, "Ann").to_dict()
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Rarity"] == "every pull" and "every time" not in str(embed)
    assert "✨ full match" in embed["title"] and embed["title"].split()[1] == "Common"


def test_wording_says_each_thing_once() -> None:
    notice = closed_dms_text()
    assert notice.count("vault") == 1 and notice.count("/keys") == 1 and "could not be sent" not in notice
    order = OrderView(
        "o1",
        UserRef("discord", "1", "Ann"),
        None,
        None,
        "^abc",
        "btc",
        False,
        "accepted",
        40,
        0,
        1e5,
        0.0,
        0.0,
        None,
        None,
        False,
        "placed",
    )
    receipt = order_receipt_text(
        OrderAnswer(
            order,
            960,
            12.0,
            "expected time about 12 seconds; your private key will arrive privately when the match is found",
        )
    )
    assert receipt.lower().count("expected time") == 1 and "960" in receipt


def test_a_new_personal_best_is_named_with_the_one_it_beat() -> None:
    from dataclasses import replace

    from bot.answers import PersonalBest

    key = ShownKey("btc", "1abcd", ((1, 3),), 2, 3, False, "Rare", 40.0)
    odds = OddsAnswer("btc", "Bitcoin", "^abc", 3, 1e-5, 1e5, 120, 1e-3, (1.0, 0.1, 0.01, 1e-5), 1, 50, 5.0, None)
    answer = PullAnswer(
        "j",
        UserRef("discord", "1", "Ann"),
        None,
        "^abc",
        "btc",
        "Bitcoin",
        1,
        (key,),
        0,
        0,
        1,
        5,
        120,
        "python",
        0.1,
        odds,
        False,
        "",
        personal_best=PersonalBest("btc ^abc", 6.0, True),
    )
    fields = {f["name"]: f["value"] for f in pull_embed(answer, "Ann").to_dict()["fields"]}
    assert fields["🏆 NEW personal best"] == "best ^abc so far (was 1 in 6 pulls)"
    same = replace(answer, personal_best=PersonalBest("btc ^abc", 80.0, False))
    assert not any("personal best" in f["name"] for f in pull_embed(same, "Ann").to_dict()["fields"])


def test_keys_with_closed_dms_says_it_once() -> None:
    from bot.answers import KeysAnswer
    from bot.frontends.discord.rendering import keys_text

    text = keys_text(
        KeysAnswer(
            delivered=("a",),
            undelivered=("b", "c"),
            message="1 sent privately, 2 could not be sent: open your direct messages to the bot and send /keys again",
        )
    )
    assert text.startswith("1 key sent to you privately; 2 keys could not be sent by DM and wait safely in the vault.")
    assert text.count("/keys") == 1 and text.count("vault") == 1, text
    done = keys_text(KeysAnswer(delivered=("a",), undelivered=(), message="1 sent to you privately"))
    assert done == "1 sent to you privately"
