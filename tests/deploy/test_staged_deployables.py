"""What ships is what is tested: each deployable staged from its own recipe and run outside the checkout.

The bot image, the RunPod image, the self-hosted box (the RunPod image with another command), the Modal
app (only what its image definition mounts) and the wheel (a non-editable `pip install .` from a copy of
the sources). Each is installed into a fresh virtual environment (tests/deploy/staging.py says how) and
runs its own start-up and health commands and one real grind job on this CPU, from the staged tree.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpu_worker.grinders.native import compiler
from tests.deploy.staging import Stage, clean_env, layered_venv, shell_commands, stage_dockerfile
from tests.payments.fake_stripe import FakeStripe

ROOT = Path(__file__).resolve().parents[2]
CPU_BACKEND = "native" if compiler() is not None else "python"  # the images' GPU backend, on this CPU
JOB = {"v": 1, "format": "btc", "pattern": "^a", "budget": 2048, "top": 1}

pytestmark = pytest.mark.timeout(300)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(
    argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 180, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=timeout)


def image_env(stage: Stage, venv_python: Path, **extra: str) -> dict[str, str]:
    """The image's ENV with its paths moved into the staged tree, and its venv's bin first on PATH."""
    env = clean_env()
    for key, value in stage.env.items():
        if key == "PATH":
            continue
        if key == "VANIKEYS_CACHE" and key in env:
            # The run's shared cache (clean_env): the native build that stands in for the GPU here is then
            # compiled once per run, not again inside the staged image (7.6 CPU-s on this box).
            continue
        if key == "PYTHONPATH" or (value.startswith("/") and key != "VANIKEYS_WEBHOOK_HOST"):
            value = os.pathsep.join(str(stage.path(part)) for part in value.split(os.pathsep))
        env[key] = value
    env["PATH"] = f"{venv_python.parent}{os.pathsep}{os.environ['PATH']}"
    env.update(extra)
    return env


def command(stage: Stage, argv: list[str], venv_python: Path) -> list[str]:
    """An image command run here: `python` is the venv's, a console script is the venv's."""
    program = venv_python if argv[0] in ("python", "python3") else venv_python.parent / argv[0]
    return [str(program), *argv[1:]]


def assert_imported_from(python: Path, module: str, where: Path, env: dict[str, str], cwd: Path) -> None:
    found = run([str(python), "-c", f"import {module}; print({module}.__file__)"], cwd=cwd, env=env, timeout=60)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()).resolve().is_relative_to(where.resolve()), (
        f"{module} came from {found.stdout.strip()}, not from what the deployable ships ({where})"
    )
    assert not Path(found.stdout.strip()).resolve().is_relative_to(ROOT), "imported from the checkout"


# ---- the bot image -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bot_image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Stage, Path]:
    """Dockerfile.bot staged, and its RUN pip commands run as written (the lock step excepted: see staging.py)."""
    into = tmp_path_factory.mktemp("bot-image")
    [stage] = stage_dockerfile(ROOT / "Dockerfile.bot", ROOT, into)
    python = layered_venv(into / "venv")
    installs = [
        (workdir, words)
        for workdir, line in stage.runs
        for words in shell_commands(line)
        if words[:2] == ["pip", "install"]
    ]
    workdir, lock_step = installs[0]
    assert [w for w in lock_step if w.startswith("-")] == ["--require-hashes", "--no-deps", "--only-binary=:all:", "-r"]
    assert stage.path(lock_step[-1], workdir).is_file(), "the lock the image installs was copied in first"
    for workdir, words in installs[1:]:  # the package itself, from the staged sources, exactly as the image does
        done = run([str(python), "-m", *words], cwd=stage.path(workdir), env=clean_env())
        assert done.returncode == 0, done.stdout + done.stderr
    return stage, python


def test_the_bot_image_ships_only_what_it_needs(bot_image: tuple[Stage, Path]) -> None:
    stage, _ = bot_image
    shipped = {p.relative_to(stage.path("/app")).as_posix() for p in stage.path("/app").rglob("*") if p.is_file()}
    assert "bot/cli.py" in shipped and "gpu_worker/kernels/grind.cuh" in shipped and "payments/webhook.py" in shipped
    assert not [
        p
        for p in shipped
        if p.startswith(("tests/", "docs/", "benchmarks/", ".git"))
        or "__pycache__" in p
        or p.endswith((".db", ".vaultkey"))
        or ".env" in p
    ]


def test_the_bot_image_starts_grinds_a_pull_is_healthy_and_stops_on_sigterm(bot_image: tuple[Stage, Path]) -> None:
    stage, python = bot_image
    data = stage.path(stage.workdir)
    data.mkdir(parents=True, exist_ok=True)

    async def scenario() -> None:
        fake = await FakeStripe(api_key="sk_test_staged").start()
        port = free_port()
        env = image_env(
            stage,
            python,
            VANIKEYS_WEBHOOK_HOST="127.0.0.1",
            VANIKEYS_WEBHOOK_PORT=str(port),
            STRIPE_API_KEY="sk_test_staged",
            STRIPE_WEBHOOK_SECRET="whsec_staged",
            STRIPE_API_BASE=fake.url,
            VANIKEYS_PUBLIC_URL="https://bot.example",
            VANIKEYS_BACKEND=CPU_BACKEND,
            VANIKEYS_PULL_BUDGET_CPU="2048",
        )
        try:
            assert_imported_from(python, "bot.cli", python.parent.parent, env, data)
            process = await asyncio.create_subprocess_exec(
                *command(stage, stage.cmd or [], python),
                cwd=data,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            assert process.stdin is not None
            process.stdin.write(b"/pull ^Love\n")
            process.stdin.close()  # a container has no console: it keeps serving the webhook
            assert process.stdout is not None
            pulled = []
            while not pulled or "cost " not in pulled[-1]:  # the pull's last line
                line = await asyncio.wait_for(process.stdout.readline(), 120)
                assert line, "the bot stopped before answering the pull"
                pulled.append(line.decode())
            health = command(stage, stage.healthcheck or [], python)
            deadline = time.monotonic() + 120
            while True:
                checked = await asyncio.to_thread(run, health, cwd=data, env=env, timeout=60)
                if checked.returncode == 0 or time.monotonic() > deadline or process.returncode is not None:
                    break
                await asyncio.sleep(0.5)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            process.send_signal(signal.SIGTERM)
            stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
        finally:
            await fake.stop()
        assert process.returncode == 0, stderr.decode()
        text = "".join(pulled) + stdout.decode()
        assert "2,048 keys" in text and "private_key" in text, text + stderr.decode()
        assert "Traceback" not in stderr.decode()
        after = await asyncio.to_thread(run, health, cwd=data, env=env, timeout=60)
        assert after.returncode == 1 and "not running" in after.stdout, "a stopped bot is not healthy"

    asyncio.run(scenario())


# ---- the RunPod image and the self-hosted box ---------------------------------------------------


@pytest.fixture(scope="module")
def worker_image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Stage, Path]:
    into = tmp_path_factory.mktemp("worker-image")
    stages = stage_dockerfile(ROOT / "Dockerfile.runpod", ROOT, into)
    build, final = stages[0], stages[-1]
    [(workdir, install)] = [
        (workdir, words) for workdir, line in build.runs for words in shell_commands(line) if words[0].endswith("/pip")
    ]
    assert [w for w in install if w.startswith("-")] == ["--require-hashes", "--no-deps", "--only-binary=:all:", "-r"]
    assert build.path(install[-1], workdir).is_file(), "the lock the image installs was copied in first"
    assert final.made_by_run == ["/opt/venv"] and install[0] == "/opt/venv/bin/pip"  # the layered venv stands in
    return final, layered_venv(into / "venv")


def test_the_worker_image_ships_the_kernel_sources(worker_image: tuple[Stage, Path]) -> None:
    stage, python = worker_image
    env = image_env(stage, python, VANIKEYS_WORKER_BACKEND=CPU_BACKEND)
    assert_imported_from(python, "gpu_worker.grinders.cuda", stage.path("/app"), env, stage.path(stage.workdir))
    digest = run(
        [str(python), "-c", "from gpu_worker.grinders.cuda import source_digest; print(source_digest())"],
        cwd=stage.path(stage.workdir),
        env=env,
    )
    assert digest.returncode == 0 and len(digest.stdout.strip()) == 16, digest.stderr


def test_the_runpod_worker_grinds_a_job_through_the_sdk_and_its_healthcheck_passes(
    worker_image: tuple[Stage, Path],
) -> None:
    stage, python = worker_image
    # The image says cuda (a GPU worker must not grind on a CPU at GPU prices); here the CPU stands in.
    env = image_env(stage, python, VANIKEYS_WORKER_BACKEND=CPU_BACKEND)
    done = run(
        [*command(stage, stage.cmd or [], python), "--test_input", json.dumps({"input": JOB})],
        cwd=stage.path(stage.workdir),
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Job local_test completed successfully" in done.stdout and "'checked': 2048" in done.stdout, done.stdout
    health = run(command(stage, stage.healthcheck or [], python), cwd=stage.path(stage.workdir), env=env)
    assert health.returncode == 0 and health.stdout.startswith("healthy"), health.stdout + health.stderr


def test_the_worker_healthcheck_fails_when_the_grinder_cannot_load(worker_image: tuple[Stage, Path]) -> None:
    stage, python = worker_image
    env = image_env(stage, python, VANIKEYS_WORKER_BACKEND="no-such-backend")
    health = run(command(stage, stage.healthcheck or [], python), cwd=stage.path(stage.workdir), env=env)
    assert health.returncode == 1 and health.stdout.startswith("unhealthy: the grinder did not load"), health.stdout


def test_the_self_hosted_box_serves_a_job_and_its_healthcheck_goes_through_it(worker_image: tuple[Stage, Path]) -> None:
    stage, python = worker_image
    port, token = free_port(), "box-token-0123456789abcdef"
    env = image_env(
        stage,
        python,
        VANIKEYS_WORKER_BACKEND=CPU_BACKEND,
        VANIKEYS_SELFHOSTED_TOKEN=token,
        VANIKEYS_SELFHOSTED_PORT=str(port),
    )
    box = subprocess.Popen(
        [str(python), "-m", "gpu_worker.selfhosted", "--host", "127.0.0.1", "--port", str(port)],
        cwd=stage.path(stage.workdir),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = None
        for _ in range(240):
            health = run(command(stage, stage.healthcheck or [], python), cwd=stage.path(stage.workdir), env=env)
            if health.returncode == 0 or box.poll() is not None:
                break
            time.sleep(0.5)
        assert health is not None and health.returncode == 0, health and health.stdout
        assert "self-hosted box answered" in health.stdout
        wrong = run(
            command(stage, stage.healthcheck or [], python),
            cwd=stage.path(stage.workdir),
            env={**env, "VANIKEYS_SELFHOSTED_TOKEN": "not-the-token-at-all"},
        )
        assert wrong.returncode == 1 and "HTTP 401" in wrong.stdout
    finally:
        box.send_signal(signal.SIGINT)
        try:
            box.wait(30)
        except subprocess.TimeoutExpired:
            box.kill()
            box.wait(10)


# ---- the Modal app: only what its image definition mounts ---------------------------------------


def modal_mounted_files(image: object) -> list[tuple[Path, str]]:
    """(local file, path in the container) for every file the image's mounts upload (Modal's own walk)."""
    from modal._utils.async_utils import synchronizer
    from modal.mount import _Mount

    found: list[tuple[Path, str]] = []
    seen: set[int] = set()

    def walk(obj: object) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, _Mount):
            for entry in obj._entries:
                found.extend((Path(local), str(remote)) for local, remote in entry.get_files_to_upload())
        deps = getattr(obj, "_deps", None)
        for dep in deps() if deps else []:
            walk(dep)

    walk(synchronizer._translate_in(image))
    return found


def test_the_modal_function_grinds_from_only_what_its_image_mounts(tmp_path: Path) -> None:
    pytest.importorskip("modal")
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        import modal_app
    finally:
        sys.path.remove(str(ROOT / "deploy"))
    container_root = tmp_path / "root"
    files = modal_mounted_files(modal_app.image)
    assert files, "the image mounts no source"
    for local, remote in files:
        assert remote.startswith("/root/"), remote
        target = container_root / remote.removeprefix("/root/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(local.read_bytes())
    # `modal deploy deploy/modal_app.py` mounts the app's own file at /root as well.
    (container_root / "modal_app.py").write_bytes((ROOT / "deploy" / "modal_app.py").read_bytes())
    python = layered_venv(tmp_path / "venv")
    env = clean_env(PYTHONPATH=str(container_root), VANIKEYS_WORKER_BACKEND=CPU_BACKEND)
    assert_imported_from(python, "gpu_worker.handler", container_root, env, container_root)
    program = (
        "import asyncio, json, modal_app\n"
        "from gpu_worker.grinders.cuda import source_digest\n"
        "print(source_digest())\n"
        f"print(json.dumps(asyncio.run(modal_app.run_job({JOB!r}))))\n"
    )
    done = run([str(python), "-c", program], cwd=container_root, env=env)
    assert done.returncode == 0, done.stderr
    _digest, answer = done.stdout.strip().splitlines()[-2:]
    result = json.loads(answer)
    assert "error" not in result, result
    assert result["checked"] == JOB["budget"] and result["backend"] == CPU_BACKEND and len(result["results"]) == 1


def test_the_modal_image_installs_the_worker_lock() -> None:
    pytest.importorskip("modal")
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        import modal_app
    finally:
        sys.path.remove(str(ROOT / "deploy"))
    assert modal_app.LOCK == ROOT / "requirements-worker.lock" and modal_app.LOCK.is_file()
    source = (ROOT / "deploy" / "modal_app.py").read_text()
    assert ".pip_install_from_requirements(str(LOCK))" in source and ".pip_install(" not in source


# ---- the wheel --------------------------------------------------------------------------------


def test_a_non_editable_install_from_outside_the_repository_grinds(tmp_path: Path) -> None:
    sources = tmp_path / "src"
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("needs git to list the repository's files")
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (ROOT / name).is_file():
            (sources / name).parent.mkdir(parents=True, exist_ok=True)
            (sources / name).write_bytes((ROOT / name).read_bytes())
    python = layered_venv(tmp_path / "venv")
    installed = run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "."],
        cwd=sources,
        env=clean_env(),
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env()
    assert_imported_from(python, "gpu_worker.grinders.cuda", python.parent.parent, env, elsewhere)
    kernels = run(
        [str(python), "-c", "from gpu_worker.grinders.cuda import source_digest; print(source_digest())"],
        cwd=elsewhere,
        env=env,
    )
    assert kernels.returncode == 0, kernels.stderr
    grind = run(
        [str(python.parent / "vanikeys"), "grind", "btc", "^a", "--budget", "2048", "--backend", CPU_BACKEND, "--json"],
        cwd=elsewhere,
        env=env,
    )
    assert grind.returncode == 0, grind.stderr
    assert json.loads(grind.stdout)["checked"] == 2048
