"""Parsing a worker's result keeps nothing: pydantic-core's JSON string cache held every identifier it parsed
(about 1.3 MB once full), a slow rise in a busy bot's memory (issue 17, point 4)."""

from __future__ import annotations

import gc
import secrets
import tracemalloc

from gpu_worker.job import GrindResult


def result_json(identifier: str) -> str:
    # %-formatting: with str.format or an f-string every brace of the JSON would be doubled.
    return (
        '{"v":1,"checked":256,"elapsed_s":0.1,"backend":"native","device":"cpu","results":[{"secret":"%s",'  # noqa: UP031
        '"secret_kind":"private_key","identifier":"%s","score":1,"full":false}]}' % (secrets.token_hex(32), identifier)
    )


def test_identifiers_are_not_kept_by_a_parse_cache() -> None:
    text = result_json("1" + "K" * 33)
    first, second = GrindResult.model_validate_json(text), GrindResult.model_validate_json(text)
    assert first.results[0].identifier == second.results[0].identifier
    assert first.results[0].identifier is not second.results[0].identifier, "served from pydantic's string cache"


def test_parsing_many_results_retains_no_memory() -> None:
    texts = [result_json("1" + secrets.token_hex(17)[:33]) for _ in range(2000)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for text in texts:
            GrindResult.model_validate_json(text)
        gc.collect()
        grown = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
    finally:
        tracemalloc.stop()
    assert grown < 2000 * 10, f"{grown} bytes kept after parsing 2,000 results (the cache kept ~83 bytes each)"
