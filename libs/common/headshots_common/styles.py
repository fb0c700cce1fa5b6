"""The style catalogue: what a user picks and the prompt the renderer uses for it."""

from __future__ import annotations

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

    def prompt(self, subject_phrase: str) -> str:
        return (
            f"professional headshot photo of {subject_phrase}, {self.backdrop} backdrop, "
            f"{self.attire}, {self.lighting}, sharp focus, 85mm portrait"
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
