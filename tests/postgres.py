"""A real PostgreSQL server for tests: initdb into a temp dir, run on a free loopback port, stop after.

The binaries come from the machine (Debian's `postgresql` package puts them
under /usr/lib/postgresql/*/bin; `.ci/run` installs it). initdb refuses to run
as root, so as root the server runs as the unprivileged `postgres` account
with its data directory owned by it. `fresh_database()` gives each test an
empty database of its own on the one server a test session shares.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

SERVER_USER = "postgres"


def find_binaries() -> Path | None:
    """The newest installed PostgreSQL bin directory holding initdb and postgres, or None."""
    env = os.environ.get("VANIKEYS_PG_BIN")
    candidates = (
        [env]
        if env
        else sorted(
            glob.glob("/usr/lib/postgresql/*/bin"),
            key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
            reverse=True,
        )
    )
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "postgres").exists():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("postgres") else None


def unavailable_reason() -> str | None:
    """Why PostgreSQL tests cannot run here (None: they can). Missing binaries with apt present is a setup fault."""
    if find_binaries() is not None:
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError:
                return f"running as root and there is no '{SERVER_USER}' account to run PostgreSQL as"
        return None
    if shutil.which("apt-get"):
        raise RuntimeError("PostgreSQL binaries are missing: run `apt-get install -y postgresql` (.ci/run does)")
    return "PostgreSQL binaries not found (no /usr/lib/postgresql/*/bin) and no apt-get to install them"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PortTaken(RuntimeError):
    """The server's port was bound by another process between free_port() and the server's start."""


class PostgresServer:
    def __init__(self, *, durable: bool = False) -> None:
        """durable: fsync every commit, as in production (benchmarks); tests run without, for speed."""
        bindir = find_binaries()
        if bindir is None:
            raise RuntimeError("no PostgreSQL binaries")
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="vanikeys-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.durable = durable
        self._as_root = os.geteuid() == 0
        if self._as_root:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        os.chmod(self.root, 0o700)
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            check=True,
        )

    def _command(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", SERVER_USER, "--", *argv] if self._as_root else argv

    def _run(self, argv: list[str], check: bool) -> None:
        subprocess.run(self._command(argv), check=check, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout_s: float = 30.0) -> PostgresServer:
        """Start on self.port; should another process (a parallel test worker) take that port first, on another."""
        for attempt in range(3):
            try:
                return self._start(timeout_s)
            except PortTaken:
                if attempt == 2:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start(self, timeout_s: float) -> PostgresServer:
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - the server writes to it for its whole life
        fast = [] if self.durable else ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        self.process = subprocess.Popen(
            self._command(
                [
                    str(self.bindir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.root),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    *fast,
                    "-c",
                    "max_connections=300",
                    "-c",
                    "shared_buffers=64MB",
                ]
            ),
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()  # never leave a server behind that nobody will stop
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.root / "server.log").read_text()[-2000:]
                raise (PortTaken if "Address already in use" in tail else RuntimeError)(f"postgres exited: {tail}")
            ready = subprocess.run(
                [
                    str(self.bindir / "pg_isready"),
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "-t",
                    "1",
                ],
                timeout=10,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError(f"postgres did not start in {timeout_s} s")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: disconnect everyone, then exit), waiting for it to be gone."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    async def fresh_database(self) -> str:
        """A new empty database; its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(self.admin_url, timeout=10)
        try:
            await conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        finally:
            await conn.close()
        return self.url(name)


_SHARED: PostgresServer | None = None


def shared_server(config: object) -> PostgresServer:
    """The test session's one server, started on first use and destroyed when pytest finishes."""
    global _SHARED
    if _SHARED is None:
        server = PostgresServer()
        try:
            server.start()
        except BaseException:
            server.destroy()
            raise
        _SHARED = server

        def destroy() -> None:
            global _SHARED
            server.destroy()
            _SHARED = None

        config.add_cleanup(destroy)  # type: ignore[attr-defined]
    return _SHARED


def require_postgres() -> None:
    """Skip the calling test, with one line, where PostgreSQL cannot run at all."""
    import pytest

    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
