"""The README's commands work on a system whose Python is protected, CI runs exactly the README's test command,
and the repository cites only files that are in it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_command(after: str) -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(re.escape(after) + r"\s*```sh\n(.+?)\n```", text, re.S)
    assert block, f"README has no command after {after!r}"
    return block[1].strip()


def test_the_quick_start_commands_make_and_use_a_virtual_environment() -> None:
    for after in ("grinder, a SQLite file, free daily pulls):", "Run the tests:"):
        command = readme_command(after)
        steps = [step.strip() for step in command.split("&&")]
        assert steps[0] == "python3 -m venv .venv", command
        for step in steps[1:]:
            assert step.split()[0].startswith(".venv/bin/"), f"{step!r} would use the system's Python (PEP 668)"


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    extracted = subprocess.run(
        ["bash", "-c", re.search(r'command="\$\((.+)\)"', script)[1]],
        cwd=ROOT,  # type: ignore[index]
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert extracted == readme_command("Run the tests:")
    assert 'bash -c "$command"' in script


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True).stdout
    paths = [
        ROOT / name
        for name in listed.split()
        if name.endswith((".py", ".md", ".cuh", ".cu", ".toml", ".yml", ".sh", ".in")) or name.startswith("Dockerfile")
    ]
    return [p for p in paths if p.is_file()]


def test_nothing_cites_a_design_file_outside_the_repository() -> None:
    for path in tracked_text_files():
        relative = path.relative_to(ROOT).as_posix()
        if relative == "tests/deploy/test_docs.py":
            continue
        text = path.read_text(errors="replace")
        assert "../shared/DESIGN" not in text, f"{relative} cites ../shared/DESIGN.md"
        assert not re.search(r"(?<![\w/])DESIGN\.md", text), f"{relative} cites DESIGN.md: cite docs/design.md"


def test_every_cited_doc_script_and_deploy_file_exists() -> None:
    cited = re.compile(r"(?<![\w./-])((?:docs|scripts|deploy)/[\w./-]+\.(?:md|py|sh|png)|deploy/Caddyfile)")
    missing = []
    for path in tracked_text_files():
        relative = path.relative_to(ROOT).as_posix()
        for match in cited.finditer(path.read_text(errors="replace")):
            target = match[1].rstrip(".")
            if "*" in target:
                continue
            if not (ROOT / target).exists():
                missing.append(f"{relative} cites {target}")
    assert not missing, "; ".join(missing)
