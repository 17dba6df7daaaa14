"""Reveal cards: a PNG of the expected size, tier colour and highlighted match, never a secret; `vanikeys card`."""

from __future__ import annotations

import dataclasses
import io
import itertools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import coincurve
import pytest
from PIL import Image

from bot import cards
from bot.answers import ShownKey
from bot.cards import HEIGHT, MARGIN, WIDTH, CardSpec, render_card
from bot.results import TIER_COLOURS, TIER_ORDER, shown_key
from gpu_worker.formats import FORMATS, get_format
from gpu_worker.humanize import compact, one_in_pulls
from gpu_worker.i18n import LOCALES, PSEUDO, use_locale
from gpu_worker.odds import odds
from gpu_worker.patterns import parse_pattern, score
from tests.warm import shared

REPO = Path(__file__).resolve().parents[2]
SECRET = 0x5A5A1234DEADBEEF5A5A1234DEADBEEF5A5A1234DEADBEEF5A5A1234DEADBEEF


def real_key(format_id: str, pattern_text: str) -> tuple[ShownKey, str]:
    fmt = get_format(format_id)
    identifier = fmt.identifier(coincurve.PrivateKey(SECRET.to_bytes(32, "big")).public_key)
    pattern = parse_pattern(format_id, pattern_text)
    body = fmt.body(identifier)
    return shown_key(pattern, odds(pattern), identifier, score(pattern, body), 1 << 28), identifier


@pytest.mark.parametrize("format_id", list(FORMATS))
def test_a_card_is_a_png_of_the_card_size_with_no_secret_in_it(format_id: str) -> None:
    fmt = get_format(format_id)
    identifier = fmt.identifier(coincurve.PrivateKey(SECRET.to_bytes(32, "big")).public_key)
    body = fmt.body(identifier)
    key, _ = real_key(format_id, f"^{body[:3]} {body[-2:]}$")
    png = render_card(CardSpec(key, f"^{body[:3]} {body[-2:]}$", "Guild", "alice"))
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    assert len(png) < 100_000
    export = fmt.export_secret(SECRET)
    for secret_text in {export.value, f"{SECRET:064x}", f"{SECRET:064X}"}:
        assert secret_text.encode() not in png
    assert SECRET.to_bytes(32, "big") not in png
    assert not image.info.get("text") and set(image.info) <= {"dpi", "gamma", "srgb"}  # no metadata at all


