"""A scan as the kernel (gpu_worker/kernels/grind.cu) sees it: compiled pattern, launch window, candidates.

Both device backends (native, cuda) share this host side (driven by grinders/launch.py):

- `compile_pattern` turns a Pattern into the kernel's `vk_pattern`: one bitmask
  of accepted alphabet indices per term character (the automaton's states,
  from `patterns.char_classes`, so the kernel accepts exactly what the scorer
  accepts), and for a '^'-anchored first term the numeric intervals the
  payload number must lie in for the body to start with the first t characters
  (from the exact ranges of gpu_worker/positions.py). With those the kernel
  rejects most keys before any base58 encoding or checksum.
- `ScanWindow` maps a Backend.scan key range onto points, the kernel's unit.
- `scan_exactly` runs a kernel launch function and keeps the contract exact:
  when more candidates qualify than the buffer holds it splits the range, and
  a degenerate walk (a point at infinity or equal x, possible only for
  contrived start scalars) is handed to the python reference.

The ctypes structures below mirror the C structs byte for byte; a change on one
side needs the same change on the other.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from .formats import CURVE_ORDER, HEX_ALPHABET, AddressFormat
from .keyspace import Candidate
from .patterns import Pattern, char_classes
from .positions import body_components

if TYPE_CHECKING:
    from .grinders.base import ScanPlan

# Mirrors of the C constants (vk_common.cuh, match.cuh, grind.cuh).
MAX_TERMS = 16
MAX_PATTERN_CHARS = 64
MAX_SCORE = 64
RANGE_LEVELS = 6
RANGE_WORDS = 9
MAX_RANGES = 32
MAX_GROUP = 1024
LOCAL_TOP = 8
FORMAT_IDS = {"btc": 0, "did": 1, "eth": 2, "trx": 3}
# The payload the kernel encodes per format (grind.cuh): its length in bytes and its constant
# leading bytes; the 64-bit "head" the kernel filters on is the 8 bytes after those.
PAYLOAD_LAYOUT = {"btc": (25, b"\x00"), "trx": (25, b"\x41"), "did": (35, b"\xe7\x01")}
U64_MAX = 2**64 - 1
ERROR_DEGENERATE = 1

_Words = ctypes.c_uint32 * RANGE_WORDS


class Fe(ctypes.Structure):
    """A field element as the kernel holds it: four little-endian 64-bit limbs."""

    _fields_ = [("v", ctypes.c_uint64 * 4)]


class Affine(ctypes.Structure):
    """An affine curve point (x, y) as the kernel holds it."""

    _fields_ = [("x", Fe), ("y", Fe)]


class KernelPattern(ctypes.Structure):
    """vk_pattern (match.cuh)."""

    _fields_ = [
        ("cls", ctypes.c_uint64 * MAX_PATTERN_CHARS),
        ("range_lo", (_Words * MAX_RANGES) * RANGE_LEVELS),
        ("range_hi", (_Words * MAX_RANGES) * RANGE_LEVELS),
        ("pass_below", _Words),
        ("head_lo", (ctypes.c_uint64 * MAX_RANGES) * RANGE_LEVELS),
        ("head_hi", (ctypes.c_uint64 * MAX_RANGES) * RANGE_LEVELS),
        ("head_pass_upto", ctypes.c_uint64),
        ("head_has_pass", ctypes.c_int32),
        ("range_count", ctypes.c_int32 * RANGE_LEVELS),
        ("range_levels", ctypes.c_int32),
        ("rest_len", ctypes.c_int32),
        ("term_start", ctypes.c_int32 * MAX_TERMS),
        ("term_len", ctypes.c_int32 * MAX_TERMS),
        ("n_terms", ctypes.c_int32),
        ("anchored_start", ctypes.c_int32),
        ("anchored_end", ctypes.c_int32),
        ("max_score", ctypes.c_int32),
    ]


class ScanParams(ctypes.Structure):
    """vk_scan_params (grind.cuh)."""

    _fields_ = [
        ("base_scalar", ctypes.c_uint64 * 4),
        ("split_q", Affine),
        ("jump", Affine),
        ("resume_jump", Affine),
        ("n_points", ctypes.c_uint64),
        ("key_lo", ctypes.c_uint64),
        ("key_hi", ctypes.c_uint64),
        ("points_per_item", ctypes.c_uint64),
        ("n_items", ctypes.c_uint64),
        ("group_size", ctypes.c_int32),
        ("format", ctypes.c_int32),
        ("split", ctypes.c_int32),
        ("min_score", ctypes.c_int32),
        ("max_candidates", ctypes.c_int32),
        ("capacity", ctypes.c_uint32),
        ("state_items", ctypes.c_uint32),
        ("resume_items", ctypes.c_uint32),
        ("resume_moves", ctypes.c_int32),
        ("reserved", ctypes.c_int32),
    ]


class KernelCandidate(ctypes.Structure):
    """vk_candidate (grind.cuh): one reported key, its index relative to the launch's window, and its score."""

    _fields_ = [("key", ctypes.c_uint64), ("score", ctypes.c_uint32), ("reserved", ctypes.c_uint32)]


