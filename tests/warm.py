"""A warm interpreter for tests that run `python -m MODULE ...` processes: each is a fork of a server that
has already imported the code, so a test pays milliseconds, not seconds of imports, per process.

    warm = shared()                         # this process's (tests/conftest.py's `warm_python` fixture)
    done = warm.run("bot.cli", ["console", "--json"], env=env, cwd=REPO, input="/balance\\n", timeout=60)
    proc = warm.popen("bot.cli", ["bot"], env=env, cwd=REPO)  # .pid .stdin .stdout .stderr .wait() .kill()

What the child is: a real process of its own, with its own pid, the given environment, working
directory, argv and pipes for stdin, stdout and stderr, running the module as `python -m` does
(runpy, as __main__). It exits the way an interpreter does (atexit, non-daemon threads joined,
stdio flushed), and os._exit, a crash or a SIGKILL end it like any process; its exit status
comes back as a Popen's does (negative: the signal). What differs from a fresh interpreter: the
modules the server imported are not imported again (so nothing the child's environment says can
change how they were imported: only settings read at import time would notice, and the code under
test reads its settings when it runs; likewise what the C library reads once at process start, such
as MALLOC_ARENA_MAX), the server's hash seed is shared, and at exit the modules are not torn down, so
an object nobody closed is not finalized (atexit handlers and weakref.finalize callbacks do run).
A test about the interpreter itself (startup time, the import set, memory, `python -m` in a fresh
process) starts a fresh one.

The server forks from its main thread only, with no event loop and nothing but imports done.
"""

from __future__ import annotations

import io
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
_LENGTH = struct.Struct("!I")
_SERVER_STDIO: list[Any] = []


# ---- the client: what tests use ---------------------------------------------------------------

# What the shared warm interpreter imports before it forks: the command line and everything `vanikeys
# console`, `vanikeys bot` and the other commands run (importing more changes nothing a child does, only its speed).
WARM_MODULES = (
    "bot.cli",
    "bot.cli_commands.console",
    "bot.cli_commands.run",
    "bot.cli_commands.vault",
    "bot.cli_commands.costs",
    "bot.app",
    "bot.frontends.console",
    "bot.storage.sqlite",
    "bot.storage.postgres",
    "bot.admin",
    "bot.backup",
    "payments.webhook",
    "gpu_worker.cli",
    "gpu_worker.bench",
    "gpu_worker.grinders.python",
    "gpu_worker.verify",
    "rich.progress",
)
_SHARED: WarmInterpreter | None = None
_SHARED_LOCK = threading.Lock()


def shared() -> WarmInterpreter:
    """This test process's warm interpreter (one per pytest-xdist worker), started on first use.

    It ends with the process: the server leaves when its stdin (this process's pipe) closes.
    """
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            import atexit

            _SHARED = WarmInterpreter(WARM_MODULES)
            atexit.register(_SHARED.close)
        return _SHARED


