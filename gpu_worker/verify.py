"""The trust boundary: a hit counts only once its identifier is re-derived from its secret and re-scored.

Whatever produced a hit (a GPU worker, the native build, the reference
grinder), nothing is shown or delivered until coincurve has derived the
identifier from the secret again and the one scorer agrees with its score.
"""

from __future__ import annotations

from dataclasses import dataclass

import coincurve

from .errors import VanikeysError
from .formats import CURVE_ORDER, identifier_from_secret
from .job import GrindHit, GrindJob
from .patterns import score


@dataclass(frozen=True)
class VerifiedHit:
    """A hit whose secret was recomputed to give its identifier and score; repr() never shows the secret."""

    hit: GrindHit
    secret: int  # the private key, or in split-key mode the offset k
    body: str  # the identifier without its fixed start
    score: int
    full: bool

    def __repr__(self) -> str:  # never let a secret reach a log through repr()
        return (
            f"VerifiedHit(identifier={self.hit.identifier!r}, score={self.score}, full={self.full}, secret=<redacted>)"
        )

    __str__ = __repr__


def derive_identifier(job: GrindJob, secret: int) -> str:
    """The identifier a secret gives for this job: secret·G, or Q + secret·G in split-key mode."""
    if not 1 <= secret < CURVE_ORDER:
        raise VanikeysError("verification_failed", "a result's secret is not a valid scalar: the result was discarded")
    fmt = job.address_format
    split = job.split_point
    if split is None:
        return identifier_from_secret(fmt, secret)
    offset_point = coincurve.PublicKey.from_secret(secret.to_bytes(32, "big"))
    try:
        walked = coincurve.PublicKey.combine_keys([split, offset_point])
    except ValueError:  # Q + k·G is the point at infinity: k = -d, no key at all
        raise VanikeysError(
            "verification_failed", "a split-key offset cancels the public key: the result was discarded"
        ) from None
    return fmt.identifier(walked)


def verify_hit(job: GrindJob, hit: GrindHit) -> VerifiedHit:
    """Re-derive and re-score one hit; VanikeysError("verification_failed") unless everything agrees."""
    expected_kind = "offset" if job.split_pubkey is not None else "private_key"
    if hit.secret_kind != expected_kind:
        raise _failed(hit, f"its secret is a {hit.secret_kind} where this job hands over a {expected_kind}")
    if hit.sealed:
        raise _failed(hit, "its secret is still sealed (open it with sealing.ResultSealer first)")
    secret = int(hit.secret, 16)
    if derive_identifier(job, secret) != hit.identifier:
        raise _failed(hit, "its secret does not derive its identifier")
    pattern = job.compiled()
    body = job.address_format.body(hit.identifier)
    actual = score(pattern, body)
    if actual != hit.score:
        raise _failed(hit, f"it claims score {hit.score} but scores {actual}")
    full = actual == pattern.max_score
    if full != hit.full:
        raise _failed(hit, f"it claims full={hit.full} but scores {actual} of {pattern.max_score}")
    return VerifiedHit(hit=hit, secret=secret, body=body, score=actual, full=full)


def _failed(hit: GrindHit, why: str) -> VanikeysError:
    return VanikeysError(
        "verification_failed", f"result {hit.identifier!r} failed verification: {why}; it was discarded"
    )
