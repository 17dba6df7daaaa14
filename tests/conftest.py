"""Fixtures every test directory may use; each is safe under pytest-xdist's parallel workers (tests/README.md).

warm_python   one warm interpreter per worker process: `python -m MODULE` children forked from it
              (tests/warm.py), for tests that run the command line as a separate process
spec_conformance  (every test) fails a test during which the Discord or Telegram fake saw a request, or
              sent an answer or event, that the platform's published spec does not allow (tests/specs)
The longest files are collected first (LONGEST_FILES_FIRST), for pytest-xdist's sake.
A test's `record_property("report", line)` lines (the kernels' register and spill figures) are printed
at the end of the run: a worker's own output is not shown.
Bytecode is cached even where the environment says not to write it (PYTHONDONTWRITEBYTECODE), under the
temporary directory rather than beside the sources (keep_bytecode).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from _pytest.terminal import TerminalReporter

if TYPE_CHECKING:
    from tests.warm import WarmInterpreter


def keep_bytecode() -> None:
    """Without a bytecode cache every one of the hundreds of processes the suite starts (its workers, the warm
    interpreters, fork servers, command-line runs, staged images) compiles every module it imports again, and
    each worker rewrites every test file's asserts again. This process's children inherit the setting, and the
    workers are its children: it runs in the first process, before any worker starts."""
    if not sys.dont_write_bytecode and "PYTHONDONTWRITEBYTECODE" not in os.environ:
        return
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False
    prefix = os.environ.setdefault("PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), "vanikeys-bytecode"))
    sys.pycache_prefix = prefix


keep_bytecode()


# The longest files (on .ci/run's empty caches), longest first. pytest-xdist hands whole files (--dist loadfile)
# to whichever worker is free in collection order, so these go out first and the run ends on short files, not
# with one worker finishing a long one while the other idles. The rest keep their order; so does every file's
# tests. Only the order of files changes, never what runs.
LONGEST_FILES_FIRST = (
    "tests/bot/test_takeover.py",
    "tests/deploy/test_staged_deployables.py",
    "tests/test_static_checks.py",  # mypy with a cold cache
    "tests/kernel/test_nvrtc.py",  # four architectures on an empty kernel cache
    "tests/kernel/test_nvcc.py",
    "tests/load/test_load_smoke.py",
    "tests/deploy/test_startup_faults.py",
    "tests/bot/test_storage_faults.py",
    "tests/bot/test_fault_words.py",
    "tests/telegram/test_group_privacy.py",
    "tests/worker/test_worker_process.py",
    "tests/engine/test_odds_bound.py",
    "tests/worker/test_provider_faults.py",
    "tests/worker/test_router.py",
    "tests/worker/test_runpod_client.py",
    "tests/worker/test_survival.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: same order otherwise


@pytest.fixture(scope="session")
def warm_python() -> WarmInterpreter:
    from tests.warm import shared

    return shared()


@pytest.fixture(autouse=True)
def spec_conformance() -> Iterator[None]:
    from tests.specs import conformance

    conformance.take()
    yield
    faults = conformance.take()
    if faults:
        shown = "\n".join(faults[:20]) + (f"\n... and {len(faults) - 20} more" if len(faults) > 20 else "")
        pytest.fail(
            f"{len(faults)} exchange(s) with a fake do not conform to the platform's spec (tests/specs):\n{shown}",
            pytrace=False,
        )


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    lines = [
        str(value)
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in report.user_properties
        if name == "report"
    ]
    if lines:
        terminalreporter.section("reports")
        for line in lines:
            terminalreporter.write_line(line)
