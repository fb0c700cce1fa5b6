"""The style catalogue: what a user picks and the prompt the renderer uses for it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# The rare identifier bound to each person's face during training (DreamBooth).
IDENTIFIER_TOKEN = "sks"


@dataclass(frozen=True)
class Style:
    id: str
    name: str
    backdrop: str
    attire: str
    lighting: str
    swatch: str  # the backdrop's colour (CSS), for style pickers
    framing: str = "head and shoulders"  # how much of the person a fixed look shows (`FRAMINGS`)

    def prompt(self, subject_phrase: str) -> str:
        return (
            f"professional headshot photo of {subject_phrase}, {self.backdrop} backdrop, "
            f"{self.attire}, {self.lighting}, sharp focus, 85mm portrait"
        )

    def look_prompt(self) -> str:
        """The prompt of a fixed look (a team's): SUBJECT stands for the order's subject phrase."""
        return (
            f"professional headshot photo of {SUBJECT}, {self.backdrop} backdrop, {self.attire}, {self.lighting}, "
            f"{self.framing}, sharp focus, 85mm portrait"
        )


NEGATIVE_PROMPT = "blurry, deformed, cartoon, painting, lowres, watermark, text, extra fingers"

STYLES: dict[str, Style] = {
    style.id: style
    for style in (
        Style("corporate-navy", "Corporate", "navy", "business attire", "soft directional light", "#1f2d4d"),
        Style("creative-sage", "Creative professional", "sage green", "smart casual", "warm light", "#9caf88"),
        Style("executive-black", "Executive", "black", "formal suit", "dramatic studio light", "#141414"),
        Style("friendly-white", "Friendly", "bright white", "casual shirt", "even high-key light", "#f4f4f0"),
        Style("outdoor-bokeh", "Outdoor", "blurred city park", "blazer", "golden hour light", "#c9a45c"),
        Style("tech-grey", "Tech founder", "charcoal grey", "crew-neck sweater", "soft window light", "#3b3f45"),
    )
}

# -- fixed looks (a team's brand look) ------------------------------------------------------------------------------
# A look records every render setting itself, so that a renderer deployed later with other defaults renders a team's
# new hire exactly like the rest of the team (`common.proto` RenderLook).
SUBJECT = "{subject}"
LOOK_SAMPLER = "EulerDiscreteScheduler"
LOOK_NUM_INFERENCE_STEPS = 30
LOOK_GUIDANCE_SCALE = 5.0
FRAMINGS = ("head and shoulders", "chest up", "waist up")
HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def brand_variant(base: Style, backdrop_hex: str, attire: str, lighting: str, framing: str) -> Style:
    """A team's own variant of a catalogue style: a plain backdrop of its brand colour (`backdrop_hex`; "" keeps the
    style's backdrop), its attire, light and framing."""
    backdrop, swatch = base.backdrop, base.swatch
    if backdrop_hex:
        backdrop, swatch = f"plain solid {backdrop_hex.lower()} coloured", backdrop_hex.lower()
    return Style(base.id, f"{base.name} (brand)", backdrop, attire, lighting, swatch, framing)


def look_prompt(prompt: str, subject_phrase: str) -> str:
    return prompt.replace(SUBJECT, subject_phrase)


def look_seed(seed_base: int, style_id: str, index: int, top_up_round: int = 0, render_id: str = "") -> int:
    """Image `index` of round `top_up_round` of a fixed look's pack: the same for every order with that look (a
    render of more, `render_id`, gets seeds of its own)."""
    name = f"look:{seed_base}:{render_id}:{style_id}:{top_up_round}:{index}"
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:6], "big")


# The ids, sorted: the API's enum of styles.
STYLE_IDS = sorted(STYLES)

# Packages: how many headshots are delivered per order.
PACKAGES: dict[str, int] = {"trial": 4, "basic": 40, "professional": 80, "team": 40}


def subject_phrase(subject_class: str) -> str:
    return f"{IDENTIFIER_TOKEN} {subject_class or 'person'}"


def images_per_style(package: str, style_count: int) -> int:
    """Spread a package's headshots evenly over the chosen styles (rounding up)."""
    total = PACKAGES[package]
    return -(-total // max(1, style_count))
