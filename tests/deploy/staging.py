"""Stage a deployable exactly as its recipe builds it, outside the checkout, and run it there.

- `DockerIgnore`: Docker's .dockerignore rules (Go filepath.Match patterns, `**`, `!` exceptions, a
  matching directory excludes what is under it, the last matching rule wins).
- `stage_dockerfile`: reads a Dockerfile with a real parser (dockerfile-parse), then replays its COPY/ADD
  lines (multi-stage `--from` included) into a directory per stage that stands for the image's
  filesystem, letting in only what the build context and .dockerignore let in. It records ENV, WORKDIR,
  USER, RUN, HEALTHCHECK and CMD, so the tests run the image's own commands from that tree.
- `layered_venv`: a fresh virtual environment whose own site-packages come first and which sees the test
  environment's packages after them (a .pth file), so installing into it needs no network. This is the
  one liberty taken with "install it the way the image does": the dependencies come from the test
  environment rather than from the lock, which tests/deploy/test_locks.py checks on its own and
  scripts/image_smoke.sh installs for real where Docker runs.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dockerfile_parse import DockerfileParser

# ---- .dockerignore -------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """moby's patternmatcher: `**` any number of directories, `*` and `?` within one, [classes], escapes."""
    out = ["^"]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):  # "**/" matches zero or more leading directories
                out.append("(?:.*/)?")
                i += 1
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
                i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    out.append("$")
    return re.compile("".join(out))


@dataclass
class DockerIgnore:
    rules: list[tuple[bool, re.Pattern[str]]] = field(default_factory=list)  # (exception, regex)

    @classmethod
    def read(cls, path: Path) -> DockerIgnore:
        rules = []
        text = path.read_text() if path.is_file() else ""
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            exception = line.startswith("!")
            pattern = os.path.normpath(line[1:] if exception else line).lstrip("/")
            rules.append((exception, _pattern_regex(pattern)))
        return cls(rules)

    def excludes(self, relative: str) -> bool:
        """Whether the build context leaves `relative` (a POSIX path from the context's root) out."""
        parts = PurePosixPath(relative).parts
        candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        excluded = False
        for exception, regex in self.rules:
            if any(regex.match(candidate) for candidate in candidates):
                excluded = not exception
        return excluded


# ---- Dockerfiles ---------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    root: Path  # stands for the image's "/"
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = "root"
    runs: list[tuple[str, str]] = field(default_factory=list)  # (WORKDIR at the time, the RUN line)
    healthcheck: list[str] | None = None
    healthcheck_options: str = ""
    cmd: list[str] | None = None
    copied: list[str] = field(default_factory=list)  # image paths written by COPY/ADD
    made_by_run: list[str] = field(default_factory=list)  # COPY --from paths a RUN made (a venv): stood in for

    def path(self, image_path: str, workdir: str | None = None) -> Path:
        """The staged file for a path inside the image (relative paths from `workdir`, default the last WORKDIR)."""
        absolute = PurePosixPath(self.workdir if workdir is None else workdir, image_path)
        return self.root.joinpath(*absolute.parts[1:])


def _substitute(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m[1] or m[2], ""), text)


def _flags_and_words(value: str) -> tuple[dict[str, str], list[str]]:
    words = json.loads(value) if value.lstrip().startswith("[") else shlex.split(value)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, flag_value = words.pop(0)[2:].partition("=")
        flags[key] = flag_value
    return flags, words


def _exec_form(value: str) -> list[str]:
    value = value.strip()
    assert value.startswith("["), f"exec form expected (signals must reach the program): {value}"
    return json.loads(value)


def _copy_tree(source: Path, target: Path, keep: callable) -> list[Path]:  # type: ignore[valid-type]
    """Copy `source` (a file, or a directory's contents) to `target`, files passing keep(path) only."""
    written = []
    if source.is_file():
        if keep(source):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            written.append(target)
        return written
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.rglob("*")):
        if path.is_file() and keep(path):
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
            written.append(destination)
    return written


def parse_dockerfile(dockerfile: Path) -> list[dict[str, str]]:
    parser = DockerfileParser(fileobj=io.BytesIO(dockerfile.read_bytes()))
    return [i for i in parser.structure if i["instruction"] != "COMMENT"]


