"""bot/odds_cache.py: odds off the event loop, once per pattern, in a bounded cache."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

import gpu_worker.odds as odds_module
from bot.odds_cache import OddsCache, odds_workers, shared_odds_cache
from gpu_worker.odds import cached_odds, odds
from gpu_worker.patterns import parse_pattern


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    odds_module.clear_odds_cache()


async def test_thread_mode_computes_once_and_caches() -> None:
    cache = OddsCache(workers=0)
    pattern = parse_pattern("btc", "ab cd")
    first, second = await asyncio.gather(cache.get(pattern), cache.get(pattern))  # one computation, shared
    assert first == second == odds(pattern)
    assert cache.computed == 1
    assert await cache.get(pattern) is cached_odds(pattern)
    assert cache.computed == 1


async def test_process_mode_computes_in_another_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_here(pattern: object) -> None:
        raise AssertionError("computed on the bot's own interpreter")

    cache = OddsCache(workers=1)
    try:
        pattern = parse_pattern("eth", "dead beef cafe babe")
        expected = odds_module._odds(pattern)
        odds_module.clear_odds_cache()
        monkeypatch.setattr(odds_module, "_odds", not_here)  # the worker process has the real one
        got = await cache.get(pattern)
        assert got == expected
        assert cached_odds(pattern) == expected  # kept here, so the job runner's odds() hits it
        assert odds(pattern) == expected
    finally:
        cache.close()


async def test_a_killed_worker_is_replaced_and_the_answer_still_comes() -> None:
    cache = OddsCache(workers=1)
    try:
        await cache.get(parse_pattern("btc", "^ab"))
        pool = cache._pool
        assert pool is not None
        for pid in list(pool._processes):  # type: ignore[union-attr]
            os.kill(pid, signal.SIGKILL)
        pattern = parse_pattern("btc", "go go")
        assert await cache.get(pattern) == odds_module._odds(pattern)
        assert await cache.get(parse_pattern("btc", "^cd")) is not None  # and the next one gets a new pool
    finally:
        cache.close()


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(odds_module, "ODDS_CACHE_SIZE", 3)
    patterns = [parse_pattern("eth", f"^{c}") for c in "abcde"]
    for pattern in patterns:
        odds(pattern)
    assert len(odds_module._CACHE) == 3
    assert cached_odds(patterns[0]) is None and cached_odds(patterns[1]) is None
    assert cached_odds(patterns[4]) is not None


def test_workers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for text, expected in (("", 1), ("0", 0), ("2", 2), ("٣", 1), ("1e309", 1), ("99", 1), ("-1", 1)):
        monkeypatch.setenv("VANIKEYS_ODDS_WORKERS", text)
        assert odds_workers() == expected, text
    assert shared_odds_cache() is shared_odds_cache()


def test_workers_let_go_of_the_terminal_and_die_with_a_crashed_bot() -> None:
    """A bot that exits abruptly (os._exit, as after a crash) leaves no worker holding its stdout or running on."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    script = (
        "import asyncio, os\n"
        "from bot.odds_cache import OddsCache\n"
        "from gpu_worker.patterns import parse_pattern\n"
        "cache = OddsCache(workers=1)\n"
        "asyncio.run(cache.get(parse_pattern('btc', 'ab cd')))\n"
        "print(*cache._pool._processes, flush=True)\n"
        "os._exit(0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(repo)})  # returns only once nobody holds stdout
    assert done.returncode == 0, done.stderr
    pids = [int(pid) for pid in done.stdout.split()]
    assert pids
    deadline = time.monotonic() + 30
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if _alive(pid)]
        time.sleep(0.1)
    assert pids == [], "an odds worker outlived its bot"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:  # a zombie, waiting to be reaped, has stopped running
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
