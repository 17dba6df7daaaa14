"""bot/odds_cache.py: odds off the event loop, once per pattern, in a bounded cache."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

import gpu_worker.odds as odds_module
from bot.answers import ServiceError
from bot.odds_cache import (
    OddsCache,
    OddsCaps,
    odds_caps,
    odds_workers,
    shared_odds_cache,
)
from gpu_worker.odds import cache as cache_module, cached_odds, odds
from gpu_worker.odds.model import compute
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
        expected = compute(pattern)
        odds_module.clear_odds_cache()
        monkeypatch.setattr(cache_module, "compute", not_here)  # the worker process has the real one
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
        pids = cache.worker_pids()
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        pattern = parse_pattern("btc", "go go")
        assert await cache.get(pattern) == compute(pattern)
        assert await cache.get(parse_pattern("btc", "^cd")) is not None  # and the next one gets a new worker
        assert cache.replaced == 1 and cache.worker_pids() and set(cache.worker_pids()).isdisjoint(pids)
    finally:
        cache.close()


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "ODDS_CACHE_SIZE", 3)
    patterns = [parse_pattern("eth", f"^{c}") for c in "abcde"]
    for pattern in patterns:
        odds(pattern)
    assert len(cache_module._CACHE) == 3
    assert cached_odds(patterns[0]) is None and cached_odds(patterns[1]) is None
    assert cached_odds(patterns[4]) is not None


def test_workers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for text, expected in (("", 1), ("0", 0), ("2", 2), ("٣", 1), ("1e309", 1), ("99", 1), ("-1", 1)):
        monkeypatch.setenv("VANIKEYS_ODDS_WORKERS", text)
        assert odds_workers() == expected, text
    assert shared_odds_cache() is shared_odds_cache()


def test_caps_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert odds_caps() == OddsCaps()
    monkeypatch.setenv("VANIKEYS_ODDS_TIME_CAP_S", "5")
    monkeypatch.setenv("VANIKEYS_ODDS_MEMORY_MB", "1024")
    assert odds_caps() == OddsCaps(time_s=5, memory_mb=1024)
    monkeypatch.setenv("VANIKEYS_ODDS_TIME_CAP_S", "0")  # below the minimum: the default, with a warning
    monkeypatch.setenv("VANIKEYS_ODDS_MEMORY_MB", "lots")
    assert odds_caps() == OddsCaps()


async def test_a_hostile_pattern_never_holds_an_ordinary_answer() -> None:
    """One worker; a pattern that would take a minute and an ordinary one, submitted together.

    The hostile one is refused in one line once it passes the time cap, its worker is replaced, and the
    ordinary answer comes back within the cap plus a worker's start, not after the minute.
    """
    from tests.engine.odds_workers_fixtures import HOSTILE, spin_on_hostile

    cache = OddsCache(workers=1, caps=OddsCaps(time_s=1, memory_mb=768), compute=spin_on_hostile)
    try:
        await cache.get(parse_pattern("btc", "^ab"))  # started and warm
        (first,) = cache.worker_pids()
        hostile, ordinary = parse_pattern("btc", HOSTILE), parse_pattern("eth", "dead beef")
        began = time.monotonic()
        results = await asyncio.gather(cache.get(hostile), cache.get(ordinary), return_exceptions=True)
        took = time.monotonic() - began
        refused, answer = results
        assert isinstance(refused, ServiceError) and refused.code == "too_hard"
        assert "\n" not in refused.message and "longer than 1 s" in refused.message
        assert answer == compute(ordinary)
        assert took < 30, took  # the cap (1 s) plus a cold worker start on a loaded machine; the hostile one: 60 s
        assert cache.replaced == 1 and first not in cache.worker_pids()
        assert await cache.get(parse_pattern("btc", "^cd")) is not None  # the replacement answers
    finally:
        cache.close()


async def test_a_pattern_over_the_memory_cap_is_refused_and_its_worker_replaced() -> None:
    from tests.engine.odds_workers_fixtures import HOSTILE, allocate_on_hostile

    cache = OddsCache(workers=1, caps=OddsCaps(time_s=60, memory_mb=768), compute=allocate_on_hostile)
    try:
        with pytest.raises(ServiceError, match="more than 768 MB") as refused:
            await cache.get(parse_pattern("btc", HOSTILE))
        assert refused.value.code == "too_hard"
        assert cache.replaced == 1
        pattern = parse_pattern("btc", "go go")
        assert await cache.get(pattern) == compute(pattern)
    finally:
        cache.close()


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
        "print(*cache.worker_pids(), flush=True)\n"
        "os._exit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )  # returns only once nobody holds stdout
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


async def test_the_refusal_reaches_the_person_who_asked(tmp_path: Path) -> None:
    """Through the service, as every front end calls it: a one-line ServiceError, and the next /odds answers."""
    from bot.app import create_app
    from tests.bot.conftest import small_settings
    from tests.engine.odds_workers_fixtures import HOSTILE, spin_on_hostile

    async with create_app(small_settings(tmp_path)) as app:
        cache = OddsCache(workers=1, caps=OddsCaps(time_s=1, memory_mb=768), compute=spin_on_hostile)
        app.service.odds_cache = cache
        try:
            with pytest.raises(ServiceError, match="longer than 1 s to work out: use fewer") as refused:
                await app.service.odds(HOSTILE, "btc")
            assert refused.value.code == "too_hard" and "\n" not in refused.value.message
            answer = await app.service.odds("^ab", "btc")
            assert answer.pattern == "^ab" and 0 < answer.p_full < 1
        finally:
            cache.close()
