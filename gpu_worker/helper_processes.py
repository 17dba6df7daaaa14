"""How helper processes start: the python backend's pool workers, the bot's odds worker and its local grinder's.

They may not be forked from the process that needs them (the bot runs threads and an event loop, and a fork
copies locks held by other threads), and spawning each one as a fresh interpreter costs its imports again
(0.4 s of CPU per pool worker on the 2-core dev box, which every new backend pays once per CPU). A fork
server is both safe and quick: one single-threaded process, started on first use, imports what the helpers
run and forks each of them from that state. Where there is no fork server (Windows), helpers are spawned.

A forked helper's environment is the one the fork server started with, not its caller's at that moment: the
bot reads its settings once at start, so for it the two are the same.

Ctrl-C: spawned helpers inherited the caller's signal mask, so a Ctrl-C held back while they started stayed
pending until they chose to ignore it (gpu_worker/grinders/python.py). A fork server's children inherit the
fork server's mask instead: its first preloaded module (gpu_worker.forkserver_mask) blocks SIGINT there, so
it stays held in a helper until the helper decides what Ctrl-C means to it (the pool's workers ignore it, then
unblock; the others never take it: Ctrl-C is their caller's).
"""

from __future__ import annotations

import multiprocessing
import os
import select
import threading
import time
from multiprocessing.context import ForkServerContext, SpawnContext

# Imported by the fork server before anything else (forkserver_mask first: the order is kept).
_preload: list[str] = ["gpu_worker.forkserver_mask"]
_preload_lock = threading.Lock()


def helper_context(*modules: str) -> ForkServerContext | SpawnContext:
    """The multiprocessing context to start helpers with; `modules` are what they run, imported once by the
    fork server if it has not started yet (a later caller's modules are imported by its helpers as needed)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    with _preload_lock:
        for name in modules:
            if name not in _preload:
                _preload.append(name)
        context.set_forkserver_preload(list(_preload))
    return context


def exit_with(caller: int, check_every_s: float = 0.5) -> None:
    """In a helper: end this process once `caller` (the process it works for) has ended, on a daemon thread. A
    caller killed outright (SIGKILL, OOM) cannot stop its helpers, and a helper's parent is the fork server,
    which lives while any helper holds its pipe: so the caller itself is watched, not the parent. A pidfd
    (Linux) says when it has ended, zombie or not; elsewhere its pid is polled."""

    def watch() -> None:
        try:
            handle = os.pidfd_open(caller)
        except ProcessLookupError:
            os._exit(0)
        except (AttributeError, OSError):  # no pidfds here
            while _running(caller):
                time.sleep(check_every_s)
        else:
            select.select([handle], [], [])  # readable once the process has ended
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="orphan-watch").start()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # there, but not ours to signal
        return True
    return True