class WarmInterpreter:
    def __init__(self, modules: Sequence[str]) -> None:
        self._folder = tempfile.mkdtemp(prefix="vanikeys-warm-")
        self.address = os.path.join(self._folder, "server")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
        # stdin: the server exits when this process closes it (or dies), so it never outlives the test session.
        self._server = subprocess.Popen(
            [sys.executable, "-m", "tests.warm", self.address, *modules],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self._server.stdout is not None
        ready = self._server.stdout.readline()
        if ready != b"ready\n":
            _, err = self._server.communicate(timeout=30)
            raise RuntimeError(f"the warm interpreter did not start: {err.decode(errors='replace')[-2000:]}")

    def popen(
        self,
        module: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | str,
        stdin: int | io.IOBase | None = subprocess.PIPE,
        stdout: int = subprocess.PIPE,
    ) -> WarmProcess:
        """Start `python -m MODULE ARGV` as a fork of the server; stderr is a pipe (text), and stdout too unless
        it is subprocess.DEVNULL (for a long-running child whose output nobody reads: a full pipe would stop it)."""
        return WarmProcess(self.address, module, argv, env, cwd, stdin, stdout)

    def run(
        self,
        module: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | str,
        input: str | None = None,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """subprocess.run(..., capture_output=True, text=True) for a warm `python -m MODULE ARGV`."""
        proc = self.popen(
            module, argv, env=env, cwd=cwd, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL
        )
        out, err = proc.communicate(input, timeout=timeout)
        return subprocess.CompletedProcess([sys.executable, "-m", module, *argv], proc.returncode, out, err)

    def close(self) -> None:
        if self._server.poll() is None:
            assert self._server.stdin is not None
            self._server.stdin.close()
            try:
                self._server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()
        for pipe in (self._server.stdout, self._server.stderr):
            if pipe is not None:
                pipe.close()
        for name in os.listdir(self._folder):
            os.unlink(os.path.join(self._folder, name))
        os.rmdir(self._folder)


class WarmProcess:
    """The part of subprocess.Popen tests use, for a forked child of the warm server."""

    def __init__(
        self,
        address: str,
        module: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path | str,
        stdin: int | io.IOBase | None,
        stdout: int = subprocess.PIPE,
    ) -> None:
        self.args = [sys.executable, "-m", module, *argv]
        self.returncode: int | None = None
        ends: list[int] = []  # the child's ends, closed here once sent
        if stdin == subprocess.PIPE:
            child_in, parent_in = os.pipe()
            self.stdin: io.TextIOWrapper | None = open(parent_in, "w", encoding="utf-8")  # noqa: SIM115
        elif isinstance(stdin, io.IOBase):  # an open file: the child reads it as its standard input
            child_in, self.stdin = os.dup(stdin.fileno()), None
        else:
            child_in, self.stdin = os.open(os.devnull, os.O_RDONLY), None
        self.stdout: io.TextIOWrapper | None = None
        if stdout == subprocess.DEVNULL:
            out_write = os.open(os.devnull, os.O_WRONLY)
        else:
            out_read, out_write = os.pipe()
            self.stdout = open(out_read, encoding="utf-8", errors="replace")  # noqa: SIM115
        err_read, err_write = os.pipe()
        ends = [child_in, out_write, err_write]
        self.stderr: io.TextIOWrapper | None = open(err_read, encoding="utf-8", errors="replace")  # noqa: SIM115
        self._control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._control.connect(address)
            body = json.dumps({"module": module, "argv": list(argv), "env": dict(env), "cwd": str(cwd)}).encode()
            socket.send_fds(self._control, [_LENGTH.pack(len(body)) + body], ends)
            self.pid = int(_read_line(self._control))
        finally:
            for fd in ends:
                os.close(fd)

    def poll(self) -> int | None:
        if self.returncode is None:
            self._collect(blocking=False)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._collect(timeout=timeout)
        assert self.returncode is not None
        return self.returncode

    def _collect(self, *, blocking: bool = True, timeout: float | None = None) -> None:
        """The exit status from the server (it reaped the child): a line once the child has ended."""
        self._control.settimeout(timeout if blocking else 0.0)
        try:
            self.returncode = int(_read_line(self._control))
        except (TimeoutError, BlockingIOError):
            if blocking:
                raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
            return
        self._control.close()

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)  # the server reaps it: the pid is not reused before we hear its status

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, input: str | None = None, timeout: float | None = None) -> tuple[str, str]:
        """Write input, read both outputs to their end, wait for the exit; on timeout, SIGKILL and raise."""
        results: dict[str, str] = {}

        def read(name: str, pipe: io.TextIOWrapper) -> None:
            results[name] = pipe.read()
            pipe.close()

        readers = [
            threading.Thread(target=read, args=(name, pipe), daemon=True)
            for name, pipe in (("out", self.stdout), ("err", self.stderr))
            if pipe is not None
        ]
        for reader in readers:
            reader.start()
        if self.stdin is not None:
            try:
                if input:
                    self.stdin.write(input)
                self.stdin.close()
            except BrokenPipeError:
                pass
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        try:
            for reader in readers:  # as subprocess does: both outputs to their end, then the exit status
                reader.join(left())
                if reader.is_alive():
                    raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self.wait(left())
        except subprocess.TimeoutExpired:
            self.kill()
            self.wait()
            raise
        self.stdout = self.stderr = None
        return results.get("out", ""), results.get("err", "")


