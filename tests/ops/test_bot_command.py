"""`vanikeys bot` as an operator runs it: /metrics on its own port (the webhook's only when opted in), JSON log lines
without the configured keys."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.payments.stripe_thread import stripe_in_thread

REPO = Path(__file__).resolve().parents[2]
STRIPE_KEY, WEBHOOK_SECRET = "sk_test_opsKey0123456789", "whsec_opsSecret0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


def run_bot(tmp_path: Path, check: Callable[[int], None], **env: str) -> str:
    """Start `vanikeys bot` (console closed, Stripe configured), wait for /healthz, run check(), SIGTERM; stderr."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_"))
    }
    webhook_port = free_port()
    base.update(
        VANIKEYS_DB=str(tmp_path / "b.db"),
        VANIKEYS_BACKEND="python",
        VANIKEYS_VAULT_KEY="44" * 32,
        PYTHONPATH=str(REPO),
        STRIPE_API_KEY=STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        VANIKEYS_WEBHOOK_PORT=str(webhook_port),
        **env,
    )
    stripe = contextlib.ExitStack()
    fake_stripe = stripe.enter_context(stripe_in_thread(STRIPE_KEY))  # the bot reaches Stripe at start (bot/startup.py)
    base["STRIPE_API_BASE"] = fake_stripe.url
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "bot"],
        cwd=tmp_path,
        env=base,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and bot.poll() is None:
            try:
                if get(f"http://127.0.0.1:{webhook_port}/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        assert bot.poll() is None, bot.communicate()[1]
        check(webhook_port)
        bot.send_signal(signal.SIGTERM)
        _, stderr = bot.communicate(timeout=30)
        assert bot.returncode == 0, stderr
        return stderr
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.communicate()
        stripe.close()


def test_metrics_on_their_own_port_and_never_beside_the_webhook(tmp_path: Path) -> None:
    metrics_port = free_port()

    def check(webhook_port: int) -> None:
        status, text = get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200 and "vanikeys_tokens_outstanding 0.0" in text and "vanikeys_jobs_total" in text
        assert get(f"http://127.0.0.1:{webhook_port}/metrics")[0] == 404  # a loopback webhook too

    stderr = run_bot(tmp_path, check, VANIKEYS_METRICS_PORT=str(metrics_port), VANIKEYS_LOG_FORMAT="json")
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert lines and all({"ts", "level", "logger"} <= set(line) for line in lines)
    assert STRIPE_KEY not in stderr and WEBHOOK_SECRET not in stderr and "44" * 32 not in stderr


def test_the_webhook_serves_metrics_only_when_the_operator_opts_in(tmp_path: Path) -> None:
    def closed(webhook_port: int) -> None:
        assert get(f"http://127.0.0.1:{webhook_port}/metrics")[0] == 404

    def opened(webhook_port: int) -> None:
        assert get(f"http://127.0.0.1:{webhook_port}/metrics")[0] == 200

    run_bot(tmp_path, closed, VANIKEYS_WEBHOOK_HOST="0.0.0.0", VANIKEYS_METRICS="on")
    stderr = run_bot(tmp_path, opened, VANIKEYS_METRICS_ON_WEBHOOK="yes")
    assert "VANIKEYS_METRICS_ON_WEBHOOK" in stderr  # the warning that says what it exposes


def test_bad_log_and_metrics_settings_stop_the_bot_with_one_line(tmp_path: Path) -> None:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_"))
    }
    base.update(
        VANIKEYS_DB=str(tmp_path / "b.db"),
        VANIKEYS_BACKEND="python",
        VANIKEYS_VAULT_KEY="44" * 32,
        PYTHONPATH=str(REPO),
    )
    for bad, says in (
        ({"VANIKEYS_LOG_FORMAT": "xml"}, "VANIKEYS_LOG_FORMAT"),
        ({"VANIKEYS_METRICS_PORT": "9100", "VANIKEYS_METRICS_HOST": "0.0.0.0"}, "VANIKEYS_METRICS=on"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", "bot"],
            cwd=tmp_path,
            env={**base, **bad},
            input="",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and says in done.stderr and "Traceback" not in done.stderr
