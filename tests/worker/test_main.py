"""`python -m gpu_worker`'s own argument handling (the SDK's modes run in test_sdk_local_server.py)."""

from __future__ import annotations

import pytest

from gpu_worker.__main__ import _given, _safe_log_level_args


@pytest.mark.parametrize(
    ("argv", "kept"),
    [
        (["--rp_log_level", "DEBUG", "--rp_serve_api"], ["--rp_serve_api"]),
        (["--rp_log_level=trace", "--rp_api_port", "9000"], ["--rp_api_port", "9000"]),
        (["--rp_log_level", "WARN"], ["--rp_log_level", "WARN"]),
        (["--rp_log_level=ERROR", "--test_input", "{}"], ["--rp_log_level=ERROR", "--test_input", "{}"]),
        (["--rp_log_level"], ["--rp_log_level"]),  # left for the SDK's own parser to reject
    ],
)
def test_debug_log_levels_are_dropped_and_the_rest_passed_on(argv: list[str], kept: list[str]) -> None:
    assert _safe_log_level_args(argv) == kept


def test_flags_are_recognised_in_both_spellings() -> None:
    assert _given(["--test_input", "{}"], "--test_input")
    assert _given(["--test_input={}"], "--test_input")
    assert not _given(["--test_inputs"], "--test_input")
