"""bot/memory.py: the bot's process keeps to two malloc arenas, so memory freed by one thread is reused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings

ROOT = Path(__file__).resolve().parents[2]
GLIBC = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None

# Eight threads alive at once, each allocating: glibc gives each its own arena (a 64 MiB-aligned heap mapping)
# unless limited. The count of such mappings is the count of thread arenas.
ARENAS = """
import sys, threading
from pathlib import Path
from bot.memory import limit_malloc_arenas

if sys.argv[1] != "0":
    limit_malloc_arenas(int(sys.argv[1]))
go = threading.Barrier(8)
hold = threading.Event()
def work():
    go.wait()
    blocks = [bytearray(4096) for _ in range(64)]
    hold.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
maps = Path("/proc/self/maps").read_text().splitlines()
aligned = sum(1 for line in maps if line.split()[-1].startswith("[") is False and len(line.split()) == 5
              and int(line.split("-")[0], 16) % (64 << 20) == 0)
hold.set()
for t in threads: t.join()
print(aligned)
"""


def _thread_arenas(limit: int) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run(
        [sys.executable, "-c", ARENAS, str(limit)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return int(out.split()[-1])


@pytest.mark.skipif(not GLIBC or not sys.platform.startswith("linux"), reason="glibc's malloc arenas only")
def test_the_limit_keeps_threads_to_few_arenas() -> None:
    assert _thread_arenas(0) >= 4, "without a limit each allocating thread gets an arena of its own"
    # An unrelated mapping can land 64 MiB-aligned by chance and count as an arena; chance only ever adds, so the
    # least of three runs is the count the limit gives.
    assert min(_thread_arenas(2) for _ in range(3)) <= 1, (
        "two arenas: the main one and at most one for every other thread"
    )


def test_the_limit_comes_from_the_environment() -> None:
    assert Settings.from_env({}, dotenv_path=None).malloc_arenas == 2
    assert Settings.from_env({"VANIKEYS_MALLOC_ARENAS": "0"}, dotenv_path=None).malloc_arenas == 0
    assert Settings.from_env({"VANIKEYS_MALLOC_ARENAS": "4"}, dotenv_path=None).malloc_arenas == 4


def test_an_explicit_malloc_arena_max_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.memory import limit_malloc_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas(2) is False
    assert limit_malloc_arenas(0) is False
