"""Rendering: hostile names and patterns stay text, every message parses as Telegram HTML and fits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.answers import (
    DeliveredSecret,
    HistoryAnswer,
    HistoryEntry,
    KeyDelivery,
    OddsAnswer,
    PullAnswer,
    ShownKey,
    UserRef,
)
from bot.frontends.command_args import ArgError, parse_order, parse_pull
from bot.frontends.telegram import rendering
from bot.frontends.telegram.callbacks import ButtonAction, CallbackCodec
from bot.frontends.telegram.cooldown import Cooldowns
from gpu_worker.errors import VanikeysError
from tests.telegram.fake_bot_api import parse_telegram_html, utf16_len

HOSTILE = '<b>Eve</b> & "co" <script>'


def shown(identifier: str = "1LoveXyzabcdefghijkmnopqrstuvwx", spans=((1, 5),)) -> ShownKey:
    return ShownKey("btc", identifier, tuple(spans), 4, 4, True, "Mythic", 1.0)


def odds() -> OddsAnswer:
    return OddsAnswer(
        "btc", "Bitcoin (P2PKH)", "^Love<&>", 4, 1e-7, 1e7, 64, 6.4e-6, (1.0, 0.1, 0.01, 0.001, 1e-7), 10, 30, 5.0, None
    )


def pull_answer(user: UserRef, delivered: bool) -> PullAnswer:
    return PullAnswer(
        "job1",
        user,
        None,
        "^Love<&>",
        "btc",
        "Bitcoin (P2PKH)",
        1,
        (shown(),),
        0,
        0,
        1,
        0,
        64,
        "python",
        0.2,
        odds(),
        delivered,
        "send /keys in a private chat",
    )


def test_pull_escapes_names_and_patterns_and_highlights() -> None:
    answer = pull_answer(UserRef("telegram", "1", HOSTILE), delivered=False)
    text, links = parse_telegram_html(rendering.render_pull(answer, deep_link="https://t.me/Bot?start=keys"))
    assert HOSTILE in text
    assert "^Love<&>" in text
    assert "1LoveXyz" in text
    assert links == ["https://t.me/Bot?start=keys"]
    source = rendering.render_pull(answer, deep_link=None)
    assert "<b><u>Love</u></b>" in source
    assert "<script>" not in source


def test_delivery_is_private_html_and_split_when_long() -> None:
    secret = DeliveredSecret(
        "did:key:zQ3sh" + "x" * 40,
        "private_key",
        "hex",
        "ab" * 32,
        jwk='{"kty":"EC","crv":"secp256k1","d":"' + "A" * 43 + '","x":"' + "B" * 43 + '"}' * 3,
        score=3,
        max_score=4,
        tier="Rare",
    )
    delivery = KeyDelivery("job", "pull", "did", "<x>", (secret,) * 10, note="Import & enjoy")
    messages = rendering.render_delivery(delivery)
    assert len(messages) > 1
    for message in messages:
        text, _ = parse_telegram_html(message)
        assert utf16_len(text) <= 4096
    assert sum(m.count("ab" * 32) for m in messages) == 10
    assert "Import & enjoy" in parse_telegram_html(messages[-1])[0]


def test_long_history_is_cut_to_whole_lines() -> None:
    entries = tuple(HistoryEntry(datetime(2026, 1, 1, tzinfo=UTC), "pull", -10, "🎰 <b>" * 20) for _ in range(200))
    text = rendering.render_history(HistoryAnswer(UserRef("telegram", "1", "A"), entries, 5))
    assert utf16_len(text) <= 4096
    plain, _ = parse_telegram_html(text)
    assert "more lines not shown" in plain


def test_args_read_options_from_the_end() -> None:
    assert parse_pull(["GO", "BE", "eth", "10", "--fuzzy"]).__dict__ == {
        "pattern": "GO BE",
        "format_id": "eth",
        "count": 10,
        "pubkey": None,
        "exact_case": False,
        "fuzzy": True,
    }
    assert parse_pull(["btc"]).pattern == "btc"  # a lone word is the pattern, not the format
    with pytest.raises(ArgError, match="1 or 10"):
        parse_pull(["^Ab", "5"])
    for hostile in ("²", "٣", "1" * 400, "99999999999999999999"):
        with pytest.raises(VanikeysError, match="number"):
            parse_pull(["^Ab", "btc", hostile])
    with pytest.raises(ArgError, match="at most 64 characters"):
        parse_pull(["^" + "a" * 70])
    with pytest.raises(ArgError, match="/pull <pattern>"):
        parse_pull([])
    pubkey = "02" + "ab" * 32
    order = parse_order(["^Love", "btc", pubkey, "--exact"])
    assert (order.pattern, order.format_id, order.pubkey, order.exact_case) == ("^Love", "btc", pubkey, True)


def test_callback_data_fits_64_bytes_and_round_trips() -> None:
    codec = CallbackCodec()
    short = ButtonAction("pull10", 4242, "eth", "^dead beef", exact_case=False, fuzzy=True)
    data = codec.encode(short)
    assert data == "t|4242|eth|if|^dead beef" and codec.decode(data) == short
    assert short.belongs_to(4242) and not short.belongs_to(4243)
    easy = ButtonAction("pull_easy", 7, "btc", "^a", count=10)
    assert codec.decode(codec.encode(easy)) == easy and easy.command() == "/pull ^a btc 10"
    long = ButtonAction("order", 8_000_000_001, "did", "^" + "z" * 50 + " end$", exact_case=True)
    data = codec.encode(long)
    assert len(data.encode()) <= 64 and codec.decode(data) == long
    assert CallbackCodec().decode(data) is None  # a restarted bot: the button has expired
    assert codec.decode("junk") is None and codec.decode("p|btc") is None
    assert codec.decode("p|٣|btc|i|^a") is None  # the owner is ASCII digits or the button is not ours
    assert long.command() == "/order ^" + "z" * 50 + " end$ did --exact"


def test_cooldown_per_user() -> None:
    now = [100.0]
    cooldowns = Cooldowns(3.0, clock=lambda: now[0])
    assert cooldowns.wait_left("a") == 0
    assert cooldowns.wait_left("a") == pytest.approx(3.0)
    assert cooldowns.wait_left("b") == 0
    now[0] += 3.01
    assert cooldowns.wait_left("a") == 0
    cooldowns.give_back("a")  # the pull was refused: the corrected retry need not wait
    assert cooldowns.wait_left("a") == 0
