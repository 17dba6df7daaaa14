"""bot/memory.py: freed memory goes back to the system, so a long-running bot's RSS levels off."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from bot import memory
from bot.app import create_app
from bot.config import Settings
from tests.bot.conftest import small_settings

ROOT = Path(__file__).resolve().parents[2]

# A worker thread (its own malloc arena, as the bot's database and executor threads have) allocates 96 MB in
# 64 KB blocks, below malloc's mmap threshold, and frees seven in eight: the survivors pin the heap, so the
# freed 84 MB stays resident until it is trimmed.
FRAGMENT = """
import sys, threading
from pathlib import Path
from bot.memory import release_free_memory

def rss_anon_mb():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("RssAnon:"))
    return int(line.split()[1]) / 1024

kept = []
def churn():
    blocks = [bytearray(64 * 1024) for _ in range(1536)]
    kept.extend(blocks[::8])
    blocks.clear()

thread = threading.Thread(target=churn)
thread.start(); thread.join()
before = rss_anon_mb()
if sys.argv[1] == "trim":
    release_free_memory()
print(before, rss_anon_mb())
"""


def _rss_before_after(mode: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", FRAGMENT, mode], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    return float(out[0]), float(out[1])


@pytest.mark.skipif(not memory.can_trim(), reason="glibc only: elsewhere there is no malloc_trim")
def test_freed_memory_stays_resident_until_trimmed() -> None:
    before, after = _rss_before_after("keep")
    assert after > before - 10, "without a trim the freed blocks stay resident (the growth the bot showed)"
    before, after = _rss_before_after("trim")
    assert before - after > 50, f"a trim gives most of the 84 MB freed back: {before:.0f} -> {after:.0f} MB"


async def test_trim_forever_trims_every_interval() -> None:
    calls = 0

    def release() -> bool:
        nonlocal calls
        calls += 1
        return True

    task = asyncio.create_task(memory.trim_forever(0.01, release))
    for _ in range(200):
        if calls >= 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert calls >= 3


async def test_zero_turns_trimming_off() -> None:
    def release() -> bool:
        raise AssertionError("trimmed although turned off")

    await asyncio.wait_for(memory.trim_forever(0.0, release), 1)  # returns at once


def test_the_interval_comes_from_the_environment() -> None:
    assert Settings.from_env({}, dotenv_path=None).memory_trim_s == 60.0
    assert Settings.from_env({"VANIKEYS_MEMORY_TRIM_S": "0"}, dotenv_path=None).memory_trim_s == 0.0
    assert Settings.from_env({"VANIKEYS_MEMORY_TRIM_S": "300"}, dotenv_path=None).memory_trim_s == 300.0


@pytest.mark.skipif(not memory.can_trim(), reason="glibc only")
async def test_the_running_bot_trims(tmp_path: Path) -> None:
    async with create_app(small_settings(tmp_path, memory_trim_s=30.0)):
        names = {task.get_name() for task in asyncio.all_tasks()}
        assert "memory trim" in names
    assert "memory trim" not in {task.get_name() for task in asyncio.all_tasks()}