class ScanOut(ctypes.Structure):
    """vk_scan_out (grind.cuh): `count` of candidates reported (may exceed the buffer's capacity), `error` bits
    (ERROR_DEGENERATE: fall back to the python reference), and `hist[s]`, the candidates reported with score s.
    """

    _fields_ = [("count", ctypes.c_uint32), ("error", ctypes.c_uint32), ("hist", ctypes.c_uint32 * (MAX_SCORE + 1))]


def limbs(value: int) -> ctypes.Array[ctypes.c_uint64]:
    """A 256-bit number as four little-endian 64-bit limbs."""
    return (ctypes.c_uint64 * 4)(*((value >> (64 * i)) & (2**64 - 1) for i in range(4)))


def affine(point: tuple[int, int]) -> Affine:
    """An (x, y) point as the kernel's Affine."""
    return Affine(Fe(limbs(point[0])), Fe(limbs(point[1])))


def _words(value: int) -> ctypes.Array[ctypes.c_uint32]:
    return _Words(*((value >> (32 * (RANGE_WORDS - 1 - i))) & 0xFFFFFFFF for i in range(RANGE_WORDS)))


# ---- the pattern ------------------------------------------------------------------------


# Compiled patterns are ~19 KB each: a long-lived worker keeps only the recent ones.
COMPILED_PATTERNS_KEPT = 256


@lru_cache(maxsize=COMPILED_PATTERNS_KEPT)
def compile_pattern(pattern: Pattern) -> KernelPattern:
    """The kernel's view of a pattern (cached, least recently used out: patterns are immutable)."""
    from .formats import get_format

    fmt = get_format(pattern.format_id)
    classes = char_classes(pattern)
    if len(pattern.terms) > MAX_TERMS or pattern.max_score > MAX_PATTERN_CHARS:
        raise ValueError("pattern larger than the kernel's limits")  # parse_pattern keeps far below these
    compiled = KernelPattern()
    index = {c: d for d, c in enumerate(fmt.alphabet)}
    at = 0
    for t, term in enumerate(classes):
        compiled.term_start[t] = at
        compiled.term_len[t] = len(term)
        for accepted in term:
            compiled.cls[at] = sum(1 << index[c] for c in accepted)
            at += 1
    compiled.n_terms = len(classes)
    compiled.anchored_start = int(pattern.anchored_start)
    compiled.anchored_end = int(pattern.anchored_end)
    compiled.max_score = pattern.max_score
    compiled.rest_len = pattern.max_score - len(classes[0])
    if pattern.anchored_start and fmt.alphabet != HEX_ALPHABET:
        _add_prefix_ranges(compiled, fmt, [[index[c] for c in sorted(a, key=index.__getitem__)] for a in classes[0]])
    return compiled


def _add_prefix_ranges(compiled: KernelPattern, fmt: AddressFormat, first: list[list[int]]) -> None:
    """Intervals of the payload number whose body starts with first[:t], for t = 1..RANGE_LEVELS."""
    components = body_components(fmt.id)
    plain = [c for c in components if not c.lead]
    led = [c for c in components if c.lead]
    # Bodies with a literal lead ('1's for leading zero bytes) come from the lowest numbers:
    # below pass_below the kernel draws no conclusion and scores the key in full.
    pass_below = max((c.hi for c in led), default=0)
    if any(c.lo < pass_below for c in plain):
        return
    compiled.pass_below = _words(pass_below)
    head_of = _head_function(fmt.id)
    if pass_below > 0 and head_of(pass_below - 1) is not None:
        compiled.head_pass_upto = head_of(pass_below - 1)
        compiled.head_has_pass = 1
    prefixes: list[tuple[int, int]] = [(0, 1)]  # ranges [a, b) of t-digit prefix values
    for level in range(1, min(len(first), RANGE_LEVELS) + 1):
        extended = _extend(prefixes, first[level - 1])
        if extended is None:
            break
        prefixes = extended
        intervals = []
        for c in plain:
            free = c.digits - c.skip - level
            if free < 0:
                continue
            fixed = c.lo // 58 ** (c.digits - c.skip)  # the format's fixed start digits
            scale = 58**free
            for a, b in prefixes:
                lo = max(c.lo, (fixed * 58**level + a) * scale)
                hi = min(c.hi, (fixed * 58**level + b) * scale)
                if lo < hi:
                    intervals.append((lo, hi))
        intervals = _merge(intervals)
        if len(intervals) > MAX_RANGES:
            break
        for r, (lo, hi) in enumerate(intervals):
            compiled.range_lo[level - 1][r] = _words(lo)
            compiled.range_hi[level - 1][r] = _words(hi)
            # Every number of the format in [lo, hi) has its head in [head(lo), head(hi - 1)];
            # an interval below the format's numbers becomes the harmless [0, 0].
            compiled.head_lo[level - 1][r] = head_of(lo) or 0
            compiled.head_hi[level - 1][r] = head_of(hi - 1) or 0
        compiled.range_count[level - 1] = len(intervals)
        compiled.range_levels = level


