"""The message catalogs (gpu_worker/locale): extract, update, compile, check. docs/i18n.md says when to run which.

    python scripts/i18n.py extract        the template (vanikeys.pot) from every _() / ngettext() / N_() in the code
                                          and the web pages' templates (babel.cfg says which files, read how)
    python scripts/i18n.py update         merge the template into each language's .po (new text untranslated)
    python scripts/i18n.py init LANG      start a new language's .po from the template
    python scripts/i18n.py compile        each .po -> the .mo the bot reads
    python scripts/i18n.py all            extract, update, compile

Wraps Babel's own `pybabel` so the options (keywords, mapping, paths) live in one place.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from babel.messages.frontend import CommandLineInterface

REPO = Path(__file__).resolve().parents[1]
LOCALE_DIR = REPO / "gpu_worker" / "locale"
TEMPLATE = LOCALE_DIR / "vanikeys.pot"
DOMAIN = "vanikeys"
# locale_str: Discord command texts; NC_/pgettext: text under a context (Discord command and option names);
# _html: the web pages' messages that keep their own tags (bot/web/templates).
KEYWORDS = [
    "-k",
    "_",
    "-k",
    "ngettext:1,2",
    "-k",
    "N_",
    "-k",
    "NC_:1c,2",
    "-k",
    "pgettext:1c,2",
    "-k",
    "locale_str",
    "-k",
    "_html",
]


def pybabel(*args: str) -> None:
    os.chdir(REPO)  # locations in the catalogs relative to the repository
    CommandLineInterface().run(["pybabel", "-q", *args])


def extract() -> None:
    pybabel(
        "extract",
        "-F",
        str(REPO / "babel.cfg"),
        "--no-default-keywords",
        *KEYWORDS,
        "--sort-by-file",
        "--project",
        "VaniKeys",
        "--copyright-holder",
        "VaniKeys",
        "--add-location",
        "file",
        "--width",
        "120",
        "-o",
        str(TEMPLATE.relative_to(REPO)),
        "gpu_worker",
        "bot",
        "payments",
    )


def update() -> None:
    pybabel(
        "update",
        "-i",
        str(TEMPLATE),
        "-d",
        str(LOCALE_DIR),
        "-D",
        DOMAIN,
        "--width",
        "120",
        "--ignore-obsolete",
        "--no-fuzzy-matching",
    )


def init(language: str) -> None:
    pybabel("init", "-i", str(TEMPLATE), "-d", str(LOCALE_DIR), "-D", DOMAIN, "-l", language, "--width", "120")


def compile_() -> None:
    pybabel("compile", "-d", str(LOCALE_DIR), "-D", DOMAIN, "--statistics")


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "all"
    if command == "extract":
        extract()
    elif command == "update":
        update()
    elif command == "init" and len(argv) == 3:
        init(argv[2])
    elif command == "compile":
        compile_()
    elif command == "all":
        extract()
        update()
        compile_()
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
