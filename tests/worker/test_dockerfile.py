"""Dockerfile.runpod, read statically (Docker cannot run here): everything it copies and runs exists."""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile.runpod"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def parse(path: Path) -> list[Instruction]:
    """Dockerfile instructions with line continuations joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def build_args(instructions: list[Instruction]) -> dict[str, str]:
    return dict(i.args.split("=", 1) for i in instructions if i.keyword == "ARG" and "=" in i.args)


def ignored(path: str) -> bool:
    patterns = [
        p.strip() for p in (REPO / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    return any(fnmatch.fnmatch(path, p.rstrip("/")) or path.startswith(p.rstrip("/") + "/") for p in patterns)


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse(DOCKERFILE)


def test_cuda_12_devel_build_stage_and_a_slim_final_stage(instructions: list[Instruction]) -> None:
    args = build_args(instructions)
    froms = [i.args for i in instructions if i.keyword == "FROM"]
    resolved = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], f) for f in froms]
    assert len(resolved) == 2
    assert re.match(r"nvidia/cuda:12\.\d+\.\d+-devel-ubuntu\S+ AS build$", resolved[0])
    assert re.match(r"nvidia/cuda:12\.\d+\.\d+-(base|runtime)-ubuntu\S+$", resolved[1])


def test_every_copied_file_exists_and_is_in_the_build_context(instructions: list[Instruction]) -> None:
    copies = [i for i in instructions if i.keyword in ("COPY", "ADD")]
    assert copies
    build_outputs = {"/opt/venv", "/app/gpu_worker"}
    for copy in copies:
        parts = shlex.split(copy.args)
        flags = [p for p in parts if p.startswith("--")]
        sources = [p for p in parts if not p.startswith("--")][:-1]
        if any(flag.startswith("--from=") for flag in flags):
            assert set(sources) <= build_outputs, f"{copy.args}: copies something the build stage does not make"
            continue
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
            assert not ignored(source), f"COPY {source}: excluded by .dockerignore"


def test_the_kernel_build_compiles_every_architecture_from_real_sources(instructions: list[Instruction]) -> None:
    runs = " ".join(i.args for i in instructions if i.keyword == "RUN")
    match = re.search(r"for arch in ([\d ]+); do", runs)
    assert match and match.group(1).split() == ["80", "86", "89", "90"]
    cuda_source = (REPO / "gpu_worker/grinders/cuda.py").read_text()
    declared = re.search(r"^ARCHITECTURES = \(([^)]*)\)", cuda_source, re.M)
    assert declared and [f"sm_{a}" for a in match.group(1).split()] == re.findall(r'"(sm_\d+)"', declared.group(1))
    entry = re.search(r'get_function\("(\w+)"\)', cuda_source)
    assert entry and f"grep -q {entry.group(1)} " in runs  # each cubin is checked for the kernel the backend loads
    assert "nvcc -cubin -arch=sm_${arch}" in runs
    for source in re.findall(r"gpu_worker/kernels/[\w./-]+\.cu\b", runs):
        assert (REPO / source).is_file(), f"{source} is compiled but does not exist"
    # the stamp the cuda backend checks before trusting a shipped cubin
    for module, name in re.findall(r"from ([\w.]+) import (\w+)", runs):
        module_path = REPO / (module.replace(".", "/") + ".py")
        assert module_path.is_file(), f"the build imports {module}, which does not exist"
        assert re.search(rf"^def {name}\(", module_path.read_text(), re.M), f"{module} has no {name}()"
    assert 'kernel_dir() / "cubin" / f"grind_{arch}.cubin"' in cuda_source
    assert 'with_suffix(".sha")' in cuda_source


def test_every_module_it_runs_exists(instructions: list[Instruction]) -> None:
    commands = [i.args for i in instructions if i.keyword in ("RUN", "CMD", "ENTRYPOINT")]
    modules = [
        m for c in commands for m in re.findall(r"python3? -m ([\w.]+)", c.replace('", "', " ").replace('"', ""))
    ]
    local = [m for m in modules if m.split(".")[0] in ("gpu_worker", "bot", "payments")]
    assert "gpu_worker" in local
    for module in local:
        path = REPO / module.replace(".", "/")
        assert (path / "__main__.py").is_file() or path.with_suffix(".py").is_file(), f"python -m {module}: not found"
    cmd = next(i.args for i in instructions if i.keyword == "CMD")
    assert cmd == '["python", "-m", "gpu_worker"]'


def locked() -> dict[str, list[str]]:
    """requirements-worker.lock as {name: the entry's hashes}; every entry must carry one (tests/deploy/test_locks.py
    reads it the same way, markers and all)."""
    from tests.deploy.test_locks import pins

    entries = {name: hashes for name, _, _, hashes in pins(REPO / "requirements-worker.lock")}
    assert all(entries.values()), "a lock entry without a hash"
    return entries


def direct_requirements() -> set[str]:
    lines = (REPO / "requirements-worker.in").read_text().splitlines()
    return {
        re.split(r"[<>=\[ ]", line.strip())[0].lower() for line in lines if line.strip() and not line.startswith("#")
    }


def test_it_installs_the_engine_alone_from_a_hashed_lock(instructions: list[Instruction]) -> None:
    runs = " ".join(i.args for i in instructions if i.keyword == "RUN")
    direct = direct_requirements()
    assert {"coincurve", "base58", "pycryptodome", "pydantic", "runpod", "cupy-cuda12x"} <= direct
    assert not direct & {"discord.py", "python-telegram-bot", "stripe", "aiosqlite"}
    lock = locked()
    assert direct <= set(lock), f"not in the lock: {direct - set(lock)}"
    assert not set(lock) & {"discord-py", "python-telegram-bot", "stripe", "aiosqlite"}  # no bot dependency
    assert "--require-hashes" in runs and "-r /tmp/requirements-worker.lock" in runs
    copied = {shlex.split(i.args)[0] for i in instructions if i.keyword == "COPY" and "--from" not in i.args}
    assert copied == {"gpu_worker", "requirements-worker.lock"}
    assert "pip install ." not in runs  # the project's dependencies include the whole bot


def test_worker_imports_are_covered_by_what_it_installs() -> None:
    # Third-party imports of every module the worker loads, against the direct requirements.
    provides = {
        "coincurve": "coincurve",
        "base58": "base58",
        "Crypto": "pycryptodome",
        "pydantic": "pydantic",
        "runpod": "runpod",
        "cupy": "cupy-cuda12x",
        "aiohttp": "aiohttp",
        "cryptography": "cryptography",
    }
    direct = direct_requirements()
    worker_modules = [
        "__main__.py",
        "handler.py",
        "job.py",
        "errors.py",
        "formats.py",
        "patterns.py",
        "verify.py",
        "keyspace.py",
        "positions.py",
        "grinders/__init__.py",
        "grinders/base.py",
        "grinders/cuda.py",
        "selfhosted.py",
        "sealing.py",
    ]
    for name in worker_modules:
        source = REPO / "gpu_worker" / name
        if not source.exists():
            continue
        for top in re.findall(r"^\s*(?:from|import) ([A-Za-z_]\w*)", source.read_text(), re.M):
            if top in provides:
                assert provides[top] in direct, f"gpu_worker/{name} imports {top}: require {provides[top]}"


def test_runtime_environment_is_safe(instructions: list[Instruction]) -> None:
    env = " ".join(i.args for i in instructions if i.keyword == "ENV")
    assert "VANIKEYS_WORKER_BACKEND=cuda" in env
    assert "RUNPOD_LOG_LEVEL=INFO" in env
    assert "DEBUG" not in env
    assert any(i.keyword == "USER" and i.args != "root" for i in instructions)
    assert not any(k in env for k in ("RUNPOD_API_KEY", "STRIPE", "TOKEN", "VAULT_KEY"))


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    for path in (
        ".env",
        ".venv/bin/python",
        "vanikeys.db",
        ".git/config",
        "gpu_worker/kernels/cubin/grind_sm_80.cubin",
    ):
        assert ignored(path), f"{path} would be sent to the Docker daemon"
    for path in (
        "gpu_worker/handler.py",
        "gpu_worker/kernels/grind.cu",
        "bot/__init__.py",
        "pyproject.toml",
        "README.md",
    ):
        assert not ignored(path), f"{path} is needed by a Dockerfile but ignored"


def test_version_bounds_match_pyproject(instructions: list[Instruction]) -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"]) + [d for extra in project["optional-dependencies"].values() for d in extra]
    bounds = {re.split(r"[<>=\[]", spec)[0].lower(): spec for spec in declared}
    runs = " ".join(i.args for i in instructions if i.keyword == "RUN")
    for spec in re.findall(r'"([A-Za-z0-9_.\-]+[<>=][^"]*)"', runs):
        name = re.split(r"[<>=\[]", spec)[0].lower()
        if name in bounds:
            assert spec == bounds[name], f"Dockerfile.runpod installs {spec}, pyproject.toml says {bounds[name]}"