def _head_function(format_id: str) -> Callable[[int], int | None]:
    """number -> its payload's 64-bit head, clamped to [0, 2^64): None below the format's numbers."""
    length, lead = PAYLOAD_LAYOUT[format_id]
    shift = 8 * (length - len(lead) - 8)
    base = int.from_bytes(lead, "big") << (8 * (length - len(lead)))

    def head(number: int) -> int | None:
        if number < base:
            return None
        return min(U64_MAX, (number - base) >> shift)

    return head


def _extend(prefixes: list[tuple[int, int]], digits: list[int]) -> list[tuple[int, int]] | None:
    runs = _merge([(d, d + 1) for d in digits])
    out: list[tuple[int, int]] = []
    for a, b in prefixes:
        if runs == [(0, 58)]:
            out.append((a * 58, b * 58))
            continue
        if b - a > MAX_RANGES:
            return None
        for v in range(a, b):
            out.extend((v * 58 + c, v * 58 + d) for c, d in runs)
        if len(out) > 4 * MAX_RANGES:
            return None
    return _merge(out)


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


# ---- the walk ---------------------------------------------------------------------------


@cache
def generator_table(half: int) -> ctypes.Array[Affine]:
    """i·G for i = 1..half, affine: the fixed steps every thread adds to its group centre."""
    return (Affine * half)(*(affine(_multiple_of_g(i)) for i in range(1, half + 1)))


@cache
def _multiple_of_g(k: int) -> tuple[int, int]:
    import coincurve

    return coincurve.PublicKey.from_secret(k.to_bytes(32, "big")).point()


