"""Dockerfile.bot and docker-compose.yml refer only to things that exist, and build what the bot needs."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    text = (ROOT / "Dockerfile.bot").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            result.append((keyword.upper(), args.strip()))
    return result


def exec_form(args: str) -> list[str]:
    assert args.startswith("["), f"use the exec form so signals reach the bot: {args}"
    return json.loads(args)


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_base_image_is_slim_python_the_package_supports() -> None:
    [(_, image)] = [i for i in instructions() if i[0] == "FROM"]
    version = re.fullmatch(r"python:(3\.\d+)-slim", image)
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
    assert "pyproject.toml" in copied
    readme = pyproject()["project"].get("readme")
    assert readme is None or readme in copied, "pip install . reads the readme named in pyproject.toml"
    for pattern in pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert package in copied, f"package {package} is installed from pyproject but not copied"
        assert (ROOT / package / "__init__.py").is_file()


def test_every_command_run_exists_and_no_gpu_extra_is_installed() -> None:
    runs = [args for keyword, args in instructions() if keyword == "RUN"]
    assert runs
    for run in runs:
        for command in re.split(r"&&|;|\|\|", run):
            words = shlex.split(command)
            assert shutil.which(words[0]), f"Dockerfile.bot runs {words[0]}, which does not exist"
            if words[:2] == ["pip", "install"]:
                targets = [w for w in words[2:] if not w.startswith("-")]
                assert targets == ["."], f"install the package alone, without extras: {command}"
                assert (ROOT / "pyproject.toml").is_file()


def test_dependencies_are_installed_before_the_sources_are_copied() -> None:
    """A change to the code must not reinstall every dependency: the layer that installs them comes first."""
    steps = instructions()
    first_source = next(i for i, (keyword, args) in enumerate(steps)
                        if keyword == "COPY" and any(p in args.split() for p in ("bot", "./bot", "gpu_worker")))
    installs = [i for i, (keyword, args) in enumerate(steps)
                if keyword == "RUN" and re.search(r"pip install (--no-deps )?\.(\s|$)", args)]
    assert installs and installs[0] < first_source, "install the dependencies before copying the sources"
    assert any("--no-deps" in steps[i][1] for i in installs if i > first_source), "the final install adds no deps"


def test_runs_as_the_non_root_user_it_creates() -> None:
    users = [args for keyword, args in instructions() if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    created = re.search(r"useradd\b[^&;]*?\s(\w+)\s*(?:&&|;|$)", " ".join(a for k, a in instructions() if k == "RUN"))
    assert created and created[1] == users[-1]


def test_command_is_vanikeys_bot_from_the_package_scripts() -> None:
    [(_, cmd)] = [i for i in instructions() if i[0] == "CMD"]
    program, *arguments = exec_form(cmd)
    assert (program, arguments) == ("vanikeys", ["bot"])
    module, _, function = pyproject()["project"]["scripts"]["vanikeys"].partition(":")
    source = ROOT / (module.replace(".", "/") + ".py")
    assert source.is_file(), f"the vanikeys script points at {module}, which does not exist"
    assert re.search(rf"^def {function}\(", source.read_text(), re.M)
    assert re.search(r"""["']bot["']""", source.read_text()), f"{module} has no 'bot' subcommand"


def test_healthcheck_runs_a_module_of_the_package() -> None:
    [(_, args)] = [i for i in instructions() if i[0] == "HEALTHCHECK"]
    command = exec_form(args[args.index("CMD") + 3:].strip())
    assert command[:2] == ["python", "-m"]
    assert (ROOT / (command[2].replace(".", "/") + ".py")).is_file()


def test_compose_builds_this_image_with_a_data_volume() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    bot = compose["services"]["bot"]
    assert (ROOT / bot["build"]["context"] / bot["build"]["dockerfile"]).resolve() == ROOT / "Dockerfile.bot"
    [volume] = bot["volumes"]
    name, mount = volume.split(":")
    assert name in compose["volumes"] and mount == "/data"
    environment = bot["environment"]
    assert environment["VANIKEYS_DB"].startswith("/data/") and environment["VANIKEYS_VAULT_KEY_FILE"].startswith("/data/")
    assert f"{environment['VANIKEYS_WEBHOOK_PORT']}:" in bot["ports"][0]
    assert not any(key in environment for key in ("STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "DISCORD_TOKEN"))
