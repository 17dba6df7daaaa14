"""The GPU kernel's static shape, without a GPU: registers, spills, stack, local-memory instructions.

    /work/venv/bin/python benchmarks/gpu_static.py [--arch sm_90,sm_80] [--json out.json]

NVRTC (nvidia-cuda-nvrtc-cu12) compiles grind.cu exactly as the cuda backend does, with
`--ptxas-options=-v` for ptxas's resource report; nvdisasm (the nvidia-cuda-nvdisasm wheel)
turns the cubin into SASS, in which the local-memory instructions (LDL/STL: per-thread
memory outside registers, as slow as global memory) are counted per function. The
functions in the per-point path are the kernel's walk (vk_grind, which inlines the field
arithmetic and the batch inversion), vk_check_point (a point's six keys for eth/trx/did)
and vk_check_point_btc (btc's six keys: hashes on words, the head filter); the others run only for a key that passed the filters, or once per launch
(the scalar multiplication).
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
_FUNCTION = re.compile(r"Function properties for (\S+)\s*\n[^\n]*?(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_REGISTERS = re.compile(r"Compiling entry function '(\w+)'.*?Used (\d+) registers", re.S)


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


def local_memory_by_function(cubin: bytes, tool: str) -> dict[str, dict[str, int]]:
    with tempfile.NamedTemporaryFile(suffix=".cubin") as handle:
        handle.write(cubin)
        handle.flush()
        sass = subprocess.run([tool, "-c", handle.name], capture_output=True, text=True, check=True).stdout
    counts: dict[str, dict[str, int]] = {}
    current = "?"
    for line in sass.splitlines():
        # the kernel's entry label, then one label per device function it calls
        section = re.match(r"^(?:\$vk_grind\$)?(\$?[A-Za-z_][\w$]*):\s*$", line)
        if section and not section.group(1).startswith(("$", ".L")):
            current = _demangled(section.group(1))
            counts.setdefault(current, {"LDL": 0, "STL": 0, "instructions": 0})
            continue
        opcode = re.search(r"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]+)", line)
        if opcode and current in counts:
            counts[current]["instructions"] += 1
            op = opcode.group(1).split(".")[0]
            if op in ("LDL", "STL"):
                counts[current][op] += 1
    return counts


def shape(arch: str, tool: str | None) -> dict[str, object]:
    cubin, log = compile_kernel(arch, extra_options=("--ptxas-options=-v",))
    registers = {m.group(1): int(m.group(2)) for m in _REGISTERS.finditer(log)}
    frames = {
        _demangled(m.group(1)): {"stack": int(m.group(2)), "spill_stores": int(m.group(3)), "spill_loads": int(m.group(4))}
        for m in _FUNCTION.finditer(log)
    }
    local = local_memory_by_function(cubin, tool) if tool else {}
    per_point = {name: local[name]["LDL"] + local[name]["STL"] for name in PER_POINT if name in local}
    return {
        "arch": arch,
        "registers": registers.get("vk_grind"),
        "threads_per_block": THREADS_PER_BLOCK,
        "resident_warps_per_sm": _resident_warps(registers.get("vk_grind")),
        "frames": frames,
        "local_memory": local,
        "per_point_local_instructions": per_point,
        "spills": sum(f["spill_stores"] + f["spill_loads"] for f in frames.values()),
    }


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
    parser.add_argument("--arch", default="sm_90,sm_80")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    tool = nvdisasm()
    if tool is None:
        print("(nvdisasm not found: pip install nvidia-cuda-nvdisasm; local-memory counts skipped)", file=sys.stderr)
    results = [shape(arch, tool) for arch in args.arch.split(",")]
    print(f"NVRTC {nvrtc_version()}, nvdisasm {'yes' if tool else 'no'}; {THREADS_PER_BLOCK} threads per block")
    print("| arch | registers (vk_grind) | warps/SM by registers | spill bytes | vk_grind stack | "
          "LDL+STL vk_grind | LDL+STL vk_check_point (eth/trx/did) | LDL+STL vk_check_point_btc | "
          "LDL+STL elsewhere (cold) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        local = r["local_memory"]
        per_point = r["per_point_local_instructions"]
        cold = sum(v["LDL"] + v["STL"] for k, v in local.items() if k not in PER_POINT)
        frame = r["frames"].get("vk_grind", {}).get("stack", "?")
        print(f"| {r['arch']} | {r['registers']} | {r['resident_warps_per_sm']} | {r['spills']} | {frame} B | "
              f"{per_point.get('vk_grind', '?')} | {per_point.get('vk_check_point', '?')} | "
              f"{per_point.get('vk_check_point_btc', '?')} | {cold} |")
    for r in results:
        print(f"\n{r['arch']}: per function (LDL / STL / SASS instructions; stack bytes, spills)")
        for name, counts in sorted(r["local_memory"].items(), key=lambda kv: -kv[1]["instructions"]):
            frame = r["frames"].get(name, {})
            print(f"  {name:<28} {counts['LDL']:>5} {counts['STL']:>5} {counts['instructions']:>7}   "
                  f"stack {frame.get('stack', '-')}, spills {frame.get('spill_stores', '-')}/{frame.get('spill_loads', '-')}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
