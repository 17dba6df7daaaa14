"""VANIKEYS_DISCORD_SHARDS splits Discord's shards across processes (each names its own out of one total)."""

from __future__ import annotations

import discord
import pytest

from bot.config import ConfigError
from bot.frontends.discord.shards import shard_options


def test_unset_runs_every_shard_here() -> None:
    assert shard_options({}) == {}


@pytest.mark.parametrize(
    ("text", "ids", "total"),
    [("0-3/8", [0, 1, 2, 3], 8), ("4,5,6,7/8", [4, 5, 6, 7], 8), ("0/1", [0], 1), ("1-2,5/6", [1, 2, 5], 6)],
)
def test_ranges_and_lists(text: str, ids: list[int], total: int) -> None:
    options = shard_options({"VANIKEYS_DISCORD_SHARDS": text})
    assert options == {"shard_ids": ids, "shard_count": total}
    bot = discord.AutoShardedClient(intents=discord.Intents.none(), **options)
    assert bot.shard_ids == ids and bot.shard_count == total


@pytest.mark.parametrize("text", ["0-3", "a/4", "0-9/8", "/8", "0-/4", "1/0"])
def test_malformed_values_name_the_variable(text: str) -> None:
    with pytest.raises(ConfigError, match="VANIKEYS_DISCORD_SHARDS"):
        shard_options({"VANIKEYS_DISCORD_SHARDS": text})
