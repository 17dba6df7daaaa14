"""The message catalogs: complete in every locale, placeholders and markup kept, real plural forms, numbers and
durations as each locale writes them, and the compiled catalogs the bot reads in step with their sources."""

from __future__ import annotations

import gettext
import math
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from gpu_worker import i18n
from gpu_worker.humanize import FAR_BEYOND, duration, one_in_pulls, tier_name
from gpu_worker.i18n import LOCALE_DIR, TRANSLATED, _, ngettext, pseudo, use_locale

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{([a-z_]*)\}")
TAG = re.compile(r"</?(?:b|i|u|s|code|pre|a|tg-spoiler)\b[^>]*>|&[a-z]+;")  # Telegram HTML; <pattern> is text
KEYWORDS = {
    "_": None,
    "ngettext": (1, 2),
    "N_": None,
    "NC_": ((1, "c"), 2),
    "pgettext": ((1, "c"), 2),
    "locale_str": None,
    "_html": None,  # the web pages
}
# How scripts/i18n.py reads each kind of file (babel.cfg): the code, and the web pages' Jinja2 templates.
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}}


def catalog(locale: str) -> Catalog:
    with open(LOCALE_DIR / locale / "LC_MESSAGES" / "vanikeys.po", "rb") as source:
        return read_po(source, locale=locale)


def template() -> Catalog:
    with open(LOCALE_DIR / "vanikeys.pot", "rb") as source:
        return read_po(source)


def ids(cat: Catalog) -> set[object]:
    return {m.id for m in cat if m.id}


def test_the_template_holds_every_string_the_code_marks() -> None:
    """scripts/i18n.py extract was run after the last change to the text (else a new string is untranslated)."""
    marked = set()
    for package in ("gpu_worker", "bot", "payments"):
        for _filename, _line, message, _comments, _context in extract_from_dir(
            REPO / package, method_map=METHODS, options_map=OPTIONS, keywords=KEYWORDS
        ):
            marked.add(message if isinstance(message, str) else tuple(m for m in message if m is not None))
    normalised = {m if isinstance(m, str) else tuple(m) for m in ids(template())}
    assert marked - normalised == set(), "run: python scripts/i18n.py all"
    assert normalised - marked == set(), "the template holds text the code no longer has: python scripts/i18n.py all"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_is_translated_in_every_locale(locale: str) -> None:
    cat = catalog(locale)
    assert ids(cat) == ids(template()), "python scripts/i18n.py update, then translate what is new"
    untranslated = [
        m.id for m in cat if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else (m.string,)))
    ]
    assert not untranslated


@pytest.mark.parametrize("locale", TRANSLATED)
def test_translations_keep_every_placeholder_and_tag(locale: str) -> None:
    for message in catalog(locale):
        if not message.id:
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(PLACEHOLDER.findall(sources[-1]))
        assert all(set(PLACEHOLDER.findall(s)) <= wanted for s in sources), sources
        for form in forms:
            assert set(PLACEHOLDER.findall(form)) == wanted, (locale, sources[-1], form)
            assert sorted(TAG.findall(form)) == sorted(TAG.findall(sources[-1])), (locale, sources[-1], form)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_plural_messages_have_every_form_the_language_has(locale: str) -> None:
    cat = catalog(locale)
    for message in cat:
        if message.id and isinstance(message.id, tuple):
            assert len(message.string) == cat.num_plurals, (locale, message.id[0])
            assert len(set(message.string)) >= min(2, cat.num_plurals) or message.id[0] == message.id[1]


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", ["0 tokens", "1 token", "2 tokens", "5 tokens", "21 tokens"]),
        ("es", ["0 tokens", "1 token", "2 tokens", "5 tokens", "21 tokens"]),
        ("pt_BR", ["0 token", "1 token", "2 tokens", "5 tokens", "21 tokens"]),
        ("ru", ["0 токенов", "1 токен", "2 токена", "5 токенов", "21 токен"]),
    ],
)
def test_plural_forms_for_0_1_2_5_21(locale: str, expected: list[str]) -> None:
    with use_locale(locale):
        assert [ngettext("{n} token", "{n} tokens", n) for n in (0, 1, 2, 5, 21)] == expected


def test_russian_takes_its_three_forms_everywhere_a_count_is_said() -> None:
    with use_locale("ru"):
        pulls = [ngettext("{n} free pull", "{n} free pulls", n) for n in (1, 3, 11, 22, 25)]
    assert pulls == [
        "1 бесплатная крутка",
        "3 бесплатные крутки",
        "11 бесплатных круток",
        "22 бесплатные крутки",
        "25 бесплатных круток",
    ]


