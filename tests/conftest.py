"""Fixtures every test directory may use; each is safe under pytest-xdist's parallel workers (tests/README.md).

warm_python   one warm interpreter per worker process: `python -m MODULE` children forked from it
              (tests/warm.py), for tests that run the command line as a separate process
A test's `record_property("report", line)` lines (the kernels' register and spill figures) are printed
at the end of the run: a worker's own output is not shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from _pytest.terminal import TerminalReporter

if TYPE_CHECKING:
    from tests.warm import WarmInterpreter


@pytest.fixture(scope="session")
def warm_python() -> WarmInterpreter:
    from tests.warm import shared

    return shared()


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    lines = [str(value) for reports in terminalreporter.stats.values() for report in reports
             if getattr(report, "when", None) == "call"
             for name, value in report.user_properties if name == "report"]
    if lines:
        terminalreporter.section("reports")
        for line in lines:
            terminalreporter.write_line(line)
