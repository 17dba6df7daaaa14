"""Imported only by the helpers' fork server (gpu_worker/helper_processes.py), as its first preloaded module:
blocks Ctrl-C in it, so every helper it forks starts with Ctrl-C held back until the helper decides what Ctrl-C
means to it. Nothing else imports this module: importing it anywhere else would hold back that process's Ctrl-C.
"""

from __future__ import annotations

import signal

signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
