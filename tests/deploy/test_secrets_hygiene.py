"""Secrets stay out of git and out of images; the bot warns when its vault key file could be committed."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.app import create_app
from bot.key_hygiene import committable
from tests.bot.conftest import small_settings

ROOT = Path(__file__).resolve().parents[2]
SECRETS = (
    "vanikeys.db.vaultkey",
    "vanikeys.vaultkey",
    "vanikeys.db",
    "vanikeys.db-wal",
    ".env",
    ".env.production",
    "vanikeys-cards/btc-epic.png",
)

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git executable")


def git(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True, check=False, timeout=30)


@needs_git
@pytest.mark.parametrize("path", SECRETS)
def test_gitignore_covers_every_secret(tmp_path: Path, path: str) -> None:
    git(tmp_path, "init", "-q")
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text("secret")
    assert git(tmp_path, "check-ignore", "-q", path).returncode == 0, f".gitignore lets {path} be committed"


@needs_git
def test_gitignore_still_lets_the_env_example_in(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    (tmp_path / ".env.example").write_text("VANIKEYS_DB=vanikeys.db\n")
    assert git(tmp_path, "check-ignore", "-q", ".env.example").returncode == 1


def test_dockerignore_covers_every_secret() -> None:
    from tests.deploy.staging import DockerIgnore

    ignore = DockerIgnore.read(ROOT / ".dockerignore")
    for path in SECRETS:
        assert ignore.excludes(path), f".dockerignore lets {path} into the build context"


def test_compose_publishes_the_webhook_on_loopback_only_behind_an_https_proxy() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert [port.split(":")[0] for port in compose["services"]["bot"]["ports"]] == ["127.0.0.1"]
    caddy = compose["services"]["caddy"]
    [config] = [v for v in caddy["volumes"] if v.endswith(":/etc/caddy/Caddyfile:ro")]
    caddyfile = (ROOT / config.split(":")[0]).read_text()
    from payments.config import CANCEL_PATH, SUCCESS_PATH

    assert "reverse_proxy bot:8080" in caddyfile and "handle /stripe/webhook {" in caddyfile
    assert SUCCESS_PATH.startswith("/checkout/") and CANCEL_PATH.startswith("/checkout/")
    assert "handle /checkout/* {" in caddyfile, "buyers come back to the landing pages through the proxy"
    assert "/metrics" not in caddyfile.split("{$VANIKEYS_DOMAIN}")[1], "metrics stay private"


@needs_git
async def test_a_key_file_in_a_work_tree_that_does_not_ignore_it_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    git(tmp_path, "init", "-q")
    settings = small_settings(tmp_path, vault_key=None)
    with caplog.at_level(logging.WARNING, logger="bot.key_hygiene"):
        async with create_app(settings, resume_jobs=False):
            pass
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.key_hygiene"]
    assert len(warnings) == 1 and str(settings.resolved_vault_key_file) in warnings[0] and "*.vaultkey" in warnings[0]


@needs_git
async def test_no_warning_once_the_work_tree_ignores_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    git(tmp_path, "init", "-q")
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    settings = small_settings(tmp_path, vault_key=None)
    with caplog.at_level(logging.WARNING, logger="bot.key_hygiene"):
        async with create_app(settings, resume_jobs=False):
            pass
    assert not [r for r in caplog.records if r.name == "bot.key_hygiene"]


def test_a_key_file_outside_any_work_tree_or_already_tracked(tmp_path: Path) -> None:
    outside = tmp_path / "plain" / "vanikeys.db.vaultkey"
    outside.parent.mkdir()
    outside.write_text("k")
    assert committable(outside) is None
    if shutil.which("git") is None:
        return
    tree = tmp_path / "repo"
    tree.mkdir()
    git(tree, "init", "-q")
    (tree / "vanikeys.db.vaultkey").write_text("k")
    git(tree, "add", "vanikeys.db.vaultkey")
    shutil.copy(ROOT / ".gitignore", tree / ".gitignore")
    assert committable(tree / "vanikeys.db.vaultkey") == tree.resolve(), (
        "a tracked key is committed whatever ignores it"
    )
