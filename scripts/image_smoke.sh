#!/usr/bin/env bash
# Build the real images and smoke-test them where a Docker engine runs; record their sizes in BENCHMARKS.md.
#
#   scripts/image_smoke.sh            # both images; the worker's job runs on a GPU when `docker run --gpus all` works
#
# The test suite stages the same recipes without Docker (tests/deploy); this is the check with the real
# engine, the real base images and the real locks (pip install --require-hashes from PyPI). It needs a
# Docker engine and network access to Docker Hub and PyPI; the machine the suite was written on had
# neither, so the first run on a machine with Docker writes the first sizes.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker info >/dev/null 2>&1; then
    echo "image_smoke: no Docker engine here (docker info failed): nothing built" >&2
    exit 2
fi

tag="smoke-$(git rev-parse --short HEAD 2>/dev/null || date +%s)"
bot="vanikeys-bot:$tag"
worker="vanikeys-worker:$tag"
fail() { echo "image_smoke: FAILED: $*" >&2; exit 1; }

echo "== building $bot and $worker"
docker build -f Dockerfile.bot -t "$bot" .
docker build -f Dockerfile.runpod -t "$worker" .

echo "== the bot image: console pull, then its HEALTHCHECK"
out="$(printf '/pull ^Love\n' | docker run --rm -i -e VANIKEYS_BACKEND=python -e VANIKEYS_PULL_BUDGET_CPU=4096 "$bot")"
grep -q "4,096 keys" <<<"$out" || fail "the bot image did not answer a pull: $out"
name="vanikeys-smoke-$$"
# -i: stdin stays open, so the console waits (without a chat token or Stripe it is the only front end)
docker run -d -i --name "$name" -e VANIKEYS_BACKEND=python "$bot" >/dev/null
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
healthy=""
for _ in $(seq 1 60); do
    if docker exec "$name" python -m bot.health >/dev/null 2>&1; then healthy=yes; break; fi
    sleep 2
done
[ -n "$healthy" ] || fail "the bot container never became healthy: $(docker exec "$name" python -m bot.health 2>&1 || true)"
docker stop -t 30 "$name" >/dev/null
[ "$(docker inspect -f '{{.State.ExitCode}}' "$name")" = "0" ] || fail "the bot did not stop cleanly on SIGTERM"

echo "== the worker image: a job through the RunPod SDK, and its HEALTHCHECK"
job='{"input": {"v": 1, "format": "btc", "pattern": "^Lo", "budget": 1000000}}'
if docker run --rm --gpus all "$worker" nvidia-smi >/dev/null 2>&1; then
    gpu=(--gpus all)
    backend=cuda
else
    echo "   (no GPU for containers here: the CPU stands in, VANIKEYS_WORKER_BACKEND=python)"
    gpu=()
    backend=python
    job='{"input": {"v": 1, "format": "btc", "pattern": "^Lo", "budget": 4096}}'
fi
out="$(docker run --rm "${gpu[@]}" -e VANIKEYS_WORKER_BACKEND=$backend "$worker" python -m gpu_worker --test_input "$job")"
grep -q "completed successfully" <<<"$out" || fail "the worker did not complete a job: $out"
docker run --rm "${gpu[@]}" -e VANIKEYS_WORKER_BACKEND=$backend "$worker" python -m gpu_worker.health \
    || fail "the worker's health check failed"

echo "== the self-hosted box (the worker image, another command)"
box="vanikeys-box-$$"
docker run -d --name "$box" "${gpu[@]}" -e VANIKEYS_WORKER_BACKEND=$backend \
    -e VANIKEYS_SELFHOSTED_TOKEN=smoke-token-0123456789 "$worker" python -m gpu_worker.selfhosted >/dev/null
trap 'docker rm -f "$name" "$box" >/dev/null 2>&1 || true' EXIT
healthy=""
for _ in $(seq 1 60); do
    if docker exec "$box" python -m gpu_worker.health >/dev/null 2>&1; then healthy=yes; break; fi
    sleep 2
done
[ -n "$healthy" ] || fail "the box never answered its health check"

bot_size="$(docker image inspect -f '{{.Size}}' "$bot")"
worker_size="$(docker image inspect -f '{{.Size}}' "$worker")"
mib() { echo $(( $1 / 1024 / 1024 )); }
echo "== sizes: bot $(mib "$bot_size") MiB, worker $(mib "$worker_size") MiB"
{
    echo
    echo "### Image sizes ($(date -u +%Y-%m-%d), scripts/image_smoke.sh on $(uname -m), Docker $(docker version -f '{{.Server.Version}}'))"
    echo
    echo "| image | size (uncompressed) |"
    echo "|---|---|"
    echo "| Dockerfile.bot | $(mib "$bot_size") MiB |"
    echo "| Dockerfile.runpod | $(mib "$worker_size") MiB |"
} >> BENCHMARKS.md
echo "image_smoke: all passed; sizes appended to BENCHMARKS.md"
