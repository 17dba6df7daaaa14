"""Dockerfile.bot and docker-compose.yml refer only to things that exist, and build what the bot needs.

Read with a real Dockerfile parser (dockerfile-parse); tests/deploy/test_staged_deployables.py builds and
runs what it stages."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import yaml

from tests.deploy.staging import parse_dockerfile, shell_commands

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    return [(i["instruction"], i["value"]) for i in parse_dockerfile(ROOT / "Dockerfile.bot")]


def exec_form(args: str) -> list[str]:
    assert args.startswith("["), f"use the exec form so signals reach the bot: {args}"
    return json.loads(args)


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_base_image_is_slim_python_the_package_supports() -> None:
    [(_, image)] = [i for i in instructions() if i[0] == "FROM"]
    version = re.fullmatch(r"python:(3\.\d+)-slim(@sha256:[0-9a-f]{64})?", image)
    assert version, image
    needed = re.fullmatch(r">=(3\.\d+)", pyproject()["project"]["requires-python"])
    assert needed and tuple(map(int, version[1].split("."))) >= tuple(map(int, needed[1].split(".")))


def test_everything_copied_exists_and_every_package_is_copied() -> None:
    copied: list[str] = []
    for keyword, args in instructions():
        if keyword in ("COPY", "ADD"):
            assert keyword == "COPY" and not args.startswith("--from"), args
            *sources, _destination = shlex.split(args)
            copied += sources
    for source in copied:
        assert (ROOT / source).exists(), f"Dockerfile.bot copies {source}, which is not in the repo"
    assert "pyproject.toml" in copied and "requirements-bot.lock" in copied
    readme = pyproject()["project"].get("readme")
    assert readme is None or readme in copied, "pip install . reads the readme named in pyproject.toml"
    for pattern in pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert package in copied, f"package {package} is installed from pyproject but not copied"
        assert (ROOT / package / "__init__.py").is_file()


def test_dependencies_come_from_the_hashed_lock_before_the_sources_and_the_package_adds_none() -> None:
    steps = instructions()
    first_source = next(
        i
        for i, (keyword, args) in enumerate(steps)
        if keyword == "COPY" and any(p in args.split() for p in ("bot", "gpu_worker"))
    )
    installs = [
        (i, words)
        for i, (keyword, args) in enumerate(steps)
        if keyword == "RUN"
        for words in shell_commands(args)
        if words[:2] == ["pip", "install"]
    ]
    (lock_at, lock_step), (package_at, package_step) = installs
    assert lock_at < first_source < package_at, "install the dependencies before copying the sources"
    assert (
        "--require-hashes" in lock_step
        and "--no-deps" in lock_step
        and lock_step[-2:] == ["-r", "requirements-bot.lock"]
    )
    assert [w for w in package_step[2:] if not w.startswith("-")] == ["."], "the package alone, without extras"
    assert {"--no-deps", "--no-index", "--no-build-isolation"} <= set(package_step), "nothing unpinned gets in"


def test_runs_as_the_non_root_user_it_creates() -> None:
    users = [args for keyword, args in instructions() if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    created = re.search(r"useradd\b[^&;]*--uid (\d+)", " ".join(a for k, a in instructions() if k == "RUN"))
    assert created and created[1] == users[-1]


def test_command_is_vanikeys_bot_from_the_package_scripts() -> None:
    [(_, cmd)] = [i for i in instructions() if i[0] == "CMD"]
    program, *arguments = exec_form(cmd)
    assert (program, arguments) == ("vanikeys", ["bot"])
    module, _, function = pyproject()["project"]["scripts"]["vanikeys"].partition(":")
    source = ROOT / (module.replace(".", "/") + ".py")
    assert source.is_file(), f"the vanikeys script points at {module}, which does not exist"
    assert re.search(rf"^def {function}\(", source.read_text(), re.M)


def test_healthcheck_runs_the_bots_health_module() -> None:
    [(_, args)] = [i for i in instructions() if i[0] == "HEALTHCHECK"]
    command = exec_form(args[args.index("CMD") + 3 :].strip())
    assert command == ["python", "-m", "bot.health"]
    assert (ROOT / "bot" / "health.py").is_file()


def test_compose_builds_this_image_with_a_data_volume() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    bot = compose["services"]["bot"]
    assert (ROOT / bot["build"]["context"] / bot["build"]["dockerfile"]).resolve() == ROOT / "Dockerfile.bot"
    [volume] = bot["volumes"]
    name, mount = volume.split(":")
    assert name in compose["volumes"] and mount == "/data"
    environment = bot["environment"]
    assert environment["VANIKEYS_DB"].startswith("/data/") and environment["VANIKEYS_VAULT_KEY_FILE"].startswith(
        "/data/"
    )
    assert bot["ports"] == [f"127.0.0.1:{environment['VANIKEYS_WEBHOOK_PORT']}:8080"]
    assert bot["stdin_open"] is True, "a console-only bot would exit at end of input and restart forever"
    assert not any(key in environment for key in ("STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "DISCORD_TOKEN"))
