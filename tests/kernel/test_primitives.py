"""The kernel's building blocks, through the native build, against Python's own implementations.

Field and curve arithmetic against Python integers and coincurve; SHA-256 and
RIPEMD-160 against hashlib/pycryptodome; Keccak-256 against pycryptodome;
base58 against the base58 package; whole identifier bodies against
gpu_worker.formats; the scorer against gpu_worker.patterns.score.
"""

from __future__ import annotations

import ctypes
import hashlib
import random
import secrets

import base58
import coincurve
import pytest
from hypothesis import given, settings, strategies as st

from gpu_worker.formats import BASE58_ALPHABET, CURVE_ORDER, FIELD_PRIME, FORMATS, keccak256, ripemd160
from gpu_worker.kernel_plan import FORMAT_IDS, compile_pattern
from gpu_worker.keyspace import BETA
from gpu_worker.patterns import parse_pattern, score

P = FIELD_PRIME
field_elements = st.one_of(
    st.integers(min_value=0, max_value=P - 1),
    st.sampled_from([0, 1, 2, P - 1, P - 2, 2**256 - 2**32 - 978, 2**255, 2**64 - 1, 2**128, (P - 1) // 2]),
)


def b32(value: int) -> bytes:
    return value.to_bytes(32, "big")


def out_buffer(size: int) -> ctypes.Array[ctypes.c_char]:
    return ctypes.create_string_buffer(size)


@settings(max_examples=300, deadline=None)
@given(field_elements, field_elements)
def test_field_multiply_add_subtract(native_lib: ctypes.CDLL, a: int, b: int) -> None:
    product, total, difference = out_buffer(32), out_buffer(32), out_buffer(32)
    native_lib.vk_test_fe_mul(product, b32(a), b32(b))
    native_lib.vk_test_fe_add_sub(total, difference, b32(a), b32(b))
    assert int.from_bytes(product.raw, "big") == a * b % P
    assert int.from_bytes(total.raw, "big") == (a + b) % P
    assert int.from_bytes(difference.raw, "big") == (a - b) % P


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=P - 1))
def test_field_inverse(native_lib: ctypes.CDLL, a: int) -> None:
    inverse = out_buffer(32)
    native_lib.vk_test_fe_inv(inverse, b32(a))
    assert int.from_bytes(inverse.raw, "big") == pow(a, -1, P)


@settings(max_examples=200, deadline=None)
@given(field_elements)
def test_endomorphism_xs_from_one_multiplication(native_lib: ctypes.CDLL, x: int) -> None:
    # beta^2 x is worked out as -(x + beta x): it must equal the product by beta^2 exactly.
    out = out_buffer(64)
    native_lib.vk_test_endo_xs(out, b32(x))
    assert int.from_bytes(out.raw[:32], "big") == x * BETA % P
    assert int.from_bytes(out.raw[32:], "big") == x * BETA * BETA % P


def _point(secret: int) -> tuple[int, int]:
    return coincurve.PublicKey.from_secret(b32(secret)).point()


@settings(max_examples=25, deadline=None)
@given(st.one_of(st.integers(min_value=1, max_value=CURVE_ORDER - 1), st.sampled_from([1, 2, 3, CURVE_ORDER - 1])))
def test_scalar_multiplication_matches_coincurve(native_lib: ctypes.CDLL, k: int) -> None:
    out = out_buffer(64)
    assert native_lib.vk_test_scalar_mult(out, b32(k), None) == 1
    x, y = _point(k)
    assert out.raw == b32(x) + b32(y)


def test_split_key_point_addition_and_its_edge_cases(native_lib: ctypes.CDLL) -> None:
    out = out_buffer(64)
    d, k = secrets.randbelow(CURVE_ORDER - 1) + 1, secrets.randbelow(CURVE_ORDER - 1) + 1
    qx, qy = _point(d)
    assert native_lib.vk_test_scalar_mult(out, b32(k), b32(qx) + b32(qy)) == 1
    assert out.raw == b"".join(map(b32, _point((d + k) % CURVE_ORDER)))
    # Q = k*G: the sum is a doubling; Q = -k*G: the point at infinity (reported, not garbage).
    kx, ky = _point(k)
    assert native_lib.vk_test_scalar_mult(out, b32(k), b32(kx) + b32(ky)) == 1
    assert out.raw == b"".join(map(b32, _point(2 * k % CURVE_ORDER)))
    assert native_lib.vk_test_scalar_mult(out, b32(k), b32(kx) + b32(P - ky)) == 0


