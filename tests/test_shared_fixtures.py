"""The shared test machinery: warm interpreter children behave as processes of their own; PostgreSQL finds a port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import PostgresServer, require_postgres
from tests.warm import WarmInterpreter

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def warm() -> Iterator[WarmInterpreter]:
    interpreter = WarmInterpreter(["tests.warm"])
    try:
        yield interpreter
    finally:
        interpreter.close()


def probe(
    warm: WarmInterpreter, *argv: str, env: dict[str, str] | None = None, cwd: Path = REPO, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return warm.run("tests.warm_probe", argv, env=env or dict(os.environ), cwd=cwd, input=stdin, timeout=30)


def test_a_child_has_its_own_environment_directory_arguments_and_stdio(warm: WarmInterpreter, tmp_path: Path) -> None:
    done = probe(warm, "echo", "x y", env={**os.environ, "PROBE": "child's"}, cwd=tmp_path, stdin="typed\n")
    assert done.returncode == 0 and done.stderr == "to stderr\n"
    seen = json.loads(done.stdout)
    assert seen == {
        "argv": ["echo", "x y"],
        "cwd": str(tmp_path),
        "env": "child's",
        "pid": seen["pid"],
        "stdin": "typed\n",
        "main": "__main__",
    }
    assert seen["pid"] not in (os.getpid(), json.loads(probe(warm, "echo").stdout)["pid"])


def test_a_child_whose_output_nobody_reads_can_send_it_to_devnull(warm: WarmInterpreter) -> None:
    child = warm.popen(
        "tests.warm_probe",
        ["flood", str(1 << 20)],
        env=dict(os.environ),
        cwd=REPO,
        stdin=None,
        stdout=subprocess.DEVNULL,
    )
    assert child.stdout is None
    assert child.wait(30) == 0  # a megabyte written: into a pipe nobody reads, it would never end
    assert child.communicate(timeout=10) == ("", "flooded\n")


def test_exit_statuses_are_a_processes(warm: WarmInterpreter) -> None:
    assert probe(warm, "exit", "3").returncode == 3
    ended = probe(warm, "os_exit", "7")
    assert ended.returncode == 7 and ended.stdout == ""  # os._exit: nothing flushed, as in any process
    crashed = probe(warm, "raise")
    assert crashed.returncode == 1 and "ValueError: a bug" in crashed.stderr and "Traceback" in crashed.stderr
    sleeper = warm.popen("tests.warm_probe", ["sleep", "30"], env=dict(os.environ), cwd=REPO)
    sleeper.kill()
    assert sleeper.wait(10) == -signal.SIGKILL


def test_a_child_ends_as_an_interpreter_does(warm: WarmInterpreter) -> None:
    done = probe(warm, "at_exit")
    assert done.returncode == 0 and done.stdout == "thread finished\natexit ran\n"


def test_children_start_from_the_server_state_not_each_others(warm: WarmInterpreter) -> None:
    assert probe(warm, "mutate", "first").stdout == "None\n"
    assert probe(warm, "mutate", "second").stdout == "None\n"


def test_children_run_side_by_side(warm: WarmInterpreter, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [warm.popen("tests.warm_probe", ["wait_for", str(go)], env=dict(os.environ), cwd=REPO) for _ in range(2)]
    go.touch()
    outputs = [p.communicate(timeout=30) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert len({int(out) for out, _ in outputs} | {os.getpid()}) == 3


def test_a_timeout_kills_the_child_and_says_so(warm: WarmInterpreter) -> None:
    proc = warm.popen("tests.warm_probe", ["sleep", "30"], env=dict(os.environ), cwd=REPO)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.communicate(timeout=0.5)
    assert proc.returncode == -signal.SIGKILL


def test_postgres_moves_to_another_port_when_its_port_is_taken() -> None:
    require_postgres()
    server = PostgresServer()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", server.port))  # as a parallel worker that took the port first would have
        taken.listen()
        try:
            server.start()
            assert server.port != taken.getsockname()[1]
            assert server.process is not None and server.process.poll() is None
        finally:
            server.destroy()
