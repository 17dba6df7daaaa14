"""The command line's language: VANIKEYS_LANGUAGE, then the POSIX variables (LANGUAGE, LC_ALL, LC_MESSAGES, LANG)."""

from __future__ import annotations

import pytest

from gpu_worker.config_fields import env_name
from gpu_worker.settings import WorkerSettings
from gpu_worker.terminal_language import OVERRIDE, POSIX_VARIABLES, terminal_locale


@pytest.mark.parametrize(
    ("environ", "locale"),
    [
        ({}, "en"),
        ({"LANG": "es_ES.UTF-8"}, "es"),
        ({"LANG": "es_MX"}, "es"),
        ({"LANG": "pt_PT.UTF-8"}, "pt_BR"),  # any Portuguese reads the shipped Brazilian one
        ({"LANG": "ru_RU.KOI8-R"}, "ru"),
        ({"LANG": "C"}, "en"),
        ({"LANG": "POSIX"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),  # not shipped
        ({"LANG": "sr_RS.UTF-8@latin"}, "en"),
        ({"LANG": "  "}, "en"),  # blank is unset
        ({"LC_ALL": "ru_RU.UTF-8", "LANG": "es_ES.UTF-8"}, "ru"),  # the first one set wins
        ({"LC_MESSAGES": "pt_BR.UTF-8", "LANG": "ru_RU.UTF-8"}, "pt_BR"),
        ({"LC_ALL": "C", "LANG": "es_ES.UTF-8"}, "en"),
        ({"LANGUAGE": "fr:es", "LC_ALL": "ru_RU.UTF-8"}, "es"),  # GNU's list: its first shipped entry
        ({"LANGUAGE": "fr:de", "LANG": "es_ES.UTF-8"}, "en"),  # set, and nothing in it shipped
        ({"LANGUAGE": "", "LANG": "es_ES.UTF-8"}, "es"),
        ({"VANIKEYS_LANGUAGE": "ru", "LC_ALL": "es_ES.UTF-8"}, "ru"),  # the explicit setting wins
        ({"VANIKEYS_LANGUAGE": "pt-BR"}, "pt_BR"),
        ({"VANIKEYS_LANGUAGE": "en_XA"}, "en_XA"),  # the tests' pseudo-locale
        ({"VANIKEYS_LANGUAGE": "klingon", "LANG": "es_ES.UTF-8"}, "en"),
    ],
)
def test_the_language_is_read_the_posix_way(environ: dict[str, str], locale: str) -> None:
    assert terminal_locale(environ) == locale


def test_the_variables_read_are_the_ones_the_settings_declare() -> None:
    declared = {env_name(WorkerSettings.model_fields[name]) for name in ("language", "posix_language", "lc_all")}
    declared |= {env_name(WorkerSettings.model_fields[name]) for name in ("lc_messages", "lang")}
    assert declared == {OVERRIDE, *POSIX_VARIABLES}
