"""The grind job wire format: defaults, validation, and error shapes."""

from __future__ import annotations

import json

import pytest

from gpu_worker.errors import VanikeysError
from gpu_worker.job import GrindHit, GrindJob, GrindResult, error_payload

DESIGN_EXAMPLE = {
    "v": 1,
    "format": "btc",
    "pattern": "^Love",
    "case": "insensitive",
    "fuzzy": False,
    "budget": 268435456,
    "stop": "budget",
    "top": 1,
    "split_pubkey": None,
    "time_limit_s": 60,
}


def test_design_example_parses_and_defaults_match() -> None:
    full = GrindJob.parse(DESIGN_EXAMPLE)
    minimal = GrindJob.parse({"v": 1, "format": "btc", "pattern": "^Love", "budget": 268435456})
    assert full == minimal
    assert json.loads(full.model_dump_json()) == DESIGN_EXAMPLE


def test_parse_accepts_json_text() -> None:
    assert GrindJob.parse(json.dumps(DESIGN_EXAMPLE)).budget == 268435456


@pytest.mark.parametrize(
    ("job", "code"),
    [
        ({"v": 2, "format": "btc", "pattern": "a", "budget": 1}, "bad_job"),
        ({"v": 1, "format": "doge", "pattern": "a", "budget": 1}, "bad_format"),
        ({"v": 1, "format": "btc", "pattern": "a", "budget": 0}, "bad_job"),
        ({"v": 1, "format": "btc", "pattern": "a", "budget": "10"}, "bad_job"),
        ({"v": 1, "format": "btc", "pattern": "a", "budget": True}, "bad_job"),
        ({"v": 1, "format": "btc", "pattern": "a", "budget": 10, "stop": "forever"}, "bad_job"),
        ({"v": 1, "format": "btc", "pattern": "a", "budget": 10, "top": 0}, "bad_job"),
        ({"v": 1, "format": "btc", "pattern": "a", "budget": 10, "time_limit_s": -1}, "bad_job"),
        ({"v": 1, "format": "btc", "pattern": "a", "budget": 10, "seed": 1}, "bad_job"),
        ({"v": 1, "format": "btc", "pattern": "a", "budget": 10, "split_pubkey": "04zz"}, "bad_pubkey"),
        ({"v": 1, "format": "btc", "pattern": "0", "budget": 10}, "bad_pattern"),
        ({"format": "btc", "pattern": "a", "budget": 10}, "bad_job"),
        ("{not json", "bad_job"),
        ([1, 2], "bad_job"),
        (None, "bad_job"),
    ],
)
def test_malformed_jobs_raise_specific_errors(job: object, code: str) -> None:
    with pytest.raises(VanikeysError) as err:
        GrindJob.parse(job)
    assert err.value.code == code
    assert "\n" not in err.value.message


def test_split_pubkey_is_normalised_to_compressed() -> None:
    uncompressed = (
        "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"
    )
    job = GrindJob.parse({"v": 1, "format": "btc", "pattern": "a", "budget": 6, "split_pubkey": uncompressed})
    assert job.split_pubkey == "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"


def test_hits_never_show_their_secret_in_repr() -> None:
    hit = GrindHit(secret="ab" * 32, secret_kind="private_key", identifier="1abc", score=1, full=False)
    assert "ab" * 32 not in repr(hit) and "ab" * 32 not in str(hit)
    result = GrindResult(checked=6, elapsed_s=0.1, backend="python", device="cpu", results=[hit])
    assert result.best == hit and not result.found_full


def test_error_payload_shape() -> None:
    assert error_payload(VanikeysError("bad_pattern", "no")) == {"error": "bad_pattern: no"}


@pytest.mark.parametrize(
    ("job", "words"),
    [
        ({"v": 1, "format": "btc", "pattern": "", "budget": 10}, "the pattern is empty"),
        ({"v": 1, "format": "btc", "pattern": "a"}, "'budget': it is missing"),
        ({"v": 1, "format": "btc", "pattern": "a", "budget": 0}, "'budget': it must be more than 0"),
        ({"v": 1, "format": "btc", "pattern": "a", "budget": "lots"}, "'budget': it must be a number"),
        ({"v": 1, "format": "btc", "pattern": "a", "budget": 5, "bogus": 1}, "'bogus': not a field of a grind job"),
        ({"v": 1, "format": "btc", "pattern": "a", "budget": 5, "tag": "x"}, "'tag': it has characters or a shape"),
    ],
)
def test_a_bad_job_is_told_in_the_projects_words_never_pydantics(job: dict, words: str) -> None:
    with pytest.raises(VanikeysError) as err:
        GrindJob.parse(job)
    assert words in err.value.message
    assert not any(p in err.value.message for p in ("should", "Input", "Field required", "String"))
