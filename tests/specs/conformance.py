"""What the fakes saw that the platforms' published specs do not allow, collected per test.

The fakes (tests/discord/fake_discord.py, tests/telegram/fake_bot_api.py) report every request they receive
and every answer, update and gateway event they send; `spec_conformance` in tests/conftest.py fails the test
that produced a fault. A test that sends a non-conformant request on purpose (to see the fake refuse it as
the platform would) wraps it in `expecting_faults()` and asserts on what was caught.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_faults: list[str] = []
_expected: list[list[str]] = []  # the innermost expecting_faults() collects instead of the test's list


def report(faults: list[str]) -> None:
    if faults:
        (_expected[-1] if _expected else _faults).extend(faults)


def take() -> list[str]:
    """The faults reported since the last take(), cleared."""
    found = list(_faults)
    _faults.clear()
    return found


@contextmanager
def expecting_faults() -> Iterator[list[str]]:
    """Faults reported inside go to the list this yields, not to the test's verdict."""
    caught: list[str] = []
    _expected.append(caught)
    try:
        yield caught
    finally:
        _expected.remove(caught)


def discord_exchange(method: str, path: str, query: dict[str, str], body: Any, status: int, answer: bytes) -> None:
    from tests.specs.discord_spec import spec

    checker = spec()
    report(checker.check_request(method, path, query, body) + checker.check_response(method, path, status, answer))


def discord_event(event: str, data: dict[str, Any]) -> None:
    from tests.specs.discord_spec import spec

    report(spec().check_event(event, data))


def telegram_exchange(method: str, params: dict[str, Any], answer: dict[str, Any]) -> None:
    from tests.specs.telegram_spec import spec

    checker = spec()
    faults = checker.check_request(method, params)
    if answer.get("ok") and method in checker.returns:
        faults += checker.check_result(method, answer["result"])
    elif not answer.get("ok"):
        faults += (
            checker.check_object("ResponseParameters", answer["parameters"], f"{method} error parameters")
            if "parameters" in answer
            else []
        )
    report(faults)


def telegram_update(update: dict[str, Any]) -> None:
    from tests.specs.telegram_spec import spec

    report(spec().check_object("Update", update, f"update {update.get('update_id')}"))
