"""Sealed secrets: only the bot's key opens them, and a box cannot be moved, altered or skipped."""

from __future__ import annotations

import base64

import pytest

from gpu_worker.errors import VanikeysError
from gpu_worker.grinders import grind
from gpu_worker.job import GrindJob, GrindResult
from gpu_worker.sealing import ResultSealer, seal_result
from gpu_worker.verify import verify_hit

JOB = GrindJob.parse({"v": 1, "format": "eth", "pattern": "ab", "budget": 300, "top": 2})


@pytest.fixture(scope="module")
def plain() -> GrindResult:
    return grind(JOB, "python", start_scalar=12345)


def test_a_sealed_result_crosses_json_and_opens_to_the_same_keys(plain: GrindResult) -> None:
    sealer = ResultSealer.from_vault_key(bytes(range(32)))
    wire = seal_result(plain, sealer.public_hex).model_dump_json()
    assert all(hit.secret not in wire for hit in plain.results)
    opened = sealer.open_result(GrindResult.model_validate_json(wire))
    assert [hit.secret for hit in opened.results] == [hit.secret for hit in plain.results]
    for hit in opened.results:
        verify_hit(JOB, hit)


def test_the_key_pair_follows_the_vault_key() -> None:
    assert ResultSealer.from_vault_key(b"a" * 32).public_hex == ResultSealer.from_vault_key(b"a" * 32).public_hex
    assert ResultSealer.from_vault_key(b"a" * 32).public_hex != ResultSealer.from_vault_key(b"b" * 32).public_hex


def test_sealing_twice_gives_different_boxes(plain: GrindResult) -> None:
    sealer = ResultSealer.generate()
    first, second = (seal_result(plain, sealer.public_hex) for _ in range(2))
    assert first.results[0].secret != second.results[0].secret


def _refused(sealer: ResultSealer, result: GrindResult, words: str) -> None:
    with pytest.raises(VanikeysError) as err:
        sealer.open_result(result)
    assert err.value.code == "verification_failed" and words in err.value.message


def test_another_key_a_moved_box_a_flipped_bit_or_no_box_is_refused(plain: GrindResult) -> None:
    sealer = ResultSealer.generate()
    sealed = seal_result(plain, sealer.public_hex)
    _refused(ResultSealer.generate(), sealed, "does not open")
    first, second = sealed.results
    moved = sealed.model_copy(update={"results": [first.model_copy(update={"secret": second.secret}), second]})
    _refused(sealer, moved, "does not open")
    box = bytearray(base64.urlsafe_b64decode(first.secret.removeprefix("sealed:")))
    box[-1] ^= 1
    flipped = first.model_copy(update={"secret": "sealed:" + base64.urlsafe_b64encode(bytes(box)).decode()})
    _refused(sealer, sealed.model_copy(update={"results": [flipped]}), "does not open")
    _refused(
        sealer, sealed.model_copy(update={"results": [first.model_copy(update={"secret": "sealed:AAAA"})]}), "too short"
    )
    _refused(sealer, plain, "not sealed")


def test_a_still_sealed_hit_never_verifies(plain: GrindResult) -> None:
    sealed = seal_result(plain, ResultSealer.generate().public_hex)
    with pytest.raises(VanikeysError) as err:
        verify_hit(JOB, sealed.results[0])
    assert err.value.code == "verification_failed" and "sealed" in err.value.message
