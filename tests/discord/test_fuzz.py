"""Hostile input through every Discord option a person types: one clean private line each, never a crash."""

from __future__ import annotations

import logging
import random

import pytest

from bot.frontends.discord.flows import GENERIC_FAILURE
from tests.discord.conftest import Harness
from tests.discord.fake_discord import ALL_PERMISSIONS, EPHEMERAL, MANAGE_GUILD

ALPHABETS = (
    "0123456789",
    "²³¹٣۳߃१০੩૩୩௩౩೩൩๓໓༣၃႓០᠓",
    "^$? abcXYZ_*~`|<>@#&:/\\\"'",
    "éßøΩЖ中文🙂\u200b\u202e\u0000\ufeff",
    "1e309 2^99 -0 +5 0x10 1_000 9,999",
)


def hostile(rng: random.Random) -> str:
    size = rng.choice((1, 2, 5, 20, 64, 65, 99))
    text = "".join(rng.choice(rng.choice(ALPHABETS)) for _ in range(size))
    return text.strip("\x00") or "x"


async def test_random_unicode_and_numbers_in_every_typed_option_get_one_clean_answer(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    fake = harness.fake
    rng = random.Random(13)
    admin = fake.add_user("admin", permissions=ALL_PERMISSIONS | MANAGE_GUILD)
    target = fake.add_user("target")
    commands = [
        lambda t: ("pull", {"pattern": t}),
        lambda t: ("odds", {"pattern": t}),
        lambda t: ("order", {"pattern": "^abc", "pubkey": t}),
        lambda t: ("gift", {"user": target, "tokens": t}),
        lambda t: ("card", {"pull_id": t}),
        lambda t: ("topup", {"pack": t}),
        lambda t: ("config", {"setting": "free_pulls", "value": t}),
    ]
    sent = []
    caplog.set_level(logging.WARNING)
    for _ in range(8):
        for make in commands:
            name, options = make(hostile(rng))
            sent.append((name, options, await fake.slash(admin, name, options)))

    def answered(interaction) -> list[dict]:
        return [m for m in fake.messages_of(interaction) if m["content"] or m["embeds"]]

    await fake.wait_for(lambda: all(answered(i) for _, _, i in sent), timeout=60)
    for name, options, interaction in sent:
        answers = answered(interaction)
        assert len(answers) == 1 or name in ("pull", "order"), (name, options, answers)
        text = " ".join(m["content"] for m in answers)
        assert GENERIC_FAILURE not in text and "Traceback" not in text, (name, options, text)
        for message in answers:
            if message["content"].startswith("⚠️"):
                assert message["flags"] & EPHEMERAL and "\n" not in message["content"], (name, options, message)
    assert not [m for m in fake.public_messages() if m["content"].startswith("⚠️")], "errors stay private"
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not crashes, [r.getMessage() for r in crashes]
    # the bot still answers normally afterwards
    after = await fake.slash(admin, "balance")
    assert (await fake.wait_for(lambda: answered(after)))[0]["flags"] & EPHEMERAL
