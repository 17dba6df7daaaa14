"""The language of the command line and the console, read from the environment once at start.

A person at a terminal says their language the POSIX way: LANGUAGE, LC_ALL, LC_MESSAGES, LANG, the first
one set wins ("es_ES.UTF-8" reads Spanish; "C", "POSIX" and anything not shipped read English), and
VANIKEYS_LANGUAGE, when set, wins over them all. These variables are declared with the other settings in
gpu_worker/settings.py (README's table); they are read here by hand because `vanikeys --help` must start
without pydantic (tests/engine/test_cli.py checks the imports of a bare start).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from gpu_worker.i18n import DEFAULT, negotiate

OVERRIDE = "VANIKEYS_LANGUAGE"
POSIX_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")  # in the order POSIX (and GNU gettext) reads them
ENGLISH_NAMES = ("C", "POSIX")


def locale_of(value: str) -> str:
    """One variable's value ("es_ES.UTF-8", "pt_BR:en", "C") -> the shipped locale it reads, English when none.

    A colon-separated list (GNU's LANGUAGE) gives the first entry that is shipped."""
    for entry in value.split(":"):
        tag = entry.strip().split(".", 1)[0].split("@", 1)[0]  # "sr_RS.UTF-8@latin" -> "sr_RS"
        if tag.upper() in ENGLISH_NAMES:
            return DEFAULT
        locale = negotiate(tag)
        if locale is not None:
            return locale
    return DEFAULT


def terminal_locale(environ: Mapping[str, str] | None = None) -> str:
    """The locale of this process's person: VANIKEYS_LANGUAGE, else the first POSIX variable set, else English."""
    env = os.environ if environ is None else environ
    for name in (OVERRIDE, *POSIX_VARIABLES):
        value = env.get(name, "").strip()
        if value:
            return locale_of(value)
    return DEFAULT
