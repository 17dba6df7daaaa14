"""Discord-only settings: the Discord view of the one typed configuration (bot/settings.py).

The shared Settings carry the token; everything here has a default, so
`DISCORD_TOKEN` alone runs the bot. Commands are not synced on start unless
VANIKEYS_DISCORD_SYNC_ON_START asks for it (development): Discord rate-limits
syncs, so production syncs once: `python -m bot.frontends.discord.sync` (a CLI
step that needs no gateway), then the owner's `/sync` slash command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.settings import VanikeysSettings, load_settings

SYNC_GLOBAL = "global"
SYNC_CLEAR = "clear:"  # "clear:<guild id>": remove that server's copies


@dataclass(frozen=True)
class DiscordConfig:
    """The Discord front end's knobs (cooldowns, sync on start, pacing, the stop's grace), defaults as above."""

    sync_on_start: tuple[str, ...] = ()  # "global" and/or guild ids; empty: never sync on start
    pull_cooldown_s: float = 4.0  # per user, between pulls (slash command or button)
    order_cooldown_s: float = 15.0  # per user, between orders
    odds_cooldown_s: float = 3.0  # per user, between /odds and order quotes (CPU-costly for new patterns)
    command_cooldown_s: float = 1.0  # per user, between other commands
    autocomplete_cooldown_s: float = 0.5  # per user, between pattern autocompletes that compute odds
    guild_ready_timeout_s: float = 2.0  # how long discord.py waits for GUILD_CREATEs before on_ready
    order_progress_gap_s: float = 2.5  # per channel, between order progress edits (2 of the 5 edits / 5 s)
    stop_grace_s: float = 3.0  # at a stop, how long sends in flight get before what waits is kept

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env"
    ) -> DiscordConfig:
        """from_settings over load_settings(environ, dotenv_path): the process environment and .env by default."""
        return cls.from_settings(load_settings(environ, dotenv_path=dotenv_path))

    @classmethod
    def from_settings(cls, one: VanikeysSettings) -> DiscordConfig:
        """sync_on_start, the pull/order/odds/command cooldowns and the progress gap from the settings; the autocomplete
        cooldown, the guild-ready timeout and the stop's grace keep their defaults."""
        return cls(
            sync_on_start=one.discord_sync_on_start,
            pull_cooldown_s=one.discord_pull_cooldown_s,
            order_cooldown_s=one.discord_order_cooldown_s,
            odds_cooldown_s=one.discord_odds_cooldown_s,
            command_cooldown_s=one.discord_command_cooldown_s,
            order_progress_gap_s=one.discord_order_progress_gap_s,
        )
