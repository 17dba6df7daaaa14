"""Card images for reveals: a PNG with the address (matched characters highlighted), tier, odds, pattern.

Never a secret: a card is drawn from a `ShownKey`, which has none.

Its words are in the current locale (a front end renders a public card in the community's language) when the
font draws every letter of them: a TrueType font, VANIKEYS_CARD_FONT or else DejaVu Sans where installed (the
images install Debian's fonts-dejavu-core). Without one, the card uses Pillow's bundled font, which draws
ASCII only, and any words it cannot draw are written in English instead: never a box for a missing glyph.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.answers import ShownKey
from bot.results import TIER_COLOURS
from gpu_worker.formats import get_format
from gpu_worker.humanize import one_in_pulls, tier_name
from gpu_worker.i18n import DEFAULT, _, use_locale

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 800, 320
MARGIN = 32
BACKGROUND = (22, 24, 30)
PANEL = (34, 37, 46)
TEXT = (236, 238, 242)
MUTED = (150, 156, 168)
DIM = (120, 126, 138)
ADDRESS_MAX_SIZE = 34
ADDRESS_MIN_SIZE = 14
MIN_SIZE = 12  # no word on a card is drawn smaller than this to make it fit
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Debian's fonts-dejavu-core
_NOT_A_CHARACTER = "\U0010fffd"  # a private-use code point no font draws: its glyph is the missing-glyph box

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
_chosen: Path | None = None  # use_font's; None: DEJAVU where installed


@dataclass(frozen=True)
class CardSpec:
    """What a card shows: the key with its matched spans and tier, the pattern, and optionally where and by whom."""

    key: ShownKey
    pattern: str
    community_title: str = ""  # the server's or group's name, "" in a private chat
    user_label: str = ""  # who pulled it ("" to leave out)


@dataclass(frozen=True)
class Placed:
    """One text drawn on a card and the box it covers (left, top, right, bottom)."""

    text: str
    box: tuple[float, float, float, float]


def use_font(path: Path | None) -> None:
    """Draw cards with this TrueType font (VANIKEYS_CARD_FONT); None: DejaVu Sans where installed."""
    global _chosen
    _chosen = path
    font.cache_clear()
    _draws.cache_clear()


def font_path() -> Path | None:
    """The TrueType font cards are drawn with, or None (Pillow's bundled font, ASCII only)."""
    for candidate in (_chosen, DEJAVU):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=64)
def font(size: int) -> Font:
    """The card font at `size` pixels (cached): the TrueType font_path names, else Pillow's bundled one."""
    path = font_path()
    if path is not None:
        try:
            return ImageFont.truetype(str(path), size)
        except OSError as err:  # not a font Pillow can read: the card still renders, in English
            log.warning("card font %s not usable (%s); cards fall back to English", path, err)
    return ImageFont.load_default(size=size)


def _glyph(face: Font, char: str) -> tuple[tuple[int, int], bytes]:
    mask = face.getmask(char)
    return mask.size, bytes(mask)


@lru_cache(maxsize=8192)
def _draws(char: str) -> bool:
    if char.isspace():
        return True
    face = font(24)
    return _glyph(face, char) != _glyph(face, _NOT_A_CHARACTER)


def covers(text: str) -> bool:
    """Whether the card font draws every character of `text` (none would come out as a missing-glyph box)."""
    return all(_draws(char) for char in set(text))


@dataclass(frozen=True)
class _Words:
    tier: str
    badge: str
    odds: str
    pattern: str
    matched: str


def _words_here(spec: CardSpec) -> _Words:
    key = spec.key
    return _Words(
        tier=tier_name(key.tier).upper(),
        badge=_("FULL MATCH"),
        odds=one_in_pulls(key.one_in_pulls),
        pattern=_("pattern  {pattern}", pattern=spec.pattern),
        matched=_(
            "matched  {score} of {max_score}   ·   {format}",
            score=key.score,
            max_score=key.max_score,
            format=get_format(key.format_id).title,
        ),
    )


def _words(spec: CardSpec) -> _Words:
    """The card's words in the current locale when a TrueType font draws every letter of them; else in English
    (one language per card, never a box)."""
    if font_path() is not None:
        words = _words_here(spec)
        if all(covers(text) for text in vars(words).values()):
            return words
    with use_locale(DEFAULT):
        return _words_here(spec)


def _drawable(text: str) -> str:
    """Someone's own text (a name, a group's title) without the characters the font cannot draw."""
    return " ".join("".join(char for char in text if _draws(char)).split())


_warm = False


