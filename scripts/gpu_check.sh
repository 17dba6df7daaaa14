#!/usr/bin/env bash
# The whole GPU check in one command, on a machine with an NVIDIA GPU:
#   1. the device, driver and CUDA runtime it reports;
#   2. the kernel tests (tests/kernel: the cuda backend against the python reference, plus the
#      native and NVRTC checks), with VANIKEYS_REQUIRE_GPU=1 so that a missing GPU or CuPy fails
#      instead of skipping;
#   3. the kernel's static shape for this GPU's architecture (benchmarks/gpu_static.py);
#   4. the benchmark table: cuda and native, every format, anchored prefix and two-term pattern,
#      also written as JSON to ${BENCH_JSON:-gpu_bench.json} for BENCHMARKS.md.
#
#   scripts/gpu_check.sh                  # uses .venv/bin/python, or $PYTHON
#   SECONDS_PER_FIGURE=10 scripts/gpu_check.sh
#
# Needs CuPy in that environment: pip install -e '.[gpu,test]' (cupy-cuda12x, nvidia-cuda-nvrtc-cu12).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
SECONDS_PER_FIGURE="${SECONDS_PER_FIGURE:-5}"
BENCH_JSON="${BENCH_JSON:-gpu_bench.json}"

echo "== device"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
"$PYTHON" - <<'PY'
import cupy
from gpu_worker.grinders.cuda import nvrtc_version
props = cupy.cuda.runtime.getDeviceProperties(0)
print(f"cupy {cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, driver {cupy.cuda.runtime.driverGetVersion()}, "
      f"NVRTC {nvrtc_version()}, {props['name'].decode()} sm_{props['major']}{props['minor']}, {props['multiProcessorCount']} SMs")
PY

echo "== correctness: the cuda backend (and the native build) against the python reference"
VANIKEYS_REQUIRE_GPU=1 "$PYTHON" -m pytest tests/kernel -q -rs -p no:cacheprovider

echo "== static shape of the kernel (registers, spills, local-memory instructions)"
ARCH="$("$PYTHON" -c "import cupy; p = cupy.cuda.runtime.getDeviceProperties(0); print('sm_%d%d' % (p['major'], p['minor']))")"
"$PYTHON" benchmarks/gpu_static.py --arch "$ARCH" || true

echo "== benchmark (pulls as the grinder runs them: the real minimum-score filter)"
"$PYTHON" -m gpu_worker.cli bench --backend cuda --seconds "$SECONDS_PER_FIGURE" --json > "$BENCH_JSON"
"$PYTHON" - "$BENCH_JSON" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
print(f"{'backend':<8} {'device':<26} {'format':<6} {'pattern':<12} {'mode':<10} {'keys/s':>16}")
for f in report["figures"]:
    print(f"{f['backend']:<8} {f['device'][:26]:<26} {f['format']:<6} {f['pattern']:<12} {f.get('mode', ''):<10} {f['keys_per_s']:>16,.0f}")
PY
"$PYTHON" -m gpu_worker.cli bench --backend native --format btc --seconds 2
echo "figures written to $BENCH_JSON"