def stage_dockerfile(dockerfile: Path, context: Path, into: Path) -> list[Stage]:
    """Replay `dockerfile`'s file-system instructions into `into`/<stage>; the stages, the final one last."""
    ignore = DockerIgnore.read(context / ".dockerignore")
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in parse_dockerfile(dockerfile):
        kind, value = instruction["instruction"], instruction["value"]
        if kind == "ARG":
            name, _, default = value.partition("=")
            args[name.strip()] = default.strip()
        elif kind == "FROM":
            words = _substitute(value, args).split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            parent = next((s for s in stages if s.name == words[0]), None)
            root = into / f"stage-{len(stages)}"
            if parent is not None:
                shutil.copytree(parent.root, root)
            else:
                root.mkdir(parents=True)
            stage = Stage(name=name, base=words[0], root=root)
            if parent is not None:
                stage.env, stage.workdir, stage.user = dict(parent.env), parent.workdir, parent.user
            stages.append(stage)
        elif kind == "ENV":
            stage = stages[-1]
            for word in shlex.split(value.replace("\\\n", " ")):
                key, _, text = word.partition("=")
                stage.env[key] = _substitute(text, {**stage.env, "PATH": stage.env.get("PATH", "$PATH")})
        elif kind == "WORKDIR":
            stages[-1].workdir = str(PurePosixPath(stages[-1].workdir, _substitute(value, stages[-1].env)))
        elif kind == "USER":
            stages[-1].user = value.strip()
        elif kind == "RUN":
            stages[-1].runs.append((stages[-1].workdir, value))
        elif kind in ("COPY", "ADD"):
            _copy(stages, kind, value, context, ignore)
        elif kind == "HEALTHCHECK":
            options, _, command = value.partition("CMD")
            stages[-1].healthcheck = _exec_form(command)
            stages[-1].healthcheck_options = options.strip()
        elif kind == "CMD":
            stages[-1].cmd = _exec_form(value)
    return stages


def _copy(stages: list[Stage], kind: str, value: str, context: Path, ignore: DockerIgnore) -> None:
    stage = stages[-1]
    flags, words = _flags_and_words(value)
    *sources, destination = words
    into_dir = destination.endswith("/") or len(sources) > 1
    if "from" in flags:
        source_stage = next(s for s in stages if s.name == flags["from"])
        for source in sources:
            found = source_stage.path(source)
            if not found.exists():
                assert any(source in line for _, line in source_stage.runs), (
                    f"{kind} --from={flags['from']} {source}: nothing there in that stage, and no RUN makes it"
                )
                stage.made_by_run.append(source)
                continue
            target = stage.path(destination) / found.name if into_dir else stage.path(destination)
            _copy_tree(found, target, lambda _p: True)
            stage.copied.append(str(PurePosixPath(stage.workdir, destination)))
        return
    assert kind == "COPY", f"ADD fetches and unpacks; use COPY for files from the context: {value}"
    for source in sources:
        matches = sorted(context.glob(source)) if any(c in source for c in "*?[") else [context / source]
        for found in matches:
            relative = found.relative_to(context).as_posix()
            assert found.exists(), f"{kind} {source}: not in the build context"
            assert not ignore.excludes(relative), f"{kind} {source}: .dockerignore leaves it out of the context"
            target = stage.path(destination) / found.name if (into_dir and found.is_file()) else stage.path(destination)
            _copy_tree(found, target, lambda p: not ignore.excludes(p.relative_to(context).as_posix()))
            stage.copied.append(str(PurePosixPath(stage.workdir, destination)))


def shell_commands(run: str) -> list[list[str]]:
    """A RUN line's simple commands (split on && ; ||), as words."""
    lexer = shlex.shlex(run.replace("\\\n", " "), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in ("&&", ";", "||", "|", "&"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [words for words in commands if words]


# ---- virtual environments ------------------------------------------------------------------------


def layered_venv(path: Path) -> Path:
    """A new virtual environment over the test environment's packages; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "zz_test_environment.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


def clean_env(**extra: str) -> dict[str, str]:
    """The environment a container starts with: no VANIKEYS_/chat/payment variables from this shell,
    no PYTHONPATH pointing at the checkout."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_", "PYTHON"))
    }
    if "VANIKEYS_CACHE" in os.environ:  # the native kernel build cache: shared, so it compiles once per run
        keep["VANIKEYS_CACHE"] = os.environ["VANIKEYS_CACHE"]
    keep.update(extra)
    return keep
