"""End to end: account commands answer privately, autocomplete helps, the owner alone syncs commands."""

from __future__ import annotations

import logging
import re

import pytest

from bot.answers import UserRef
from bot.config import ConfigError
from gpu_worker.patterns import MAX_PATTERN_LENGTH
from tests.discord.conftest import Harness, quiet_config, start_bot, stop_bot
from tests.discord.fake_discord import EPHEMERAL, FakeDiscord
from tests.discord.test_pulls import WIF_IN_DM

SERVICE_COMMANDS = {
    "pull",
    "order",
    "odds",
    "balance",
    "topup",
    "keys",
    "history",
    "leaderboard",
    "help",
    "sync",
    "season",
    "profile",
    "streak",
    "card",
    "gift",
    "config",
}


async def answer_to(fake: FakeDiscord, interaction) -> dict:
    return (await fake.wait_for(lambda: [m for m in fake.messages_of(interaction) if m["content"] or m["embeds"]]))[0]


@pytest.mark.parametrize("command", ["balance", "history", "topup", "keys", "help"])
async def test_account_commands_answer_ephemerally(harness: Harness, command: str) -> None:
    fake = harness.fake
    lee = fake.add_user("lee")
    interaction = await fake.slash(lee, command)
    message = await answer_to(fake, interaction)
    callback = fake.requests_to("POST", f"/interactions/{interaction.id}/")[0]
    assert callback.body["type"] == 5 and callback.body["data"]["flags"] & EPHEMERAL
    assert message["flags"] & EPHEMERAL
    assert not fake.public_messages()


async def test_balance_history_and_topup_say_something_useful(harness: Harness) -> None:
    fake = harness.fake
    mia = fake.add_user("mia")
    await harness.app.service.grant(UserRef("discord", str(mia.id), "Mia"), 42)
    balance = await answer_to(fake, await fake.slash(mia, "balance"))
    assert balance["embeds"][0]["title"] == "42 tokens"
    history = await answer_to(fake, await fake.slash(mia, "history"))
    assert "`+42` grant" in history["embeds"][0]["description"]
    topup = await answer_to(fake, await fake.slash(mia, "topup"))
    assert "not configured" in topup["embeds"][0]["description"]


async def test_odds_and_leaderboard_are_public(harness: Harness) -> None:
    fake = harness.fake
    ned = fake.add_user("ned")
    odds = await answer_to(fake, await fake.slash(ned, "odds", {"pattern": "^Love", "format": "btc"}))
    assert not odds["flags"] & EPHEMERAL
    fields = {f["name"]: f["value"] for f in odds["embeds"][0]["fields"]}
    assert fields["One key matches fully"].startswith("1 in ")
    await fake.slash(ned, "pull", {"pattern": "^ab"})
    await fake.wait_for(lambda: fake.dms_to(ned.id))
    board = await answer_to(fake, await fake.slash(ned, "leaderboard"))
    assert "Ned" in board["embeds"][0]["description"] and "`^ab`" in board["embeds"][0]["description"]


async def test_pattern_autocomplete_shows_odds_or_the_mistake(harness: Harness) -> None:
    fake = harness.fake
    ola = fake.add_user("ola")
    good = await fake.autocomplete(ola, "pull", {"pattern": "^Love"}, "pattern")
    choices = await fake.wait_for(lambda: good.autocomplete_choices)
    assert choices[0]["value"] == "^Love" and "exact match 1 in" in choices[0]["name"]
    bad = await fake.autocomplete(ola, "pull", {"pattern": "GO0", "exact_case": True}, "pattern")
    choices = await fake.wait_for(lambda: bad.autocomplete_choices)
    assert choices[0]["name"].startswith("⚠") and len(choices[0]["name"]) <= 100


