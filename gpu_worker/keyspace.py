"""Which keys a job checks, and in which order: the one enumeration every backend shares.

A job draws one start scalar s. Key index i names point j = i // 6, the point
(s + j)·G, and variant v = i % 6 of it. The variants come for free from one
affine point (x, y), using the secp256k1 endomorphism φ(x, y) = (βx, y) = λ·P
and negation −(x, y) = (x, −y):

    v  secret     point
    0  k          (x, y)
    1  −k         (x, −y)
    2  λk         (βx, y)
    3  −λk        (βx, −y)
    4  λ²k        (β²x, y)
    5  −λ²k       (β²x, −y)

In split-key mode the point is Q + (s + i)·G and only variant 0 exists: the
person's final key is d + k, and the other variants would need d itself.

Because every backend enumerates the same keys, results are comparable key for
key: best-of-budget ties go to the lowest key index.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .formats import CURVE_ORDER, FIELD_PRIME

# Cube roots of unity for the GLV endomorphism: λ mod n and β mod p with
# λ·(x, y) = (β·x, y) (Hankerson, Menezes, Vanstone, "Guide to ECC", 3.5; libsecp256k1).
LAMBDA = 0x5363AD4CC05C30E0A5261C028812645A122E22EA20816678DF02967C1B23BD72
BETA = 0x7AE96A2B657C07106E64479EAC3434E99CF0497512F58995C1396C28719501EE

VARIANTS_PER_POINT = 6
# Start scalars are drawn below n − 2^64 so that no job's walk can wrap past n to 0.
_START_HEADROOM = 1 << 64


@dataclass(frozen=True)
class Candidate:
    """A key a backend reports: its index in the job's enumeration and its score."""

    key_index: int
    score: int

    @property
    def rank(self) -> tuple[int, int]:
        """Sort key, best first: higher score, then lower key index."""
        return (-self.score, self.key_index)


def keys_per_point(split: bool) -> int:
    """Keys per curve point: 6 endomorphism/negation variants, or 1 in split-key mode."""
    return 1 if split else VARIANTS_PER_POINT


def draw_start_scalar() -> int:
    """A fresh 256-bit start from the OS CSPRNG, never reused (a new one per job)."""
    while True:
        candidate = secrets.randbits(256)
        if 1 <= candidate < CURVE_ORDER - _START_HEADROOM:
            return candidate


def point_index(key_index: int, split: bool) -> int:
    """The index j of the point (s + j)·G that key index `key_index` is a variant of."""
    return key_index // keys_per_point(split)


def variant_of(key_index: int, split: bool) -> int:
    """Which of the point's variants (0..5, the module's table) key index `key_index` is; always 0 in split-key mode."""
    return 0 if split else key_index % VARIANTS_PER_POINT


def secret_for(start: int, key_index: int, split: bool) -> int:
    """The scalar key index names: a private key, or in split-key mode the offset k."""
    k = (start + point_index(key_index, split)) % CURVE_ORDER
    return apply_variant_to_scalar(k, variant_of(key_index, split))


def apply_variant_to_scalar(k: int, variant: int) -> int:
    """The secret of variant `variant` of the point with secret k: ±λ^(v//2)·k mod n."""
    scaled = k * pow(LAMBDA, variant // 2, CURVE_ORDER) % CURVE_ORDER
    return (CURVE_ORDER - scaled) % CURVE_ORDER if variant % 2 else scaled


def apply_variant_to_point(x: int, y: int, variant: int) -> tuple[int, int]:
    """Variant `variant` of the affine point (x, y): (β^(v//2)·x, ±y) mod p."""
    vx = x * pow(BETA, variant // 2, FIELD_PRIME) % FIELD_PRIME
    vy = (FIELD_PRIME - y) % FIELD_PRIME if variant % 2 else y
    return vx, vy
