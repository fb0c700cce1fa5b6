"""Every rendered headshot scored; the over-generated pool narrowed to the ones worth delivering.

Per image:
- likeness: `faces.likeness` of its face's identity embedding to the order's selfies (1 identical, 0.5 at
  dlib's same-person distance 0.6, 0 at 1.2 or without a face);
- quality: a no-reference photo-quality score, BRISQUE (the `brisque` package and the model it ships),
  mapped to 0-1 as 1 - BRISQUE/100: the real fixture portraits measure 0.69-0.80, the same photos blurred,
  noisy, darkened or JPEG-crushed 0.11-0.55;
- headshot checks on the output itself: exactly one face, large enough, placed where a headshot has it,
  eyes visible, the head not cut off. The first that fails is the image's rejection reason.
Per set: consistency, each image's identity similarity to the others (the same likeness mapping).

The gate (a setting of the base model: `gate=False` for the generated test model, which draws no faces)
drops rejected images before the pick; ungated, every image stays eligible and says so.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image

from headshots_common.faces import Face, FaceDetails, face_analyzer, likeness

MIN_FACE_HEIGHT = 0.15  # of the image height
MAX_CENTRE_OFFSET = 0.25  # of the image width, the face centre from the middle
HEAD_ROOM = 0.35  # of the face height above the face box: the hair must be in the frame
MIN_LIKENESS = 0.5  # dlib's same-person distance
# The pick: likeness matters most; a sharp, clean image next; then looking like the rest of the set.
WEIGHTS = {"likeness": 0.6, "quality": 0.25, "consistency": 0.15}


class _Brisque:
    """The `brisque` package's model; its feature extraction returns 1-element arrays that numpy 2 no longer
    turns into floats, so they are flattened before scaling."""

    def __init__(self) -> None:
        from brisque import BRISQUE

        class Flattened(BRISQUE):
            def calculate_brisque_features(self, image, kernel_size=7, sigma=7 / 6):
                features = super().calculate_brisque_features(image, kernel_size, sigma)
                return np.array([float(np.ravel(f)[0]) for f in features], dtype=np.float64)

        self.model = Flattened(url=False)

    def score(self, image: Image.Image) -> float:
        small = image.convert("RGB")
        small.thumbnail((512, 512))  # BRISQUE is scale-aware but stable above this; 60-100 ms on a CPU core
        return float(self.model.score(np.asarray(small)))


@functools.cache
def _brisque() -> _Brisque:
    return _Brisque()


def photo_quality(image: Image.Image) -> float:
    """0 (badly distorted) to 1 (clean), from BRISQUE."""
    return float(np.clip(1.0 - _brisque().score(image) / 100.0, 0.0, 1.0))


@dataclass(frozen=True)
class Scored:
    style_id: str
    index: int  # position in the render request: ties keep the earlier image
    likeness: float
    quality: float
    rejection: str | None  # the first failed headshot check, or None
    embedding: np.ndarray | None = field(default=None, repr=False)
    consistency: float = 0.0
    payload: Any = field(default=None, repr=False)

    def total(self) -> float:
        return (
            WEIGHTS["likeness"] * self.likeness
            + WEIGHTS["quality"] * self.quality
            + WEIGHTS["consistency"] * self.consistency
        )


def check_headshot(image: Image.Image, faces: Sequence[Face], details: FaceDetails | None = None) -> str | None:
    """The first headshot check the image fails, or None; `details` of the one face when already measured."""
    if not faces:
        return "no_face"
    if len(faces) > 1:
        return "multiple_faces"
    face = faces[0]
    if face.height < MIN_FACE_HEIGHT * image.height:
        return "face_too_small"
    if abs((face.left + face.right) / 2 - image.width / 2) > MAX_CENTRE_OFFSET * image.width:
        return "face_off_centre"
    if face.top - HEAD_ROOM * face.height < 0 or face.left < 0 or face.right > image.width:
        return "head_cut_off"
    if (details or face_analyzer().analyse(image, face)).eyes_hidden:
        return "eyes_hidden"
    return None


def score_image(image: Image.Image, references: Sequence[np.ndarray], style_id: str, index: int, payload=None):
    image = image.convert("RGB")
    analyzer = face_analyzer()
    faces = analyzer.find_faces(image)
    details = analyzer.analyse(image, faces[0]) if len(faces) == 1 else None  # landmarks and embedding, once
    rejection = check_headshot(image, faces, details)
    embedding = details.embedding if details else None
    score = likeness(embedding, list(references)) if embedding is not None and references else 0.0
    if rejection is None and references and score < MIN_LIKENESS:
        rejection = "low_likeness"
    return Scored(style_id, index, score, photo_quality(image), rejection, embedding, payload=payload)


def with_consistency(pool: Sequence[Scored]) -> list[Scored]:
    """Each image's mean identity similarity to the other images of the pool that have a face (0 without one)."""
    faced = [s.embedding for s in pool if s.embedding is not None]
    out = []
    for scored in pool:
        others = [e for e in faced if e is not scored.embedding]
        value = (
            float(np.mean([likeness(scored.embedding, [other]) for other in others]))
            if scored.embedding is not None and others
            else 0.0
        )
        out.append(replace(scored, consistency=value))
    return out


@dataclass(frozen=True)
class Pick:
    delivered: list[Scored]
    generated: int
    rejected: dict[str, int]  # reason -> images dropped for it (gated only)
    gated: bool
    consistency: float  # mean pairwise identity similarity of the delivered images with a face


@dataclass(frozen=True)
class Shortfall:
    style_id: str
    wanted: int
    delivered: int
    main_reason: str  # the rejection most of the style's images failed with ("" when none was rejected)


def shortfall(pool: Sequence[Scored], picked: Pick, style_ids: Sequence[str], wanted_per_style: int) -> list[Shortfall]:
    """The styles the pick left with fewer than `wanted_per_style` images, in `style_ids` order."""
    delivered = Counter(s.style_id for s in picked.delivered)
    short = []
    for style_id in dict.fromkeys(style_ids):
        if delivered[style_id] >= wanted_per_style:
            continue
        reasons = Counter(s.rejection for s in pool if s.style_id == style_id and s.rejection)
        main_reason = reasons.most_common(1)[0][0] if picked.gated and reasons else ""
        short.append(Shortfall(style_id, wanted_per_style, delivered[style_id], main_reason))
    return short


def pick(pool: Sequence[Scored], wanted_per_style: int, gate: bool) -> Pick:
    """The best `wanted_per_style` of each style by the weighted score, in request order.

    Gated, an image that failed a check is never delivered (a style may then get fewer); consistency is
    measured among the eligible images, so one that looks like someone else loses to the rest of the pool.
    """
    rejected = Counter(s.rejection for s in pool if s.rejection) if gate else Counter()
    eligible = with_consistency([s for s in pool if not (gate and s.rejection)])
    by_style: dict[str, list[Scored]] = defaultdict(list)
    for scored in eligible:
        by_style[scored.style_id].append(scored)
    kept = [
        s for group in by_style.values() for s in sorted(group, key=lambda s: (-s.total(), s.index))[:wanted_per_style]
    ]
    kept.sort(key=lambda s: s.index)
    faced = [s.embedding for s in kept if s.embedding is not None]
    pairs = [likeness(a, [b]) for i, a in enumerate(faced) for b in faced[i + 1 :]]
    return Pick(kept, len(pool), dict(rejected), gate, float(np.mean(pairs)) if pairs else 0.0)
