"""benchmarks/gpu_static.py counts local memory per point through the call graph of the SASS listing."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]

# A cut-down nvdisasm listing in its real shape: the entry label, then one label per device function.
SASS = """
vk_grind:
.text.vk_grind:
        /*0010*/                   STL.128 [R1], R4 ;
        /*0020*/                   CALL.REL.NOINC `($vk_grind$_Z15vk_first_centreR9vk_affine) ;
        /*0030*/                   CALL.REL.NOINC `($vk_grind$_Z14vk_check_pointRK10vk_pattern) ;
.L_x_1:
        /*0040*/              @!P0 CALL.REL.NOINC `(.L_x_1) ;
        /*0050*/                   CALL.REL.NOINC `($__internal_0_$__cuda_sm20_div_u64) ;
        /*0060*/                   CALL.REL.NOINC `($vk_grind$_Z14vk_check_pointRK10vk_pattern) ;
$vk_grind$_Z14vk_check_pointRK10vk_pattern:
        /*0070*/                   STL.U8 [R1+0x3], R2 ;
        /*0080*/               @P1 CALL.REL.NOINC `($vk_grind$_Z18vk_check_point_btcRK10vk_pattern) ;
        /*0090*/                   CALL.REL.NOINC `($vk_grind$_Z17keccak256_64_manyPA32_h) ;
        /*00a0*/                   CALL.REL.NOINC `($vk_grind$_Z16vk_check_payloadRK10vk_pattern) ;
$vk_grind$_Z17keccak256_64_manyPA32_h:
        /*00b0*/                   CALL.REL.NOINC `($vk_grind$_Z12keccak256_64PhPKh) ;
$vk_grind$_Z12keccak256_64PhPKh:
        /*00c0*/                   LDL.64 R2, [R0] ;
        /*00d0*/                   STL.64 [R0], R2 ;
$vk_grind$_Z18vk_check_point_btcRK10vk_pattern:
        /*00e0*/                   LDL R2, [R1+0x8] ;
        /*00f0*/                   CALL.REL.NOINC `($vk_grind$_Z16vk_check_payloadRK10vk_pattern) ;
$vk_grind$_Z16vk_check_payloadRK10vk_pattern:
        /*0100*/                   LDL.U8 R2, [R1] ;
        /*0110*/                   LDL.U8 R3, [R1+0x1] ;
        /*0120*/                   CALL.REL.NOINC `($vk_grind$_Z8vk_scoreRK10vk_pattern) ;
$vk_grind$_Z8vk_scoreRK10vk_pattern:
        /*0130*/                   STL [R1], R2 ;
$vk_grind$_Z15vk_first_centreR9vk_affine:
        /*0140*/                   STL [R1], R2 ;
"""


@pytest.fixture(scope="module")
def gpu_static() -> ModuleType:
    pytest.importorskip("gpu_worker.grinders.cuda")
    spec = importlib.util.spec_from_file_location("gpu_static", REPO / "benchmarks" / "gpu_static.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_functions_their_local_memory_and_their_calls(gpu_static: ModuleType) -> None:
    functions = gpu_static.parse_sass(SASS)
    assert functions["vk_grind"]["calls"] == {"vk_first_centre": 1, "vk_check_point": 2}  # no labels, no internals
    assert (functions["vk_grind"]["STL"], functions["keccak256_64"]["LDL"], functions["keccak256_64"]["STL"]) == (
        1,
        1,
        1,
    )
    assert functions["vk_check_payload"]["LDL"] == 2


def test_per_point_paths_count_callees_and_keep_the_filtered_subtree_apart(gpu_static: ModuleType) -> None:
    paths = gpu_static.point_path(gpu_static.parse_sass(SASS))
    btc = paths["btc"]
    assert (btc["own"], btc["with_callees"], btc["callees"]) == (1, 1, {})
    assert btc["filtered_functions"] == {"vk_check_payload": 2, "vk_score": 1}
    other = paths["eth/trx/did"]  # the btc branch is not part of the eth/trx/did path
    assert (other["own"], other["with_callees"]) == (1, 3)
    assert other["callees"] == {"keccak256_64_many": 0, "keccak256_64": 2}
    assert other["filtered_subtree"] == 3