@dataclass(frozen=True)
class ScanWindow:
    """Key indices [first_key, first_key + n_keys) as whole points from `first_point`."""

    first_point: int
    n_points: int
    key_lo: int  # relative to first_point * keys_per_point
    key_hi: int
    keys_per_point: int

    @classmethod
    def of(cls, first_key: int, n_keys: int, keys_per_point: int) -> ScanWindow:
        """The smallest whole-point window covering [first_key, first_key + n_keys); key_lo/key_hi cut it back to the
        keys."""
        first_point = first_key // keys_per_point
        end_point = -(-(first_key + n_keys) // keys_per_point)
        key_lo = first_key - first_point * keys_per_point
        return cls(first_point, end_point - first_point, key_lo, key_lo + n_keys, keys_per_point)

    def key_index(self, relative_key: int) -> int:
        """The absolute key index of a key index relative to the window's first point."""
        return self.first_point * self.keys_per_point + relative_key


def launch_params(
    plan_format: AddressFormat,
    start_scalar: int,
    split_point: tuple[int, int] | None,
    window: ScanWindow,
    *,
    group_size: int,
    points_per_item: int,
    min_score: int,
    max_candidates: int,
    capacity: int,
) -> ScanParams:
    """The kernel's parameters for one launch over `window`; the walk-state (resume) fields are left for WalkState."""
    params = ScanParams()
    params.base_scalar = limbs((start_scalar + window.first_point) % CURVE_ORDER)
    if split_point is not None:
        params.split_q = affine(split_point)
    params.jump = affine(_multiple_of_g(group_size))
    params.n_points = window.n_points
    params.key_lo = window.key_lo
    params.key_hi = window.key_hi
    params.points_per_item = points_per_item
    params.n_items = -(-window.n_points // points_per_item)
    params.group_size = group_size
    params.format = FORMAT_IDS[plan_format.id]
    params.split = int(split_point is not None)
    params.min_score = min_score
    params.max_candidates = max_candidates
    params.capacity = capacity
    return params


@dataclass
class WalkState:
    """The item centres a backend's state buffer holds: those of its last launch (launches run in order).

    A pull scans consecutive windows with the same items, so each item's first centre
    moves by the same number of points from one launch to the next: one affine addition
    of that many times G, instead of each item's scalar multiplication. `prepare` fills a
    launch's resume fields and records what the buffer will hold after it.
    """

    slots: int  # items the buffer has room for (0: no buffer)
    _walk: tuple[int, tuple[int, int] | None, int] | None = None  # (start scalar, split point, points per item)
    _first_point: int = 0
    _items: int = 0

    def prepare(
        self, params: ScanParams, start_scalar: int, split_point: tuple[int, int] | None, window: ScanWindow
    ) -> None:
        """Fill the launch's state_items and resume fields, and remember what the state buffer holds after it.

        When the walk (start, split point, points per item) is the one of the last launch, the kept centres resume,
        moved by the window's offset; otherwise resume_items is 0 and every item multiplies afresh.
        """
        walk = (start_scalar, split_point, int(params.points_per_item))
        n_items = int(params.n_items)
        params.state_items = min(n_items, self.slots)
        params.resume_items = 0
        if self._walk == walk and self._items:
            moved = (window.first_point - self._first_point) % CURVE_ORDER
            params.resume_items = min(self._items, params.state_items)
            params.resume_moves = int(moved != 0)
            if moved:
                params.resume_jump = affine(_point_of(moved))
        self._walk, self._first_point, self._items = walk, window.first_point, params.state_items

    def forget(self) -> None:
        """After a degenerate launch (or none at all): the next launch multiplies afresh."""
        self._walk = None
        self._items = 0


def _point_of(k: int) -> tuple[int, int]:
    import coincurve

    return coincurve.PublicKey.from_secret(k.to_bytes(32, "big")).point()


def walk_is_safe(start_scalar: int, window: ScanWindow, points_per_item: int) -> bool:
    """The affine walk needs every scalar it touches (whole items) in [1, n): no wrap to 0."""
    items = -(-window.n_points // points_per_item)
    first = start_scalar + window.first_point
    return first >= 1 and first + items * points_per_item < CURVE_ORDER


@dataclass(frozen=True)
class LaunchResult:
    """What one kernel launch reported: candidates (relative key indices), the kernel's count (more than the
    candidates held means the buffer overflowed), the score histogram, and whether the walk hit a degenerate point.
    """

    candidates: list[Candidate]  # relative key indices
    count: int  # how many the kernel reported (more than the buffer held: overflow)
    histogram: tuple[int, ...]
    degenerate: bool


def scan_plan(
    plan: ScanPlan,
    first_key: int,
    n_keys: int,
    launch: Callable[[ScanPlan, KernelPattern, int, int, int], LaunchResult],
    capacity: int,
) -> list[Candidate]:
    """Backend.scan for a build of the kernel (native or cuda).

    `launch(plan, pattern, first_key, n_keys, min_score)` runs the kernel once;
    what it cannot do (a degenerate window) goes to the python reference.
    """
    if n_keys <= 0 or plan.min_score > plan.pattern.max_score:
        return []
    pattern = compile_pattern(plan.pattern)

    def fallback(first: int, count: int, min_score: int) -> list[Candidate]:
        from .grinders.python import scan_range

        return scan_range(replace(plan, min_score=min_score), first, count)

    return scan_exactly(
        lambda first, count, min_score: launch(plan, pattern, first, count, min_score),
        fallback,
        first_key,
        n_keys,
        plan.min_score,
        plan.max_candidates,
        capacity,
    )


def scan_exactly(
    launch: Callable[[int, int, int], LaunchResult],
    fallback: Callable[[int, int, int], list[Candidate]],
    first_key: int,
    n_keys: int,
    min_score: int,
    max_candidates: int,
    capacity: int,
) -> list[Candidate]:
    """The Backend.scan contract on top of a bounded candidate buffer.

    `launch(first_key, n_keys, min_score)` runs the kernel once; `fallback`
    is the reference scan for the same arguments. When the buffer overflows, the
    histogram of reported scores first raises the threshold to what the top
    `max_candidates` need; if ties still overflow, the range is halved.
    """
    from .grinders.base import best_candidates

    if n_keys <= 0:
        return []
    result = launch(first_key, n_keys, min_score)
    if result.degenerate:
        return fallback(first_key, n_keys, min_score)
    if result.count <= capacity:
        return best_candidates(result.candidates, max_candidates)
    needed = min_score
    at_least = 0
    for score in range(len(result.histogram) - 1, min_score - 1, -1):
        at_least += result.histogram[score]
        if at_least >= max_candidates:
            needed = score
            break
    if needed > min_score:
        return scan_exactly(launch, fallback, first_key, n_keys, needed, max_candidates, capacity)
    half = n_keys // 2
    found = scan_exactly(launch, fallback, first_key, half, min_score, max_candidates, capacity)
    found += scan_exactly(launch, fallback, first_key + half, n_keys - half, min_score, max_candidates, capacity)
    return best_candidates(found, max_candidates)
