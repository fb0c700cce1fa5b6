"""The order's selfies as identity references, and how many candidates to render per style.

The scoring and the pick of rendered headshots are in renderer.quality.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable

import numpy as np
from PIL import Image, ImageOps

from headshots_common.faces import face_analyzer


def selfie_embeddings(photos: Iterable[bytes | Image.Image]) -> list[np.ndarray]:
    """Identity embeddings of the largest face in each photo; photos without a face are skipped."""
    embeddings = []
    for photo in photos:
        image = Image.open(io.BytesIO(photo)) if isinstance(photo, bytes) else photo
        # Full size, as the gateway measured it: detection shrinks its own copy, and the embedding comes from the
        # face's crop (a resized photo moves it by as much as 0.05).
        embedding = face_analyzer().embed_largest(ImageOps.exif_transpose(image).convert("RGB"))
        if embedding is not None:
            embeddings.append(embedding)
    return embeddings


def candidates_per_style(wanted: int, overgenerate: float) -> int:
    """How many to render for `wanted` deliverable images: ceil(wanted * overgenerate), never fewer."""
    return max(wanted, math.ceil(wanted * max(1.0, overgenerate) - 1e-9))