@pytest.mark.parametrize("length", [0, 1, 20, 21, 32, 33, 55])
def test_sha256_and_ripemd160_one_block(native_lib: ctypes.CDLL, length: int) -> None:
    message = secrets.token_bytes(length)
    sha, portable, rmd = out_buffer(32), out_buffer(32), out_buffer(20)
    native_lib.vk_test_sha256(sha, message, length)  # SHA extensions where the CPU has them
    native_lib.vk_test_sha256_portable(portable, message, length)  # the code the GPU runs
    native_lib.vk_test_ripemd160(rmd, message, length)
    assert sha.raw == portable.raw == hashlib.sha256(message).digest()
    assert rmd.raw == ripemd160(message)


def test_keccak256_of_a_public_key(native_lib: ctypes.CDLL) -> None:
    for message in (bytes(64), b"\xff" * 64, secrets.token_bytes(64)):
        digest = out_buffer(32)
        native_lib.vk_test_keccak256_64(digest, message)
        assert digest.raw == keccak256(message)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_compressed_keys_hashed_side_by_side_match_hashlib(native_lib: ctypes.CDLL, n: int) -> None:
    # The btc walk's padded blocks of 33-byte keys, hashed 3, 2 or 1 at a time on the host.
    keys = [bytes([2 + i % 2]) + secrets.token_bytes(32) for i in range(n)]
    keys[0] = b"\x03" + b32(P - 1)  # the largest x, with the odd parity byte
    digests = out_buffer(32 * n)
    native_lib.vk_test_sha256_pub33_many(digests, b"".join(keys), n)
    assert digests.raw == b"".join(hashlib.sha256(key).digest() for key in keys)


@pytest.mark.parametrize("n", [1, 7, 16])
def test_compressed_keys_hashed_in_512_bit_lanes_match_hashlib(native_lib: ctypes.CDLL, n: int) -> None:
    # The wide btc batch (anchored patterns on AVX-512 hosts): SHA-256 with the 33-byte
    # message's padding folded in, then RIPEMD-160, 16 keys per vector.
    keys = [bytes([2 + i % 2]) + secrets.token_bytes(32) for i in range(n)]
    keys[-1] = b"\x03" + b32(P - 1)
    digests = out_buffer(20 * n)
    if not native_lib.vk_test_hash160_pub33_x16(digests, b"".join(keys), n):
        pytest.skip("this build has no 512-bit lanes")
    assert digests.raw == b"".join(ripemd160(hashlib.sha256(key).digest()) for key in keys)


@pytest.mark.parametrize("n", [1, 5, 6, 8])
def test_batched_hashes_match_one_at_a_time(native_lib: ctypes.CDLL, n: int) -> None:
    # The host hashes a point's keys side by side in vector lanes; the GPU one by one.
    short = [secrets.token_bytes(32) for _ in range(n)]
    wide = [secrets.token_bytes(64) for _ in range(n)]
    rmd, kec = out_buffer(20 * n), out_buffer(32 * n)
    native_lib.vk_test_ripemd160_32_many(rmd, b"".join(short), n)
    native_lib.vk_test_keccak256_64_many(kec, b"".join(wide), n)
    assert rmd.raw == b"".join(ripemd160(m) for m in short)
    assert kec.raw == b"".join(keccak256(m) for m in wide)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=4), st.binary(min_size=1, max_size=31))
def test_base58_digits_with_leading_zero_bytes(native_lib: ctypes.CDLL, zeros: int, tail: bytes) -> None:
    payload = (b"\0" * zeros + tail)[:36]
    digits = out_buffer(64)
    n = native_lib.vk_test_base58(digits, payload, len(payload))
    encoded = "".join(BASE58_ALPHABET[d] for d in digits.raw[:n])
    assert encoded == base58.b58encode(payload).decode()


def _kernel_body(native_lib: ctypes.CDLL, format_id: str, x: int, y: int) -> str:
    digits = out_buffer(64)
    n = native_lib.vk_test_body(digits, FORMAT_IDS[format_id], b32(x) + b32(y))
    return "".join(FORMATS[format_id].alphabet[d] for d in digits.raw[:n])


@pytest.mark.parametrize("format_id", sorted(FORMATS))
def test_identifier_bodies_match_the_formats_module(native_lib: ctypes.CDLL, format_id: str) -> None:
    fmt = FORMATS[format_id]
    for _ in range(40):
        x, y = _point(secrets.randbelow(CURVE_ORDER - 1) + 1)
        expected = fmt.body(fmt.identifier_from_point(x, y))
        if not fmt.case_sensitive:
            expected = expected.lower()
        assert _kernel_body(native_lib, format_id, x, y) == expected