async def test_commands_sync_only_when_the_owner_asks(harness: Harness) -> None:
    fake = harness.fake
    assert not fake.requests_to("PUT", "/applications/"), "no sync on a normal start"

    stranger = fake.add_user("stranger")
    refused = await fake.slash(stranger, "sync")
    refusal = await answer_to(fake, refused)
    assert refusal["flags"] & EPHEMERAL and "owner" in refusal["content"]
    assert not fake.requests_to("PUT", "/applications/")

    synced_global = await fake.slash(fake.owner, "sync")
    answer = await answer_to(fake, synced_global)
    assert answer["flags"] & EPHEMERAL and answer["content"].startswith("Synced")
    synced = fake.commands["global"]
    assert {c["name"] for c in synced} == SERVICE_COMMANDS
    pull = next(c for c in synced if c["name"] == "pull")
    options = {o["name"]: o for o in pull["options"]}
    assert options["pattern"]["required"] and options["pattern"].get("autocomplete")
    assert options["pattern"]["max_length"] == MAX_PATTERN_LENGTH, "one limit, the service's"
    assert {c["value"] for c in options["format"]["choices"]} == {"btc", "did", "eth", "trx"}
    assert {c["value"] for c in options["count"]["choices"]} == {1, 10}
    sync = next(c for c in synced if c["name"] == "sync")
    assert str(sync["default_member_permissions"]) == "8", "hidden from everyone but administrators"
    assert sync.get("contexts") == [0] or sync.get("dm_permission") is False, "servers only"

    here = await fake.slash(fake.owner, "sync", {"scope": "here"})
    await answer_to(fake, here)
    assert {c["name"] for c in fake.commands[str(fake.guild_id)]} == SERVICE_COMMANDS
    assert not fake.public_messages(), "sync is answered privately"


async def test_the_cli_step_syncs_over_http_without_a_gateway(fake: FakeDiscord, app) -> None:
    from bot.frontends.discord.sync import parse_targets, sync

    count = await sync(app.settings, parse_targets([str(fake.guild_id)]))
    assert count == len(SERVICE_COMMANDS)
    assert {c["name"] for c in fake.commands[str(fake.guild_id)]} == SERVICE_COMMANDS
    assert not fake.identified.is_set(), "no gateway connection was opened"
    with pytest.raises(ConfigError, match="not a sync target"):
        parse_targets(["yes"])
    assert parse_targets([]) == ("global",) and parse_targets(["clear:12"]) == ("clear:12",)


async def test_sync_on_start_is_opt_in(fake: FakeDiscord, app) -> None:
    bot, task = await start_bot(fake, app, quiet_config(sync_on_start=(str(fake.guild_id),)))
    try:
        assert {c["name"] for c in fake.commands[str(fake.guild_id)]} == SERVICE_COMMANDS
        assert "global" not in fake.commands
    finally:
        await stop_bot(bot, task)


async def test_private_keys_never_reach_the_logs_even_at_debug(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    fake = harness.fake
    pia = fake.add_user("pia")
    with caplog.at_level(logging.DEBUG):
        await fake.slash(pia, "pull", {"pattern": "^ab", "count": 10})
        dms = await fake.wait_for(lambda: fake.dms_to(pia.id))
    wifs = WIF_IN_DM.findall(" ".join(m["content"] for m in dms))
    assert len(wifs) == 10
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/messages" in logged, "discord.py did log the requests at debug level"
    for wif in wifs:
        assert wif not in logged


async def test_interactions_are_acknowledged_within_three_seconds(harness: Harness) -> None:
    fake = harness.fake
    quinn = fake.add_user("quinn")
    interactions = [await fake.slash(quinn, "pull", {"pattern": "^ab"}) for _ in range(3)]
    await fake.wait_for(lambda: len([m for m in fake.public_messages() if m["embeds"]]) == 3, timeout=30)
    for interaction in interactions:
        assert interaction.ack_delay_s is not None and interaction.ack_delay_s < 3.0
    assert all(re.search(r"/callback$", r.path) and r.status == 200 for r in fake.requests if "/callback" in r.path)


async def test_run_needs_a_token(app) -> None:
    from bot.config import ConfigError
    from bot.frontends.discord import run

    with pytest.raises(ConfigError, match="DISCORD_TOKEN is not set"):
        await run(app, app.settings.replace(discord_token=None))


async def test_run_connects_and_stops_cleanly_when_cancelled(
    fake: FakeDiscord, app, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from bot.frontends.discord import run

    monkeypatch.delenv("VANIKEYS_DISCORD_SYNC_ON_START", raising=False)
    task = asyncio.create_task(run(app, app.settings))
    await asyncio.wait_for(fake.ready_sent.wait(), 10)
    assert fake.identify_payload["token"] == "fake-token"
    assert fake.identify_payload["intents"] == 1 << 0, "guilds only: no message events at all"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.done()
