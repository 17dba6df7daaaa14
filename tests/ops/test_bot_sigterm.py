"""`vanikeys bot` stops on SIGTERM within seconds, whatever its console's standard input is doing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STOP_LIMIT_S = 5.0


def test_sigterm_stops_the_bot_while_its_console_input_stays_open(tmp_path: Path) -> None:
    """Before: the console read standard input in asyncio's executor thread, and the event loop's shutdown waited
    for that read, so with stdin open (a terminal multiplexer, a pipe) the bot ignored SIGTERM until killed."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_"))
    }
    env.update(
        VANIKEYS_DB=str(tmp_path / "b.db"),
        VANIKEYS_BACKEND="python",
        VANIKEYS_VAULT_KEY="45" * 32,
        PYTHONPATH=str(REPO),
    )
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "bot"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert bot.stdin is not None and bot.stdout is not None
        bot.stdin.write("/balance\n")
        bot.stdin.flush()
        assert "tokens" in bot.stdout.readline()  # the console is up and waiting on the open stdin
        bot.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        bot.wait(timeout=30)
        took = time.monotonic() - sent
    finally:
        if bot.poll() is None:
            bot.kill()
        bot.communicate()
    assert bot.returncode == 0
    assert took < STOP_LIMIT_S, f"took {took:.1f} s to stop after SIGTERM"
