"""Likeness scores of rendered headshots and the pick of the best ones per style.

A headshot's score is `faces.likeness` of its largest face's dlib identity embedding to the
order's selfies: 1 identical, 0.5 at the same-person threshold, 0 when no face is found (the
tiny random test model never draws one, so its scores are honestly 0).
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from headshots_common.faces import face_analyzer, likeness


def selfie_embeddings(photos: Iterable[bytes | Image.Image]) -> list[np.ndarray]:
    """Identity embeddings of the largest face in each photo; photos without a face are skipped."""
    embeddings = []
    for photo in photos:
        image = Image.open(io.BytesIO(photo)) if isinstance(photo, bytes) else photo
        image = ImageOps.exif_transpose(image).convert("RGB")
        image.thumbnail((1024, 1024))  # selfies pass the gateway's large-face check: detection stays fast
        embedding = face_analyzer().embed_largest(image)
        if embedding is not None:
            embeddings.append(embedding)
    return embeddings


def likeness_score(image: bytes | Image.Image, references: Sequence[np.ndarray]) -> float:
    """How much the image's largest face looks like the references; 0.0 without a face or references."""
    if not references:
        return 0.0
    if isinstance(image, bytes):
        image = Image.open(io.BytesIO(image))
    embedding = face_analyzer().embed_largest(image.convert("RGB"))
    return 0.0 if embedding is None else likeness(embedding, list(references))


def candidates_per_style(wanted: int, overgenerate: float) -> int:
    """How many to render for `wanted` deliverable images: ceil(wanted * overgenerate), never fewer."""
    return max(wanted, math.ceil(wanted * max(1.0, overgenerate) - 1e-9))


@dataclass(frozen=True)
class Candidate:
    style_id: str
    index: int  # position in the render request: ties keep the earlier image
    score: float
    payload: Any = None  # what the caller keeps with the score, e.g. the rendered image


def best_per_style(candidates: Iterable[Candidate], wanted: int) -> list[Candidate]:
    """The `wanted` highest-scoring candidates of each style, in request order."""
    by_style: dict[str, list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        by_style[candidate.style_id].append(candidate)
    kept = [c for group in by_style.values() for c in sorted(group, key=lambda c: (-c.score, c.index))[:wanted]]
    return sorted(kept, key=lambda c: c.index)
