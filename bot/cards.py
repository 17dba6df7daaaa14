"""Card images for reveals: a PNG with the address (matched characters highlighted), tier, odds, pattern.

Never a secret: a card is drawn from a `ShownKey`, which has none. The font is
Pillow's own bundled one (`ImageFont.load_default(size=...)`, shipped inside
the declared `Pillow` dependency; nothing is downloaded).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from bot.answers import ShownKey
from bot.results import TIER_COLOURS
from gpu_worker.formats import get_format
from gpu_worker.humanize import one_in_pulls
from gpu_worker.i18n import DEFAULT, use_locale

WIDTH, HEIGHT = 800, 320
MARGIN = 32
BACKGROUND = (22, 24, 30)
PANEL = (34, 37, 46)
TEXT = (236, 238, 242)
MUTED = (150, 156, 168)
DIM = (120, 126, 138)
ADDRESS_MAX_SIZE = 34
ADDRESS_MIN_SIZE = 14


@dataclass(frozen=True)
class CardSpec:
    """What a card shows: the key with its matched spans and tier, the pattern, and optionally where and by whom."""

    key: ShownKey
    pattern: str
    community_title: str = ""  # the server's or group's name, "" in a private chat
    user_label: str = ""  # who pulled it ("" to leave out)


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at `size` pixels (cached): cards draw the same on every machine."""
    return ImageFont.load_default(size=size)


_warm = False


def warm_up() -> None:
    """Draw one throwaway card (once per process): the first draw loads fonts, glyphs and the PNG encoder,
    about 50-90 ms, so the first reveal is then as quick as the rest."""
    global _warm
    if _warm:
        return
    _warm = True
    render_card(CardSpec(ShownKey("btc", "1VaniKeysWarmUp", ((1, 5),), 4, 4, True, "Rare", 10.0), "^Vani"))


def _fit_address_size(draw: ImageDraw.ImageDraw, identifier: str, width: int) -> int:
    size = ADDRESS_MAX_SIZE
    while size > ADDRESS_MIN_SIZE and draw.textlength(identifier, font=font(size)) > width:
        size -= 2
    return size


def render_card(spec: CardSpec) -> bytes:
    """The card as PNG bytes (WIDTH x HEIGHT)."""
    key = spec.key
    colour = TIER_COLOURS.get(key.tier, MUTED)
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 10), fill=colour)
    draw.rounded_rectangle((MARGIN - 12, 96, WIDTH - MARGIN + 12, 172), radius=12, fill=PANEL, outline=colour, width=2)

    # header: tier and badge on the left, odds on the right
    draw.text((MARGIN, 28), key.tier.upper(), font=font(40), fill=colour)
    badge_x = MARGIN + draw.textlength(key.tier.upper(), font=font(40)) + 16
    if key.full:
        label = "FULL MATCH"
        w = draw.textlength(label, font=font(18))
        draw.rounded_rectangle((badge_x, 40, badge_x + w + 20, 70), radius=8, fill=colour)
        draw.text((badge_x + 10, 44), label, font=font(18), fill=BACKGROUND)
    with use_locale(DEFAULT):  # the card's font draws ASCII only: its words stay English in every language
        odds = one_in_pulls(key.one_in_pulls)
    draw.text((WIDTH - MARGIN - draw.textlength(odds, font=font(24)), 40), odds, font=font(24), fill=TEXT)

    # the address, matched characters in the tier colour and underlined
    inner = WIDTH - 2 * MARGIN
    size = _fit_address_size(draw, key.identifier, inner)
    address_font = font(size)
    x = MARGIN + (inner - draw.textlength(key.identifier, font=address_font)) / 2
    y = 134 - size * 0.6
    tint = tuple((c + 3 * p) // 4 for c, p in zip(colour, PANEL, strict=True))
    for text, lit in key.segments():
        w = draw.textlength(text, font=address_font)
        if lit:
            draw.rounded_rectangle((x - 1, y - 2, x + w + 1, y + size + 6), radius=4, fill=tint)
        draw.text((x, y), text, font=address_font, fill=TEXT if lit else MUTED)
        if lit:
            draw.line((x, y + size + 4, x + w, y + size + 4), fill=colour, width=3)
        x += w

    # details: pattern, score, format; then the community and the brand
    fmt = get_format(key.format_id)
    draw.text((MARGIN, 196), f"pattern  {spec.pattern}", font=font(22), fill=TEXT)
    draw.text((MARGIN, 228), f"matched  {key.score} of {key.max_score}   ·   {fmt.title}", font=font(20), fill=MUTED)
    footer = "  ·  ".join(part for part in (spec.user_label, spec.community_title) if part)
    if footer:
        draw.text((MARGIN, HEIGHT - 44), footer[:80], font=font(18), fill=DIM)
    brand = "VaniKeys"
    draw.text((WIDTH - MARGIN - draw.textlength(brand, font=font(20)), HEIGHT - 46), brand, font=font(20), fill=colour)

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=3)
    return out.getvalue()