def warm_up() -> None:
    """Draw one throwaway card (once per process): the first draw loads fonts, glyphs and the PNG encoder,
    about 50-90 ms, so the first reveal is then as quick as the rest."""
    global _warm
    if _warm:
        return
    _warm = True
    render_card(CardSpec(ShownKey("btc", "1VaniKeysWarmUp", ((1, 5),), 4, 4, True, "Rare", 10.0), "^Vani"))


def _fitting(draw: ImageDraw.ImageDraw, text: str, size: int, width: float, smallest: int = MIN_SIZE) -> Font:
    """The card font at `size`, or smaller down to `smallest`, so that `text` is at most `width` wide."""
    while size > smallest and draw.textlength(text, font=font(size)) > width:
        size -= 2
    return font(size)


class _Card:
    """An image being drawn, noting where each text went (card_layout)."""

    def __init__(self, colour: tuple[int, int, int]) -> None:
        self.image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        self.placed: list[Placed] = []
        self.colour = colour

    def text(self, xy: tuple[float, float], text: str, face: Font, fill: tuple[int, int, int]) -> float:
        """Draw `text` at `xy`; its width."""
        self.draw.text(xy, text, font=face, fill=fill)
        self.placed.append(Placed(text, self.draw.textbbox(xy, text, font=face)))
        return self.draw.textlength(text, font=face)


def _draw(spec: CardSpec) -> _Card:
    key = spec.key
    card = _Card(TIER_COLOURS.get(key.tier, MUTED))
    draw, colour, inner = card.draw, card.colour, WIDTH - 2 * MARGIN
    draw.rectangle((0, 0, WIDTH, 10), fill=colour)
    draw.rounded_rectangle((MARGIN - 12, 96, WIDTH - MARGIN + 12, 172), radius=12, fill=PANEL, outline=colour, width=2)

    words = _words(spec)
    # header: tier and badge on the left, odds on the right in what is left of the row
    tier = words.tier
    right = MARGIN + card.text((MARGIN, 28), tier, _fitting(draw, tier, 40, inner * 0.45), colour)
    if key.full:
        label = words.badge
        badge = _fitting(draw, label, 18, inner * 0.25)
        w = draw.textlength(label, font=badge)
        draw.rounded_rectangle((right + 16, 40, right + 16 + w + 20, 70), radius=8, fill=colour)
        card.text((right + 26, 44), label, badge, BACKGROUND)
        right += 16 + w + 20
    odds = words.odds
    odds_font = _fitting(draw, odds, 24, WIDTH - MARGIN - right - 16)
    card.text((WIDTH - MARGIN - draw.textlength(odds, font=odds_font), 40), odds, odds_font, TEXT)

    # the address, matched characters in the tier colour and underlined
    size = ADDRESS_MAX_SIZE
    while size > ADDRESS_MIN_SIZE and draw.textlength(key.identifier, font=font(size)) > inner:
        size -= 2
    address_font = font(size)
    x = MARGIN + (inner - draw.textlength(key.identifier, font=address_font)) / 2
    y = 134 - size * 0.6
    tint = tuple((c + 3 * p) // 4 for c, p in zip(colour, PANEL, strict=True))
    for text, lit in key.segments():
        w = draw.textlength(text, font=address_font)
        if lit:
            draw.rounded_rectangle((x - 1, y - 2, x + w + 1, y + size + 6), radius=4, fill=tint)
        card.text((x, y), text, address_font, TEXT if lit else MUTED)
        if lit:
            draw.line((x, y + size + 4, x + w, y + size + 4), fill=colour, width=3)
        x += w

    # details: pattern, score, format; then the community and the brand
    card.text((MARGIN, 196), words.pattern, _fitting(draw, words.pattern, 22, inner), TEXT)
    matched = words.matched
    card.text((MARGIN, 228), matched, _fitting(draw, matched, 20, inner), MUTED)
    brand = "VaniKeys"
    brand_w = draw.textlength(brand, font=font(20))
    card.text((WIDTH - MARGIN - brand_w, HEIGHT - 46), brand, font(20), colour)
    footer = _drawable("  ·  ".join(part for part in (spec.user_label, spec.community_title) if part))[:80]
    if footer:
        card.text((MARGIN, HEIGHT - 44), footer, _fitting(draw, footer, 18, inner - brand_w - 16), DIM)
    return card


def card_layout(spec: CardSpec) -> list[Placed]:
    """Every text the card for `spec` draws and where (what the tests check against the card's edges)."""
    return _draw(spec).placed


def render_card(spec: CardSpec) -> bytes:
    """The card as PNG bytes (WIDTH x HEIGHT), its words in the current locale where the font draws them."""
    out = io.BytesIO()
    _draw(spec).image.save(out, format="PNG", optimize=False, compress_level=3)
    return out.getvalue()