def _read_line(sock: socket.socket) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise RuntimeError("the warm interpreter closed the connection (did it exit?)")
        line += chunk
    return line


# ---- the server ------------------------------------------------------------------------------


def serve(address: str, modules: Sequence[str]) -> tuple[dict[str, Any], list[int]]:
    """Import, then fork a child per request; returns only in a child, with its request and descriptors."""
    import importlib

    for module in modules:
        importlib.import_module(module)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(sys.stdin, selectors.EVENT_READ, "parent")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        for key, _ in selector.select():
            if key.data == "parent":  # our test process closed our stdin or is gone: so are we
                return {}, []
            if key.data == "accept":
                conn, _ = listener.accept()
                request, fds = _receive(conn)
                pid = os.fork()
                if pid == 0:
                    for other in selector.get_map().values():  # other children's connections and pidfds
                        if isinstance(other.data, tuple):
                            other.data[0].close()
                            os.close(other.data[2])
                    selector.close()
                    listener.close()
                    conn.close()
                    return request, fds
                for fd in fds:
                    os.close(fd)
                conn.sendall(f"{pid}\n".encode())
                pidfd = os.pidfd_open(pid)
                selector.register(pidfd, selectors.EVENT_READ, (conn, pid, pidfd))
            else:
                conn, pid, pidfd = key.data
                _, status = os.waitpid(pid, 0)
                selector.unregister(pidfd)
                os.close(pidfd)
                try:
                    conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
                except OSError:
                    pass  # the test stopped listening (it timed out): nothing to tell
                conn.close()


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    message, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    (length,) = _LENGTH.unpack(message[: _LENGTH.size])
    body = message[_LENGTH.size :]
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            raise RuntimeError("a truncated request")
        body += chunk
    return json.loads(body), fds


def become(request: dict[str, Any], fds: list[int]) -> int:
    """In the forked child: take the request's stdio, environment, directory and argv, and run its module."""
    import runpy
    import traceback

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    encoding = os.environ.get("PYTHONIOENCODING", sys.stdout.encoding)
    # The server's own stdio objects stay referenced: were they collected now, they would close 0, 1 and 2.
    _SERVER_STDIO.extend((sys.stdin, sys.stdout, sys.stderr))
    sys.stdin = sys.__stdin__ = open(0, encoding=encoding, closefd=False)  # noqa: SIM115
    sys.stdout = sys.__stdout__ = open(1, "w", encoding=encoding, errors=sys.stdout.errors, closefd=False)  # noqa: SIM115
    sys.stderr = sys.__stderr__ = open(  # noqa: SIM115
        2, "w", encoding=encoding, errors="backslashreplace", closefd=False, buffering=1
    )
    sys.argv = ["-m", *request["argv"]]
    if "numpy" in sys.modules:  # as random's own state is after a fork: not the server's sequence
        sys.modules["numpy"].random.seed()
    sys.modules.pop(request["module"], None)  # as in a fresh `python -m`: the module runs as __main__ only
    try:
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)  # as an interpreter ends on an uncaught Ctrl-C: by the signal
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def exit_as_an_interpreter_does(code: int) -> None:
    """Join non-daemon threads, run atexit, flush stdio; then leave without tearing down every module the
    server imported (collecting them is what a fresh interpreter never had to do, and took ~0.2 s)."""
    import atexit

    threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx does first
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    request, fds = serve(sys.argv[1], sys.argv[2:])
    if not request:
        sys.exit(0)
    exit_as_an_interpreter_does(become(request, fds))
