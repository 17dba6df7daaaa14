"""The GPU kernel's static shape, without a GPU: registers, spills, stack, local-memory instructions.

    /work/venv/bin/python benchmarks/gpu_static.py [--arch sm_80,sm_86,sm_89,sm_90] [--json out.json]

NVRTC (nvidia-cuda-nvrtc-cu12) compiles grind.cu exactly as the cuda backend does, with
`--ptxas-options=-v` for ptxas's resource report (stack and spill bytes per function);
nvdisasm (the nvidia-cuda-nvdisasm wheel) turns the cubin into SASS, in which the
local-memory instructions (LDL/STL: per-thread memory outside registers, as slow as global
memory) are counted per function, and the CALL instructions give the call graph.

Per point, the walk (vk_grind, which inlines the field arithmetic and the batch inversion)
calls vk_check_point_btc (btc's six keys: hashes on words, the head filter) or
vk_check_point (eth/trx/did: Keccak in keccak256_64_many / keccak256_64). Each of those is
counted with everything it calls, through the call graph (each function once: static
instructions, not executions). The subtree of vk_check_payload runs only for a key that
passed the head filter when the pattern is an anchored prefix (about one in 58^level), but
for every key of an unanchored pattern (base58 and the scorer), so it is shown apart. The
rest runs once per work item (vk_first_centre, the scalar multiplication) or per group
(fe_inv).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpu_worker.grinders.cuda import THREADS_PER_BLOCK, compile_kernel, nvrtc_version

PER_POINT = ("vk_grind", "vk_check_point", "vk_check_point_btc")
ARCHITECTURES = "sm_80,sm_86,sm_89,sm_90"
# Per-point roots (what vk_grind calls for each point; vk_check_point hands btc points to
# vk_check_point_btc first thing) and the subtree that an anchored prefix's head filter keeps cold.
POINT_ROOTS = {"btc": ("vk_check_point_btc", ()), "eth/trx/did": ("vk_check_point", ("vk_check_point_btc",))}
FILTERED = "vk_check_payload"
_CALL = re.compile(r"CALL\.REL(?:\.NOINC)?\s+`\((?:\$vk_grind\$)?([A-Za-z_][\w$]*)\)")
_FUNCTION = re.compile(
    r"Function properties for (\S+)\s*\n[^\n]*?(\d+) bytes stack frame, "
    r"(\d+) bytes spill stores, (\d+) bytes spill loads"
)
_REGISTERS = re.compile(r"Compiling entry function '(\w+)'.*?Used (\d+) registers", re.DOTALL)


def nvdisasm() -> str | None:
    for entry in sys.path:
        for path in sorted(glob.glob(os.path.join(entry, "nvidia", "*", "bin", "nvdisasm"))):
            if os.access(path, os.X_OK):
                return path
    return None


def _demangled(name: str) -> str:
    """`_Z14vk_check_pointRK10vk_pattern...` -> `vk_check_point`."""
    found = re.match(r"_Z(\d+)(\w+)", name)
    if found:
        return found.group(2)[: int(found.group(1))]
    return name


def local_memory_by_function(cubin: bytes, tool: str) -> dict[str, dict[str, object]]:
    with tempfile.NamedTemporaryFile(suffix=".cubin") as handle:
        handle.write(cubin)
        handle.flush()
        sass = subprocess.run([tool, "-c", handle.name], capture_output=True, text=True, check=True).stdout
    return parse_sass(sass)


def parse_sass(sass: str) -> dict[str, dict[str, object]]:
    """Per function of an nvdisasm listing: LDL, STL, instructions, and calls (callee -> call sites)."""
    counts: dict[str, dict[str, object]] = {}
    current = "?"
    for line in sass.splitlines():
        # the kernel's entry label, then one label per device function it calls
        section = re.match(r"^(?:\$vk_grind\$)?(\$?[A-Za-z_][\w$]*):\s*$", line)
        if section and not section.group(1).startswith(("$", ".L")):
            current = _demangled(section.group(1))
            counts.setdefault(current, {"LDL": 0, "STL": 0, "instructions": 0, "calls": {}})
            continue
        opcode = re.search(r"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]+)", line)
        if opcode and current in counts:
            entry = counts[current]
            entry["instructions"] += 1  # type: ignore[operator]
            op = opcode.group(1).split(".")[0]
            if op in ("LDL", "STL"):
                entry[op] += 1  # type: ignore[operator]
            call = _CALL.search(line)
            if call and not call.group(1).startswith("__internal"):
                callee = _demangled(call.group(1))
                calls: dict[str, int] = entry["calls"]  # type: ignore[assignment]
                calls[callee] = calls.get(callee, 0) + 1
    return counts


def reachable(functions: dict[str, dict[str, object]], root: str, *, without: tuple[str, ...] = ()) -> list[str]:
    """root and every function it calls, directly or not (each once), not entering those `without`."""
    seen: list[str] = []
    stack = [root]
    while stack:
        name = stack.pop()
        if name in seen or name in without or name not in functions:
            continue
        seen.append(name)
        stack.extend(sorted(functions[name]["calls"]))  # type: ignore[arg-type]
    return seen


def local_instructions(functions: dict[str, dict[str, object]], names: list[str]) -> int:
    return sum(int(functions[n]["LDL"]) + int(functions[n]["STL"]) for n in names)  # type: ignore[call-overload]


def point_path(functions: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    """Per format family: LDL+STL of the per-point root alone, with its callees, and with the filtered subtree apart."""
    paths: dict[str, dict[str, object]] = {}
    for family, (root, other_paths) in POINT_ROOTS.items():
        if root not in functions:
            continue
        hot = reachable(functions, root, without=(FILTERED, *other_paths))
        everything = reachable(functions, root, without=other_paths)
        filtered = [n for n in everything if n not in hot]
        paths[family] = {
            "root": root,
            "own": local_instructions(functions, [root]),
            "with_callees": local_instructions(functions, hot),
            "callees": {n: local_instructions(functions, [n]) for n in hot if n != root},
            "filtered_subtree": local_instructions(functions, filtered),
            "filtered_functions": {n: local_instructions(functions, [n]) for n in filtered},
        }
    return paths


def shape(arch: str, tool: str | None) -> dict[str, object]:
    cubin, log = compile_kernel(arch, extra_options=("--ptxas-options=-v",))
    registers = {m.group(1): int(m.group(2)) for m in _REGISTERS.finditer(log)}
    frames = {
        _demangled(m.group(1)): {
            "stack": int(m.group(2)),
            "spill_stores": int(m.group(3)),
            "spill_loads": int(m.group(4)),
        }
        for m in _FUNCTION.finditer(log)
    }
    local = local_memory_by_function(cubin, tool) if tool else {}
    per_point = {name: local[name]["LDL"] + local[name]["STL"] for name in PER_POINT if name in local}
    return {
        "point_path": point_path(local) if local else {},
        "arch": arch,
        "registers": registers.get("vk_grind"),
        "threads_per_block": THREADS_PER_BLOCK,
        "resident_warps_per_sm": _resident_warps(registers.get("vk_grind")),
        "frames": frames,
        "local_memory": local,
        "per_point_local_instructions": per_point,
        "spills": sum(f["spill_stores"] + f["spill_loads"] for f in frames.values()),
    }


def _runs(name: str, result: dict) -> str:
    """How often a function runs, from where it sits in the call graph."""
    if name == "vk_grind":
        return "the walk (per point)"
    for path in result["point_path"].values():
        if name == path["root"] or name in path["callees"]:
            return "per point"
        if name in path["filtered_functions"]:
            return "per key passing the filters"
    if name in reachable(result["local_memory"], "vk_first_centre") if result["local_memory"] else False:
        return "once per work item"
    return "per group or rarer"


def _resident_warps(registers: int | None) -> int | None:
    """Warps one SM holds by registers alone (65,536 per SM, allocated per warp in units of 256)."""
    if not registers:
        return None
    per_warp = -(-registers * 32 // 256) * 256
    warps = 65536 // per_warp
    blocks = warps // (THREADS_PER_BLOCK // 32)
    return blocks * (THREADS_PER_BLOCK // 32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default=ARCHITECTURES)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    tool = nvdisasm()
    if tool is None:
        print("(nvdisasm not found: pip install nvidia-cuda-nvdisasm; local-memory counts skipped)", file=sys.stderr)
    results = [shape(arch, tool) for arch in args.arch.split(",")]
    print(f"NVRTC {nvrtc_version()}, nvdisasm {'yes' if tool else 'no'}; {THREADS_PER_BLOCK} threads per block")
    print(
        "| arch | registers (vk_grind) | warps/SM by registers | spill bytes | vk_grind stack | "
        "LDL+STL vk_grind | LDL+STL vk_check_point (eth/trx/did) | LDL+STL vk_check_point_btc | "
        "LDL+STL elsewhere (cold) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        local = r["local_memory"]
        per_point = r["per_point_local_instructions"]
        cold = sum(v["LDL"] + v["STL"] for k, v in local.items() if k not in PER_POINT)
        frame = r["frames"].get("vk_grind", {}).get("stack", "?")
        print(
            f"| {r['arch']} | {r['registers']} | {r['resident_warps_per_sm']} | {r['spills']} | {frame} B | "
            f"{per_point.get('vk_grind', '?')} | {per_point.get('vk_check_point', '?')} | "
            f"{per_point.get('vk_check_point_btc', '?')} | {cold} |"
        )
    print("\nPer point, through the call graph (LDL+STL; static instructions, each function once):")
    print(
        "| arch | family | root alone | root + callees | callees | vk_check_payload subtree "
        "(per key passing an anchored head filter; every key unanchored) |"
    )
    print("|---|---|---:|---:|---|---:|")
    for r in results:
        for family, path in r["point_path"].items():
            callees = ", ".join(f"{n} {c}" for n, c in path["callees"].items()) or "-"
            print(
                f"| {r['arch']} | {family} | {path['own']} | **{path['with_callees']}** | {callees} "
                f"| {path['filtered_subtree']} |"
            )
    print("\nSpills per function (bytes stored / loaded; functions with none left out):")
    print("| arch | function | spill stores | spill loads | runs |")
    print("|---|---|---:|---:|---|")
    for r in results:
        spilled = {n: f for n, f in r["frames"].items() if f["spill_stores"] or f["spill_loads"]}
        if not spilled:
            print(f"| {r['arch']} | (none) | 0 | 0 | |")
        for name, frame in spilled.items():
            print(f"| {r['arch']} | {name} | {frame['spill_stores']} | {frame['spill_loads']} | {_runs(name, r)} |")
    for r in results:
        print(f"\n{r['arch']}: per function (LDL / STL / SASS instructions; stack bytes, spills; calls)")
        for name, counts in sorted(r["local_memory"].items(), key=lambda kv: -kv[1]["instructions"]):
            frame = r["frames"].get(name, {})
            calls = ", ".join(f"{c} x{n}" for c, n in counts["calls"].items())
            print(
                f"  {name:<28} {counts['LDL']:>5} {counts['STL']:>5} {counts['instructions']:>7}   "
                f"stack {frame.get('stack', '-')}, "
                f"spills {frame.get('spill_stores', '-')}/{frame.get('spill_loads', '-')}"
                + (f"; calls {calls}" if calls else "")
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
