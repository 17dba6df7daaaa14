"""The GPU's inline-PTX carry chains (field.cuh), run on the CPU in emulation.

The native build tests every line of the field arithmetic except the four
primitives that exist twice: inline PTX on the GPU, unsigned __int128 on the
host. Here the PTX branch's asm blocks are read from field.cuh itself, their
instructions executed by a small emulator of the PTX ISA's carry semantics
(add.cc / addc / sub.cc / subc / mad.lo.cc / madc.hi / mul.hi ...: 64-bit
registers and one carry flag), and the shared field code above them (fe_add,
fe_sub, fe_mul, fe_sqr as field.cuh composes them) driven with the emulated primitives
and checked against Python's integers modulo p: the edge values where carries
ripple through every limb, and random ones.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pytest

from gpu_worker.formats import FIELD_PRIME
from gpu_worker.grinders.native import kernel_dir

MASK = 2**64 - 1
C = 0x1000003D1  # 2^256 mod p (VK_FE_C)


def _gpu_section() -> str:
    text = (kernel_dir() / "field.cuh").read_text()
    return text[text.index("#if VK_ON_GPU") : text.index("#else  // host")]


def _asm_blocks() -> dict[str, tuple[list[str], list[str], list[str]]]:
    """function name -> (instructions, output constraints, input constraints) of its asm block."""
    blocks = {}
    for match in re.finditer(r"__device__ __forceinline__ \w+ (\w+)\((.*?)\n}\n", _gpu_section(), re.S):
        body = match.group(0)
        asm = re.search(r"asm\((.*?)\);", body, re.S)
        if asm is None:
            continue
        template_part, outputs, inputs = asm.group(1).split(":")
        template = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', template_part)).replace("\\n", "\n").replace("\\t", " ")
        blocks[match.group(1)] = (
            [
                line.strip().rstrip(";")
                for line in template.replace("{", "\n").replace("}", "\n").split("\n")
                if line.strip()
            ],
            re.findall(r'"([=+]l)"\(([^)]*)\)', outputs),
            re.findall(r'"(l)"\(([^)]*)\)', inputs),
        )
    return blocks


class Ptx:
    """Executes one asm block: operands %0..%n (outputs then inputs), .reg temporaries, the carry flag."""

    def __init__(self, instructions: list[str]) -> None:
        self.instructions = instructions

    def run(self, operands: list[int]) -> list[int]:
        regs = {f"%{i}": value & MASK for i, value in enumerate(operands)}
        carry = 0

        def value(token: str) -> int:
            token = token.strip()
            return regs[token] if token in regs else int(token, 0) & MASK

        for line in self.instructions:
            if line.startswith(".reg"):
                for name in line.split(None, 2)[2].split(","):
                    regs[name.strip()] = 0
                continue
            op, args = line.split(None, 1)
            dst, *srcs = [a.strip() for a in args.split(",")]
            parts = op.split(".")
            base, with_cc = parts[0], "cc" in parts
            uses_carry = base in ("addc", "subc", "madc")
            cin = carry if uses_carry else 0
            a, b = value(srcs[0]), value(srcs[1])
            if base in ("add", "addc"):
                full = a + b + cin
                result, out = full & MASK, full >> 64
            elif base in ("sub", "subc"):
                full = a - b - cin
                result, out = full & MASK, int(full < 0)
            elif base in ("mad", "madc"):
                product = a * b
                half = product & MASK if "lo" in parts else product >> 64
                full = half + value(srcs[2]) + cin
                result, out = full & MASK, full >> 64
            elif base == "mul":
                product = a * b
                result, out = (product & MASK if "lo" in parts else product >> 64), carry
            else:
                raise AssertionError(f"unemulated PTX instruction {op}")
            assert "u64" in parts, line
            regs[dst] = result
            if with_cc:
                carry = out
        return [regs[f"%{i}"] for i in range(len(operands))]


BLOCKS = _asm_blocks()


def _block(name: str) -> Ptx:
    return Ptx(BLOCKS[name][0])


def vk_add256(a: list[int], b: list[int]) -> tuple[list[int], int]:
    r = _block("vk_add256").run([0] * 5 + a + b)
    return r[:4], r[4]


def vk_sub256(a: list[int], b: list[int]) -> tuple[list[int], int]:
    r = _block("vk_sub256").run([0] * 5 + a + b)
    return r[:4], r[4] & 1


def vk_mac_row(t: list[int], a: list[int], b: int) -> list[int]:
    return _block("vk_mac_row").run(t + a + [b])[:5]


def vk_mul512(a: list[int], b: list[int]) -> list[int]:
    t = [0] * 8
    for i in range(4):
        t[i : i + 5] = vk_mac_row(t[i : i + 5], a, b[i])
    return t


def vk_sqr512(a: list[int]) -> list[int]:
    return _block("vk_sqr512").run([0] * 8 + a)[:8]


def vk_fold_high(t: list[int]) -> tuple[list[int], int]:
    r = vk_mac_row(t[:4] + [0], t[4:], C)
    return r[:4], r[4]


def vk_add_small_times_c(r: list[int], small: int) -> tuple[list[int], int]:
    out = _block("vk_add_small_times_c").run(r + [0, small, C])
    return out[:4], out[4]


# ---- field.cuh's shared code, line for line, on the emulated primitives ----------------


def fe_ge_p(a: list[int]) -> bool:
    return a[3] == MASK and a[2] == MASK and a[1] == MASK and a[0] >= 0xFFFFFFFEFFFFFC2F


def fe_normalize(a: list[int]) -> list[int]:
    return vk_add_small_times_c(a, 1)[0] if fe_ge_p(a) else a


def fe_add(a: list[int], b: list[int]) -> list[int]:
    r, carry = vk_add256(a, b)
    if carry:
        r, _ = vk_add_small_times_c(r, 1)
    return fe_normalize(r)


def fe_sub(a: list[int], b: list[int]) -> list[int]:
    r, borrow = vk_sub256(a, b)
    if borrow:
        r, _ = vk_sub256(r, [C, 0, 0, 0])
    return r


def fe_reduce512(t: list[int]) -> list[int]:
    r, top = vk_fold_high(t)
    r, carry = vk_add_small_times_c(r, top)
    if carry:
        r, _ = vk_add_small_times_c(r, 1)
    return fe_normalize(r)


def fe_mul(a: list[int], b: list[int]) -> list[int]:
    return fe_reduce512(vk_mul512(a, b))


def fe_sqr(a: list[int], _unused: list[int]) -> list[int]:
    return fe_reduce512(vk_sqr512(a))


def limbs(x: int) -> list[int]:
    return [(x >> (64 * i)) & MASK for i in range(4)]


def number(v: list[int]) -> int:
    return sum(limb << (64 * i) for i, limb in enumerate(v))


EDGES = [
    0,
    1,
    2,
    C,
    FIELD_PRIME - 1,
    FIELD_PRIME - 2,
    FIELD_PRIME - C,
    2**64 - 1,
    2**128 - 1,
    2**192,
    2**255,
    2**256 - 2**32 - 978,
    (FIELD_PRIME - 1) // 2,
    0xFFFFFFFFFFFFFFFF0000000000000000FFFFFFFFFFFFFFFF0000000000000000,
]


def _values() -> list[int]:
    rng = random.Random(20261202)
    return EDGES + [rng.randrange(FIELD_PRIME) for _ in range(40)]


def test_the_emulator_reads_every_asm_block_of_the_gpu_branch() -> None:
    assert set(BLOCKS) == {"vk_add256", "vk_sub256", "vk_mac_row", "vk_sqr512", "vk_add_small_times_c"}
    assert _gpu_section().count("asm(") == len(BLOCKS)  # none left unread
    for instructions, outputs, inputs in BLOCKS.values():
        assert instructions and outputs and inputs


@pytest.mark.parametrize(
    ("name", "operation", "expected"),
    [
        ("add", fe_add, lambda x, y: (x + y) % FIELD_PRIME),
        ("sub", fe_sub, lambda x, y: (x - y) % FIELD_PRIME),
        ("mul", fe_mul, lambda x, y: x * y % FIELD_PRIME),
        ("sqr", fe_sqr, lambda x, _y: x * x % FIELD_PRIME),
    ],
)
def test_field_operations_on_the_ptx_primitives_match_python(
    name: str, operation: Callable[[list[int], list[int]], list[int]], expected: Callable[[int, int], int]
) -> None:
    values = _values()
    pairs = [(x, y) for x in values[:14] for y in values[:14]] + list(
        zip(values[14:], reversed(values[14:]), strict=False)
    )
    for x, y in pairs:
        assert number(operation(limbs(x), limbs(y))) == expected(x, y), (name, hex(x), hex(y))


def test_the_raw_carry_chains() -> None:
    rng = random.Random(7)
    for _ in range(200):
        a, b = rng.getrandbits(256), rng.getrandbits(256)
        total, carry = vk_add256(limbs(a), limbs(b))
        assert number(total) + (carry << 256) == a + b
        diff, borrow = vk_sub256(limbs(a), limbs(b))
        assert number(diff) == (a - b) % 2**256 and borrow == int(a < b)
        assert number(vk_mul512(limbs(a), limbs(b))) == a * b
        assert number(vk_sqr512(limbs(a))) == a * a
        small = rng.getrandbits(35)
        bumped, carry = vk_add_small_times_c(limbs(a), small)
        assert number(bumped) + (carry << 256) == a + small * C
    # the all-ones carry ripple and the largest borrow
    ones = limbs(2**256 - 1)
    assert vk_add256(ones, limbs(1)) == ([0, 0, 0, 0], 1)
    assert vk_sub256(limbs(0), limbs(1)) == (ones, 1)
    # the square's doubling carries out of every limb, and its top limb is full
    for x in (
        2**256 - 1,
        2**255,
        2**192 + 2**64 - 1,
        0xFFFFFFFFFFFFFFFF0000000000000000FFFFFFFFFFFFFFFF0000000000000000,
    ):
        assert number(vk_sqr512(limbs(x))) == x * x, hex(x)