def test_bitcoin_body_with_leading_zero_hash_byte(native_lib: ctypes.CDLL) -> None:
    # About one key in 256 has a hash160 starting with a zero byte: an address "11...".
    fmt = FORMATS["btc"]
    secret = 1
    while True:
        x, y = _point(secret)
        identifier = fmt.identifier_from_point(x, y)
        if identifier.startswith("11"):
            break
        secret += 1
    assert _kernel_body(native_lib, "btc", x, y) == fmt.body(identifier)


PATTERNS = [
    ("btc", "^Love", "insensitive", False),
    ("btc", "GO BE AWE SOME", "insensitive", False),
    ("btc", "ab? c$", "exact", False),
    ("btc", "^a?c xyz$", "insensitive", True),
    ("did", "^Pb cd ef", "exact", False),
    ("did", "l0ve", "insensitive", True),
    ("eth", "^dead beef", "insensitive", False),
    ("eth", "c0ffee$", "insensitive", True),
    ("trx", "^Rab z z", "insensitive", False),
    ("trx", "s0 me", "exact", True),
]


@pytest.mark.parametrize(("format_id", "text", "case", "fuzzy"), PATTERNS)
def test_kernel_scorer_equals_the_reference_scorer(
    native_lib: ctypes.CDLL, format_id: str, text: str, case: str, fuzzy: bool
) -> None:
    pattern = parse_pattern(format_id, text, case=case, fuzzy=fuzzy)
    compiled = compile_pattern(pattern)
    alphabet = FORMATS[format_id].alphabet
    # Bodies drawn from the pattern's own characters, so partial and full matches are common.
    pool = "".join(sorted(set("".join(pattern.terms).replace("?", "")))) or alphabet
    pool = "".join(c for c in pool if c in alphabet) + alphabet[:6]

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=pool, min_size=0, max_size=44) | st.text(alphabet=alphabet, min_size=30, max_size=44))
    def check(body: str) -> None:
        digits = bytes(alphabet.index(c) for c in body)
        assert native_lib.vk_test_score(ctypes.addressof(compiled), digits, len(digits)) == score(pattern, body)

    check()


RANGE_PATTERNS = [
    ("btc", "^Lo ve", "insensitive", False),
    ("btc", "^1Qz", "exact", False),
    ("btc", "^1x?b", "insensitive", True),
    ("did", "^Nab", "insensitive", False),
    ("trx", "^R2d2", "insensitive", True),
    ("trx", "^TT?x", "exact", False),  # the first T is the fixed start
]


def _payload_number(format_id: str) -> tuple[bytes, str]:
    """A random payload of the format (the number the body encodes) and its body."""
    if format_id == "btc":
        zeros = secrets.choice([0, 0, 0, 1])  # keep leading-zero hashes ('11...') frequent
        payload = b"\0" * (1 + zeros) + secrets.token_bytes(24 - zeros)
    elif format_id == "trx":
        payload = b"\x41" + secrets.token_bytes(24)
    else:
        payload = b"\xe7\x01" + bytes([secrets.choice([2, 3])]) + secrets.token_bytes(32)
    return payload, _body_of(format_id, payload)


def _body_of(format_id: str, payload: bytes) -> str:
    encoded = base58.b58encode(payload).decode()
    return encoded[4:] if format_id == "did" else encoded[1:]


def _forced_start(format_id: str, payload: bytes, body: str, wanted: str) -> tuple[bytes, str] | None:
    """A payload whose body starts with `wanted` and goes on like `body` (one digit shorter if need be)."""
    encoded = base58.b58encode(payload).decode()
    head = encoded[: len(encoded) - len(body)]
    for tail in (body[len(wanted) :], body[len(wanted) + 1 :]):
        forced = base58.b58decode(head + wanted + tail)
        if (
            len(forced) == len(payload)
            and forced[: 3 if format_id == "did" else 1] == payload[: 3 if format_id == "did" else 1]
        ):
            return forced, _body_of(format_id, forced)
    return None


