"""The bot's `vanikeys` subcommands, a module each: bot/cli.py lists them and imports one only when it runs.

Shared here: reading the settings, and the one-line failure every command ends with.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings


def settings() -> Settings:
    """The environment's settings, or exit status 2 with one line naming what to fix."""
    from bot.config import ConfigError, Settings
    from gpu_worker.localized import in_current_locale

    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise SystemExit(fail(in_current_locale(exc))) from None


def fail(message: str) -> int:
    """Print `message` as one `vanikeys: error:` line on stderr; returns the exit code 2."""
    print(f"vanikeys: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def storage_faults() -> tuple[type[BaseException], ...]:
    """Faults that stop the bot from starting, answered with one line and exit code 2 (never a traceback)."""
    from bot.storage import StorageError
    from bot.vault import VaultError

    return StorageError, VaultError
