"""`python -m tests.bot.skewed_clock SECONDS MODULE ARG...`: run MODULE as `python -m MODULE ARG...` does, with this
process's wall clock (time.time) running SECONDS behind everyone else's (tests/bot/test_takeover.py). The code reads
`time.time` through the module when it runs, so patching it here, also in a child forked from a warm interpreter
(tests/warm.py) that imported the code already, skews every read."""

from __future__ import annotations

import runpy
import sys
import time

if __name__ == "__main__":
    skew, module, *args = sys.argv[1:]
    real = time.time
    time.time = lambda: real() - float(skew)
    sys.argv = [module, *args]
    sys.modules.pop(module, None)  # as `python -m`: the module runs as __main__ only
    runpy.run_module(module, run_name="__main__", alter_sys=True)