@pytest.mark.parametrize(("format_id", "text", "case", "fuzzy"), RANGE_PATTERNS)
def test_range_filter_never_rejects_a_body_that_starts_right(
    native_lib: ctypes.CDLL, format_id: str, text: str, case: str, fuzzy: bool
) -> None:
    pattern = parse_pattern(format_id, text, case=case, fuzzy=fuzzy)
    compiled = compile_pattern(pattern)
    assert compiled.range_levels >= 1
    first = pattern._classes[0]
    rejected = matching = head_rejected = 0
    for trial in range(3000):
        payload, body = _payload_number(format_id)
        if trial % 2:  # half the trials start the body the way the pattern wants
            wanted = "".join(secrets.choice(sorted(cls)) for cls in first[: compiled.range_levels])
            forced = _forced_start(format_id, payload, body, wanted)
            if forced is not None:
                payload, body = forced
        for level in range(1, compiled.range_levels + 1):
            starts_right = len(body) >= level and all(body[q] in first[q] for q in range(level))
            possible = native_lib.vk_test_prefix_possible(ctypes.addressof(compiled), level, payload, len(payload))
            head_possible = native_lib.vk_test_head_possible(
                ctypes.addressof(compiled), level, payload, FORMAT_IDS[format_id]
            )
            # The head filter runs first in the kernel: it may only pass more than the exact one.
            assert head_possible >= possible, (payload.hex(), body, level)
            head_rejected += not head_possible
            if starts_right:
                matching += 1
                assert possible == 1, (payload.hex(), body, level)
            elif level == 1 and not possible:
                rejected += 1
    assert matching > 1000
    assert rejected > 1000  # and it does reject: most random numbers cannot start that way
    assert head_rejected > 1000  # so does the head filter


def test_batched_btc_bodies_match_base58_including_leading_zero_bytes(native_lib: ctypes.CDLL) -> None:
    """The host's interleaved base58 of a point's six btc keys (vk_btc_bodies) against the base58 library."""
    rng = random.Random(11)
    payloads = [b"\0" + bytes(20) + bytes(4), b"\0" + bytes(20) + b"\0\0\0\x01", b"\0" + b"\xff" * 24]
    payloads += [b"\0" + bytes(zeros) + bytes(rng.getrandbits(8) | 1 for _ in range(24 - zeros)) for zeros in range(8)]
    payloads += [b"\0" + bytes(rng.getrandbits(8) for _ in range(24)) for _ in range(25)]
    for at in range(0, len(payloads), 6):
        batch = payloads[at : at + 6]
        out = ctypes.create_string_buffer(64 * len(batch))
        lens = (ctypes.c_int * len(batch))()
        if not native_lib.vk_test_btc_bodies(out, lens, b"".join(batch), len(batch)):
            pytest.skip("this build has no host vector lanes")
        for k, payload in enumerate(batch):
            digits = "".join(BASE58_ALPHABET[d] for d in out.raw[64 * k : 64 * k + lens[k]])
            assert digits == base58.b58encode(payload).decode()[1:], payload.hex()


def test_btc_checksum_bound_never_rules_out_a_key_that_reaches_the_threshold(native_lib: ctypes.CDLL) -> None:
    """The host skips a single-term btc key's checksum when its other digits rule it out (vk_btc_cannot_reach).

    Terms are cut from a real body across the digits the checksum decides (so some checksum
    reaches the threshold and the bound must let the key through) and drawn at random (so it
    does rule keys out); every ruled-out key is then scored with its real checksum and with
    random ones: none may reach the threshold.
    """
    rng = random.Random(27)
    fn = native_lib.vk_test_btc_cannot_reach
    fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    ruled_out = let_through = 0
    for trial in range(400):
        hash160 = bytes(rng.getrandbits(8) for _ in range(20))
        checksum = hashlib.sha256(hashlib.sha256(b"\0" + hash160).digest()).digest()[:4]
        body = base58.b58encode(b"\0" + hash160 + checksum).decode()[1:]
        if trial % 2 == 0:  # a window ending in the last 8 digits
            end = len(body) - rng.randrange(0, 8)
            length = rng.randrange(7, 10)
            term = body[end - length : end]
        else:
            term = "".join(rng.choice(BASE58_ALPHABET) for _ in range(rng.randrange(7, 10)))
        anchor = rng.choice(["", "$"])
        pattern = parse_pattern("btc", term + anchor, case=rng.choice(["exact", "insensitive"]))
        compiled = compile_pattern(pattern)
        threshold = rng.randrange(7, pattern.max_score + 1)
        verdict = fn(ctypes.addressof(compiled), hash160, threshold)
        if verdict == -1:
            pytest.skip("this build has no host vector lanes")
        if verdict == 0:
            let_through += 1
            continue
        ruled_out += 1
        for tail in [checksum] + [bytes(rng.getrandbits(8) for _ in range(4)) for _ in range(20)]:
            candidate = base58.b58encode(b"\0" + hash160 + tail).decode()[1:]
            assert score(pattern, candidate) < threshold, (hash160.hex(), term, threshold, tail.hex())
    assert ruled_out > 100 and let_through > 100
