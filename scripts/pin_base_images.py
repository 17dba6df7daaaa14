"""Pin every Dockerfile's base images by digest, keeping the tag: `python scripts/pin_base_images.py [DIR]`.

    FROM python:3.11-slim   ->   FROM python:3.11-slim@sha256:<the digest the registry serves for that tag now>

Needs a registry: it asks `docker buildx imagetools inspect IMAGE` (Docker with buildx, logged in where the
registry needs it) for the digest of each tag, with the Dockerfile's ARG defaults filled in (a digest pins
those defaults: after changing CUDA_VERSION or UBUNTU, run this again). Run it again to move to the
newest image of each tag (security fixes), then rebuild and run scripts/image_smoke.sh, and commit both
Dockerfiles together. A line already pinned is re-pinned, never pinned twice.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

FROM = re.compile(r"^(FROM\s+)(\S+?)(@sha256:[0-9a-f]{64})?(\s+AS\s+\S+)?\s*$", re.IGNORECASE)
ARG = re.compile(r"^ARG\s+(\w+)=(\S+)\s*$")


def digest_of(image: str) -> str:
    answer = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", image, "--format", "{{.Manifest.Digest}}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    digest = answer.stdout.strip().strip('"')
    if answer.returncode != 0 or not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise SystemExit(f"cannot read the digest of {image}: {answer.stderr.strip() or answer.stdout.strip()}")
    return digest


def pin(dockerfile: Path) -> int:
    args: dict[str, str] = {}
    stages: set[str] = set()
    lines = dockerfile.read_text().splitlines(keepends=True)
    pinned = 0
    for number, line in enumerate(lines):
        if match := ARG.match(line):
            args[match[1]] = match[2]
        if not (match := FROM.match(line)):
            continue
        image = match[2]
        if match[4]:
            stages.add(match[4].split()[-1])
        if image in stages:
            continue
        resolved = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], image)
        digest = digest_of(resolved)
        lines[number] = f"{match[1]}{image}@{digest}{match[4] or ''}\n"
        print(f"{dockerfile.name}: {resolved}@{digest}")
        pinned += 1
    dockerfile.write_text("".join(lines))
    return pinned


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parents[1]
    total = sum(pin(path) for path in sorted(folder.glob("Dockerfile*")))
    print(f"{total} base image(s) pinned")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