@pytest.mark.parametrize("tier", TIER_ORDER)
def test_the_card_wears_its_tier_colour(tier: str) -> None:
    key = ShownKey("btc", "1LoveXyz3k2ZZabcdefghijk9mnopqrs", ((1, 5),), 4, 4, True, tier, 12_400.0)
    image = Image.open(io.BytesIO(render_card(CardSpec(key, "^Love")))).convert("RGB")
    assert image.getpixel((WIDTH // 2, 4)) == TIER_COLOURS[tier]


def test_matched_characters_are_highlighted_and_the_rest_are_not() -> None:
    plain = ShownKey("btc", "1LoveXyz3k2ZZabcdefghijk9mnopqrs", (), 0, 4, False, "Common", 1.0)
    lit = ShownKey("btc", "1LoveXyz3k2ZZabcdefghijk9mnopqrs", ((1, 5),), 4, 4, True, "Common", 1.0)
    a = Image.open(io.BytesIO(render_card(CardSpec(plain, "^Love")))).convert("RGB")
    b = Image.open(io.BytesIO(render_card(CardSpec(lit, "^Love")))).convert("RGB")
    # the address row differs where "Love" is drawn and nowhere right of the match
    row = range(110, 165)
    differing = [x for x in range(WIDTH) if any(a.getpixel((x, y)) != b.getpixel((x, y)) for y in row)]
    assert differing and max(differing) < WIDTH // 2


def test_rarity_is_written_the_way_people_read_it() -> None:
    assert one_in_pulls(12_400) == "1 in 12.4K pulls"
    assert one_in_pulls(3.2) == "1 in 3.2 pulls" and one_in_pulls(245) == "1 in 245 pulls"
    assert one_in_pulls(2.5e9) == "1 in 2.5B pulls" and compact(1e308) == "∞"
    assert one_in_pulls(float("inf")).startswith("rarer than")
    assert one_in_pulls(1.0) == one_in_pulls(1.2) == "every pull", "a full match of an easy pattern: not '1 in 1 pulls'"


def _cli(*args: str, cwd: Path, keep: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANIKEYS_") or k in keep}
    env.update(VANIKEYS_BACKEND="python", PYTHONPATH=str(REPO))
    return shared().run("bot.cli", ["card", *args], env=env, cwd=cwd, timeout=60)


def test_vanikeys_card_renders_one_from_the_command_line(tmp_path: Path) -> None:
    _key, identifier = real_key("did", "^ab")
    out = tmp_path / "mine.png"
    done = _cli("did", identifier, "^" + identifier[len("did:key:zQ3sh") :][:3], "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{out}: {identifier} 3/3 ") and "full match" in done.stdout
    assert ":key:" in done.stdout  # printed verbatim, no emoji markup
    assert Image.open(out).size == (WIDTH, HEIGHT)
    default = _cli("did", identifier, "^zz", cwd=tmp_path)
    assert default.returncode == 0 and len(list(tmp_path.glob("vanikeys-did-*.png"))) == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("btc", "0xabc", "^ab"), "starts with '1'"),
        (("eth", "0x12", "^zz"), "hex digit"),
        (("doge", "D123", "^ab"), "btc"),
        (("btc", "1Lo0ve", "^Lo"), "alphabet"),
    ],
)
def test_vanikeys_card_refuses_bad_input_in_one_line(tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    done = _cli(*args, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and words in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []


# ---- the card's language -------------------------------------------------------------------------------------

LONGEST = CardSpec(
    ShownKey("btc", "1LoveXyz3k2ZZabcdefghijk9mnopqrs", ((1, 5),), 4, 4, True, "Legendary", float("inf")),
    "^Love Z$" + "k" * 20,
    "A community whose name is long enough to fill the footer of any card ever",
    "Someone with a very long display name",
)
CYRILLIC = {chr(c) for c in range(0x410, 0x450)}


@pytest.fixture
def default_font() -> Iterator[None]:
    """Whatever a test sets, the next one draws with the default font again."""
    yield
    cards.use_font(None)


def missing_glyphs(path: Path, texts: list[str]) -> set[str]:
    """Characters of `texts` that the TrueType font at `path` draws as its missing-glyph box."""
    from PIL import ImageFont

    face = ImageFont.truetype(str(path), 24)

    def glyph(char: str) -> tuple[object, bytes]:
        mask = face.getmask(char)
        return mask.size, bytes(mask)

    box = glyph("\U0010fffd")
    return {char for text in texts for char in text if not char.isspace() and glyph(char) == box}


@pytest.mark.parametrize(("locale", "word"), [("ru", "ПОЛНОЕ"), ("es", "patrón")])
def test_a_russian_and_a_spanish_card_draw_every_letter_with_dejavu(locale: str, word: str, default_font: None) -> None:
    if not cards.DEJAVU.is_file():
        pytest.skip(f"DejaVu Sans is not installed at {cards.DEJAVU} (Debian: fonts-dejavu-core)")
    cards.use_font(None)
    key, _ = real_key("btc", "^ab")
    spec = CardSpec(dataclasses.replace(key, full=True, tier="Rare"), "^ab", "Группа Ñandú", "Иван")
    with use_locale(locale):
        texts = [placed.text for placed in cards.card_layout(spec)]
        png = render_card(spec)
    with use_locale("en"):
        english = render_card(spec)
    assert png != english and any(word in text for text in texts), texts  # the card speaks the locale
    assert missing_glyphs(cards.DEJAVU, texts) == set()  # and no letter of it is a box
    assert "Группа Ñandú" in " ".join(texts)  # the community's own name, as written


def test_without_a_truetype_font_a_card_falls_back_to_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default_font: None
) -> None:
    monkeypatch.setattr(cards, "DEJAVU", tmp_path / "absent.ttf")
    cards.use_font(None)
    assert cards.font_path() is None
    key, _ = real_key("btc", "^ab")
    spec = CardSpec(dataclasses.replace(key, full=True), "^ab", "Группа 🎰 Fans", "Иван")
    english = render_card(spec)
    for locale in ("ru", "es", PSEUDO):
        with use_locale(locale):
            texts = [placed.text for placed in cards.card_layout(spec)]
            assert render_card(spec) == english, locale
        assert all(cards.covers(text) for text in texts), texts  # nothing drawn as a box, not even a name
    assert any(text.startswith("pattern") for text in texts) and "Fans" in " ".join(texts)


def test_a_configured_font_is_the_one_cards_use(default_font: None) -> None:
    bold = cards.DEJAVU.with_name("DejaVuSans-Bold.ttf")
    if not bold.is_file():
        pytest.skip(f"{bold} is not installed")
    cards.use_font(bold)
    assert cards.font_path() == bold and cards.font(20).path == str(bold)  # type: ignore[union-attr]


@pytest.mark.parametrize("locale", [*LOCALES, PSEUDO])
def test_card_text_fits_the_card_in_every_locale(locale: str, default_font: None) -> None:
    cards.use_font(None)
    with use_locale(locale):
        placed = cards.card_layout(LONGEST)
    assert len(placed) >= 8
    for item in placed:
        left, top, right, bottom = item.box
        assert left >= MARGIN - 1 and right <= WIDTH - MARGIN + 1, (item.text, item.box)
        assert top >= 0 and bottom <= HEIGHT, (item.text, item.box)
    header = sorted((p for p in placed if p.box[1] < 90), key=lambda p: p.box[0])
    assert len(header) == 3  # tier, badge, odds: side by side, none over another
    assert all(a.box[2] <= b.box[0] for a, b in itertools.pairwise(header)), [p.box for p in header]
    if locale == PSEUDO and cards.font_path() is not None:
        assert all("·" in p.text for p in header), [p.text for p in header]  # the long words, not English


def test_vanikeys_card_draws_with_the_configured_font(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bold = cards.DEJAVU.with_name("DejaVuSans-Bold.ttf")
    if not bold.is_file():
        pytest.skip(f"{bold} is not installed")
    _key, identifier = real_key("btc", "^ab")
    assert _cli("btc", identifier, "^ab", "--out", "plain.png", cwd=tmp_path).returncode == 0
    monkeypatch.setenv("VANIKEYS_CARD_FONT", str(bold))
    done = _cli("btc", identifier, "^ab", "--out", "bold.png", cwd=tmp_path, keep=("VANIKEYS_CARD_FONT",))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "plain.png").read_bytes() != (tmp_path / "bold.png").read_bytes()
