"""Discord-only settings, from the environment (a .env file honoured).

The shared Settings carry the token; everything here has a default, so
`DISCORD_TOKEN` alone runs the bot. Commands are not synced on start unless
VANIKEYS_DISCORD_SYNC_ON_START asks for it (development): Discord rate-limits
syncs, so production syncs once: `python -m bot.frontends.discord.sync` (a CLI
step that needs no gateway), then the owner's `/sync` slash command.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from bot.config import ConfigError

SYNC_GLOBAL = "global"
SYNC_CLEAR = "clear:"   # "clear:<guild id>": remove that server's copies


@dataclass(frozen=True)
class DiscordConfig:
    sync_on_start: tuple[str, ...] = ()   # "global" and/or guild ids; empty: never sync on start
    pull_cooldown_s: float = 4.0          # per user, between pulls (slash command or button)
    order_cooldown_s: float = 15.0        # per user, between orders
    odds_cooldown_s: float = 3.0          # per user, between /odds and order quotes (CPU-costly for new patterns)
    command_cooldown_s: float = 1.0       # per user, between other commands
    autocomplete_cooldown_s: float = 0.5  # per user, between pattern autocompletes that compute odds
    guild_ready_timeout_s: float = 2.0    # how long discord.py waits for GUILD_CREATEs before on_ready
    order_progress_gap_s: float = 2.5     # per channel, between order progress edits (2 of the 5 edits / 5 s)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *,
                 dotenv_path: str | Path | None = ".env") -> DiscordConfig:
        values: dict[str, str] = {}
        if dotenv_path is not None and Path(dotenv_path).is_file():
            values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        kwargs: dict[str, object] = {}
        sync = values.get("VANIKEYS_DISCORD_SYNC_ON_START", "").strip()
        if sync:
            kwargs["sync_on_start"] = _sync_targets(sync)
        for var, name in (("VANIKEYS_DISCORD_PULL_COOLDOWN_S", "pull_cooldown_s"),
                          ("VANIKEYS_DISCORD_ORDER_COOLDOWN_S", "order_cooldown_s"),
                          ("VANIKEYS_DISCORD_ODDS_COOLDOWN_S", "odds_cooldown_s"),
                          ("VANIKEYS_DISCORD_COMMAND_COOLDOWN_S", "command_cooldown_s"),
                          ("VANIKEYS_DISCORD_ORDER_PROGRESS_GAP_S", "order_progress_gap_s")):
            if values.get(var, "").strip():
                kwargs[name] = _seconds(var, values[var])
        return cls(**kwargs)  # type: ignore[arg-type]


def _sync_targets(text: str) -> tuple[str, ...]:
    targets = tuple(t.strip().lower() for t in text.split(",") if t.strip())
    for target in targets:
        if target != SYNC_GLOBAL and not target.isdigit():
            raise ConfigError(f"VANIKEYS_DISCORD_SYNC_ON_START={text!r}: set 'global' or comma-separated "
                              "server ids, e.g. 'global' or '123456789012345678'")
    return targets


def _seconds(var: str, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ConfigError(f"{var}={text.strip()!r} is not a number: set seconds, such as 4") from None
    if value < 0 or not math.isfinite(value):
        raise ConfigError(f"{var}={text.strip()!r} must be 0 or more seconds")
    return value
