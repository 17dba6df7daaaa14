"""A warning at start when the vault key file could be committed: inside a git work tree and not ignored.

The key opens every sealed private key in the database; `git add -A` in a checkout where the bot ran
would otherwise take it along. This only warns (the file is the operator's to move or ignore).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)


def work_tree_of(path: Path) -> Path | None:
    """The git work tree `path` sits in (a parent holding `.git`, a directory or a worktree's file), or None."""
    for parent in path.resolve().parents:
        if (parent / ".git").exists():
            return parent
    return None


def committable(key_file: Path) -> Path | None:
    """The work tree in which `key_file` is neither ignored nor outside git, else None.

    Without a git executable the ignore rules cannot be read: a key inside a work tree is then reported
    (better a needless warning than a silent leak)."""
    tree = work_tree_of(key_file)
    if tree is None:
        return None
    git = shutil.which("git")
    if git is None:
        return tree
    try:
        checked = subprocess.run(
            [git, "-C", str(tree), "check-ignore", "-q", str(key_file.resolve())], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return tree
    return None if checked.returncode == 0 else tree  # 0: ignored; 1: not ignored; 128: not a repository


def warn_if_committable(key_file: Path) -> bool:
    """Log one warning when the vault key file could be committed; True when it did."""
    tree = committable(key_file)
    if tree is None:
        return False
    log.warning(
        "the vault key file %s is inside the git work tree %s and not ignored: `git add` would commit the "
        "key that opens every sealed private key. Add `*.vaultkey` to %s/.gitignore, or move the file "
        "(VANIKEYS_VAULT_KEY_FILE) or the database (VANIKEYS_DB) out of the work tree",
        key_file,
        tree,
        tree,
    )
    return True