@pytest.mark.parametrize("locale", TRANSLATED)
def test_the_compiled_catalog_is_the_source_compiled(locale: str) -> None:
    """The .mo the bot reads says what the .po says (python scripts/i18n.py compile after every edit)."""
    with open(LOCALE_DIR / locale / "LC_MESSAGES" / "vanikeys.mo", "rb") as compiled:
        mo = gettext.GNUTranslations(compiled)
    cat = catalog(locale)
    form_of = gettext.c2py(cat.plural_expr)
    for message in cat:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            for n in (0, 1, 2, 5, 21):
                assert mo.ngettext(message.id[0], message.id[1], n) == message.string[form_of(n)], message.id
        elif message.context:  # a name under its msgctxt (Discord command and option names)
            assert mo.pgettext(message.context, message.id) == message.string, (message.context, message.id)
        else:
            assert mo.gettext(message.id) == message.string, message.id


def test_every_locale_answers_in_its_own_words() -> None:
    seen = {}
    for locale in ("en", *TRANSLATED):
        with use_locale(locale):
            seen[locale] = (_("Pulling…"), tier_name("Legendary"), duration(204.0), one_in_pulls(12_400))
    assert seen["en"] == ("Pulling…", "Legendary", "3.4 minutes", "1 in 12.4K pulls")
    assert seen["es"] == ("Tirando…", "Legendario", "3,4 minutos", "1 de cada 12,4\u00a0mil tiradas")
    assert seen["pt_BR"] == ("Girando…", "Lendário", "3,4 minutos", "1 em 12,4\u00a0mil giros")
    assert seen["ru"] == ("Кручу…", "Легендарный", "3,4 минуты", "1 из 12,4\u00a0тыс. круток")


@pytest.mark.parametrize("locale", ("en", *TRANSLATED, i18n.PSEUDO))
def test_no_trillion_year_figures_in_any_locale(locale: str) -> None:
    """Every unit's figure stays under 1,000 (seconds under 60 … years under 1,000); past that, words."""
    with use_locale(locale):
        far = _(FAR_BEYOND)
        for exponent in range(0, 300, 7):
            text = duration(10.0**exponent)
            assert text == far or int(re.match(r"\d+", text).group(0)) < 1000, (locale, text)
        assert duration(math.inf) == far
    assert (far == FAR_BEYOND) == (locale == "en")


def test_language_tags_from_the_platforms_reach_a_shipped_locale() -> None:
    assert [
        i18n.negotiate(tag)
        for tag in ("es", "es-419", "ES_mx", "pt-br", "pt-PT", "pt", "ru-RU", "en-GB", "de", "", None, "en-XA")
    ] == ["es", "es", "es", "pt_BR", "pt_BR", "pt_BR", "ru", "en", None, None, None, i18n.PSEUDO]
    assert i18n.negotiate("en-XA", pseudo=False) == "en"


def test_the_pseudo_locale_is_accented_and_longer_and_keeps_what_code_reads() -> None:
    source = 'Slow down: <b>{who}</b> /pull &amp; <a href="{url}">then</a>'
    text = pseudo(source)
    assert text != source and "šļöŵ" in text.lower()
    assert PLACEHOLDER.findall(text) == PLACEHOLDER.findall(source)
    assert TAG.findall(text) == TAG.findall(source) and "/pull" in text
    visible = len(TAG.sub("", PLACEHOLDER.sub("", source)).replace("/pull", ""))
    assert len(text) - len(source) >= 0.4 * visible - 1
    with use_locale(i18n.PSEUDO):
        assert _("Pulling…") == pseudo("Pulling…")
        assert ngettext("{n} token", "{n} tokens", 21).startswith("21 ţöķéñš")


def test_the_locale_is_per_task_and_restored() -> None:
    assert i18n.current() == "en"
    with use_locale("es-419"):
        assert i18n.current() == "es"
        with use_locale("xx"):
            assert i18n.current() == "en"
        assert i18n.current() == "es"
    assert i18n.current() == "en"


def test_the_catalogs_ship_with_the_package() -> None:
    """pyproject's package data takes the compiled catalogs into the wheel (the images install the wheel)."""
    text = (REPO / "pyproject.toml").read_text()
    assert '"locale/*/LC_MESSAGES/*.mo"' in text
    for locale in TRANSLATED:
        assert (LOCALE_DIR / locale / "LC_MESSAGES" / "vanikeys.mo").stat().st_size > 1000
