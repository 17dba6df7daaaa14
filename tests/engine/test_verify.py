"""verify_hit is the trust boundary: every tampered field of a hit is caught."""

from __future__ import annotations

import secrets

import coincurve
import pytest

from gpu_worker.errors import VanikeysError
from gpu_worker.formats import CURVE_ORDER, FORMATS, identifier_from_secret
from gpu_worker.job import GrindHit, GrindJob
from gpu_worker.patterns import score
from gpu_worker.verify import derive_identifier, verify_hit


def make_job(**fields: object) -> GrindJob:
    return GrindJob.parse({"v": 1, "budget": 100, **fields})


def honest_hit(job: GrindJob, secret: int) -> GrindHit:
    identifier = derive_identifier(job, secret)
    s = score(job.compiled(), job.address_format.body(identifier))
    return GrindHit(
        secret=f"{secret:064x}",
        secret_kind="offset" if job.split_pubkey else "private_key",
        identifier=identifier,
        score=s,
        full=s == job.compiled().max_score,
    )


def assert_rejected(job: GrindJob, hit: GrindHit) -> None:
    with pytest.raises(VanikeysError) as caught:
        verify_hit(job, hit)
    assert caught.value.code == "verification_failed"
    assert hit.secret not in str(caught.value)  # the message never carries the secret
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("format_id", sorted(FORMATS))
def test_an_honest_hit_verifies(format_id: str) -> None:
    job = make_job(format=format_id, pattern="ab")
    secret = secrets.randbelow(CURVE_ORDER - 1) + 1
    verified = verify_hit(job, honest_hit(job, secret))
    assert verified.secret == secret
    assert verified.body == job.address_format.body(identifier_from_secret(job.address_format, secret))
    assert f"{secret:064x}" not in repr(verified)


def test_a_tampered_secret_is_rejected() -> None:
    job = make_job(format="btc", pattern="ab")
    hit = honest_hit(job, 0xC0FFEE)
    assert_rejected(job, hit.model_copy(update={"secret": f"{0xC0FFEF:064x}"}))


def test_a_tampered_identifier_is_rejected() -> None:
    job = make_job(format="btc", pattern="ab")
    hit = honest_hit(job, 0xC0FFEE)
    other = identifier_from_secret(job.address_format, 0xBEEF)
    assert_rejected(job, hit.model_copy(update={"identifier": other}))


def test_an_eth_identifier_without_its_checksum_case_is_rejected() -> None:
    job = make_job(format="eth", pattern="ab")
    hit = honest_hit(job, 0xC0FFEE)
    assert hit.identifier != hit.identifier.lower()
    assert_rejected(job, hit.model_copy(update={"identifier": hit.identifier.lower()}))


@pytest.mark.parametrize("delta", [-1, 1])
def test_a_wrong_score_is_rejected(delta: int) -> None:
    job = make_job(format="trx", pattern="a b c")
    hit = honest_hit(job, 0xC0FFEE)
    assert_rejected(job, hit.model_copy(update={"score": hit.score + delta}))


def test_a_false_full_claim_is_rejected() -> None:
    job = make_job(format="btc", pattern="^zzzzzz")
    hit = honest_hit(job, 0xC0FFEE)
    assert not hit.full
    assert_rejected(job, hit.model_copy(update={"full": True}))


def test_out_of_range_secrets_are_rejected() -> None:
    job = make_job(format="eth", pattern="ab")
    hit = honest_hit(job, 1)
    for bad in ("0" * 64, f"{CURVE_ORDER:064x}", "f" * 64):
        assert_rejected(job, hit.model_copy(update={"secret": bad}))


def test_secret_kind_must_match_the_job() -> None:
    job = make_job(format="eth", pattern="ab")
    hit = honest_hit(job, 0xC0FFEE)
    assert_rejected(job, hit.model_copy(update={"secret_kind": "offset"}))


def test_split_offsets_verify_against_the_persons_key_only() -> None:
    d = secrets.randbelow(CURVE_ORDER - 1) + 1
    q = coincurve.PublicKey.from_secret(d.to_bytes(32, "big")).format().hex()
    job = make_job(format="btc", pattern="ab", split_pubkey=q)
    offset = secrets.randbelow(CURVE_ORDER - 1) + 1
    hit = honest_hit(job, offset)
    assert hit.identifier == identifier_from_secret(job.address_format, (d + offset) % CURVE_ORDER)
    verify_hit(job, hit)
    other_q = coincurve.PublicKey.from_secret((d + 1).to_bytes(32, "big")).format().hex()
    assert_rejected(make_job(format="btc", pattern="ab", split_pubkey=other_q), hit)
    # The plain-key reading of the same secret is a different identifier.
    assert_rejected(job, hit.model_copy(update={"identifier": identifier_from_secret(job.address_format, offset)}))
    assert_rejected(job, hit.model_copy(update={"secret_kind": "private_key"}))


def test_an_offset_that_cancels_the_key_is_rejected() -> None:
    d = secrets.randbelow(CURVE_ORDER - 1) + 1
    q = coincurve.PublicKey.from_secret(d.to_bytes(32, "big")).format().hex()
    job = make_job(format="btc", pattern="ab", split_pubkey=q)
    with pytest.raises(VanikeysError) as caught:
        derive_identifier(job, CURVE_ORDER - d)
    assert caught.value.code == "verification_failed"
