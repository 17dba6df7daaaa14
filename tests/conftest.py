"""Fixtures every test directory may use; each is safe under pytest-xdist's parallel workers (tests/README.md).

warm_python   one warm interpreter per worker process: `python -m MODULE` children forked from it
              (tests/warm.py), for tests that run the command line as a separate process
spec_conformance  (every test) fails a test during which the Discord or Telegram fake saw a request, or
              sent an answer or event, that the platform's published spec does not allow (tests/specs)
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
