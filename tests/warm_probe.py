"""What tests/test_shared_fixtures.py runs in warm children: `python -m tests.warm_probe ACTION [ARG]`."""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time

import tests.warm as shared_module  # imported by the server too: its state must not pass from child to child


def main(action: str, arg: str = "") -> int:
    if action == "echo":
        print(
            json.dumps(
                {
                    "argv": sys.argv[1:],
                    "cwd": os.getcwd(),
                    "env": os.environ.get("PROBE"),
                    "pid": os.getpid(),
                    "stdin": sys.stdin.read(),
                    "main": __name__,
                }
            )
        )
        print("to stderr", file=sys.stderr)
        return 0
    if action == "exit":
        sys.exit(int(arg))
    if action == "os_exit":
        sys.stdout.write("unflushed")
        os._exit(int(arg))
    if action == "raise":
        raise ValueError("a bug")
    if action == "mutate":
        before = getattr(shared_module, "probe_mark", None)
        shared_module.probe_mark = arg  # type: ignore[attr-defined]
        print(before)
        return 0
    if action == "wait_for":  # until the file ARG exists: two children alive at once
        while not os.path.exists(arg):
            time.sleep(0.01)
        print(os.getpid())
        return 0
    if action == "at_exit":
        atexit.register(lambda: print("atexit ran", flush=True))
        threading.Thread(target=lambda: (time.sleep(0.2), print("thread finished", flush=True))).start()
        return 0
    if action == "flood":  # more output than a pipe holds, then a line on stderr
        sys.stdout.write("x" * int(arg))
        sys.stdout.flush()
        print("flooded", file=sys.stderr)
        return 0
    if action == "sleep":
        time.sleep(float(arg))
        return 0
    raise SystemExit(f"unknown action {action}")


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
