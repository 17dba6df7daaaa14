"""Fixtures every test directory may use; each is safe under pytest-xdist's parallel workers (tests/README.md).

warm_python   one warm interpreter per worker process: `python -m MODULE` children forked from it
              (tests/warm.py), for tests that run the command line as a separate process
A test's `record_property("report", line)` lines (the kernels' register and spill figures) are printed
at the end of the run: a worker's own output is not shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from _pytest.terminal import TerminalReporter

if TYPE_CHECKING:
    from tests.warm import WarmInterpreter

# What the warm interpreter imports before it forks: the command line and everything `vanikeys console`,
# `vanikeys bot` and the engine's commands run (importing more changes nothing a child does, only its speed).
WARM_MODULES = (
    "bot.cli", "bot.cli_commands.console", "bot.cli_commands.run", "bot.cli_commands.vault", "bot.cli_commands.costs",
    "bot.app", "bot.frontends.console", "bot.storage.sqlite", "bot.storage.postgres", "bot.admin", "bot.backup",
    "payments.webhook", "gpu_worker.cli", "gpu_worker.bench", "gpu_worker.grinders.python", "gpu_worker.verify",
    "rich.progress",
)


@pytest.fixture(scope="session")
def warm_python() -> Iterator[WarmInterpreter]:
    from tests.warm import WarmInterpreter

    warm = WarmInterpreter(WARM_MODULES)
    try:
        yield warm
    finally:
        warm.close()


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    lines = [str(value) for reports in terminalreporter.stats.values() for report in reports
             if getattr(report, "when", None) == "call"
             for name, value in report.user_properties if name == "report"]
    if lines:
        terminalreporter.section("reports")
        for line in lines:
            terminalreporter.write_line(line)
