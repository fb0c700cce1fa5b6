"""An order's selfies as the trainer uses them: each with its face box and identity embedding.

The photo checker stores both beside every selfie it accepts (`headshots_common.photo_analysis`); a job whose
photos all carry them runs no face detection: crops centre on the stored box and the likeness probes'
references are the stored embeddings. Photos without one (orders from before the checker, or analysed by other
face models) are looked at again, on a copy of at most 800 px (`FaceAnalyzer.find_faces`), once per job; their
reference embedding is then computed on the face found, without a second detection.
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, UnidentifiedImageError

from headshots_common import photo_analysis
from headshots_common.blobstore import BlobNotFound
from headshots_common.faces import Face, crop_around_face, face_analyzer

# Augmentation: variants are random square windows of at least this share of the face crop's side, taken from
# a crop this much larger than the training resolution (so a zoomed variant is downsampled, never upscaled).
AUGMENT_MIN_SCALE = 0.85
AUGMENT_OVERSAMPLE = 1.25

STORED, DETECTED, NOT_FOUND = "stored", "detected", "not found"


class BadPhotos(ValueError):
    """The photos cannot train an adapter (unreadable, missing, or no face in any of them)."""


@dataclass(frozen=True)
class FacePhoto:
    """A selfie and what is known of its face. `found`: where the face box came from (STORED by the photo
    checker, DETECTED by this job, NOT_FOUND when this job looked and found none), or "" before anyone looked."""

    image: Image.Image
    face: Face | None = None
    embedding: np.ndarray | None = None
    found: str = ""


def load_photos(blobs, photo_keys: Sequence[str]) -> list[FacePhoto]:
    """The order's selfies from the blob store, with the analyses stored beside them. Raises BadPhotos."""
    if not photo_keys:
        raise BadPhotos("the order has no photos")
    photos = []
    for key in photo_keys:
        try:
            image = Image.open(io.BytesIO(blobs.get(key)))
            image.load()
        except (KeyError, BlobNotFound):
            raise BadPhotos(f"photo {key} is missing from the blob store") from None
        except (UnidentifiedImageError, OSError):
            raise BadPhotos(f"photo {key} is not a readable image") from None
        photos.append(with_analysis(image, photo_analysis.read(blobs, key)))
    return photos


def with_analysis(image: Image.Image, analysis) -> FacePhoto:
    """The photo with its stored analysis; a box stored for another size of the photo is not used (looked for
    again), its embedding still is."""
    if analysis is None:
        return FacePhoto(image)
    embedding = np.asarray(analysis.embedding, dtype=np.float32)
    if (analysis.width, analysis.height) != image.size or not analysis.HasField("face"):
        return FacePhoto(image, embedding=embedding)
    return FacePhoto(image, photo_analysis.face_of(analysis), embedding, STORED)


def as_face_photos(photos: Sequence[FacePhoto | Image.Image]) -> list[FacePhoto]:
    return [p if isinstance(p, FacePhoto) else FacePhoto(p) for p in photos]


def locate_faces(photos: Sequence[FacePhoto | Image.Image]) -> list[FacePhoto]:
    """Every photo with its face box: the stored one, else the largest face found on a copy of at most 800 px.

    Looks only at photos nobody looked at yet; raises BadPhotos when no photo has a face."""
    located = []
    for photo in as_face_photos(photos):
        if not photo.found:
            faces = face_analyzer().find_faces(photo.image.convert("RGB"))
            face = max(faces, key=lambda f: f.width * f.height) if faces else None
            photo = replace(photo, face=face, found=DETECTED if face else NOT_FOUND)
        located.append(photo)
    if not any(p.face for p in located):
        raise BadPhotos(f"no face found in any of the {len(located)} photos")
    return located


def detections(photos: Sequence[FacePhoto]) -> int:
    """How many of the photos this job had to detect a face in (0 when the checker analysed them all)."""
    return sum(p.found in (DETECTED, NOT_FOUND) for p in photos)


def face_crops(photos: Sequence[FacePhoto | Image.Image], size: int) -> list[Image.Image]:
    """Square crops centred on each face, so the adapter learns the face, not the room; a photo without a face
    (the checker accepted it) keeps a centre crop rather than being dropped."""
    crops = []
    for photo in locate_faces(photos):
        image = photo.image.convert("RGB")
        if photo.face is not None:
            crops.append(crop_around_face(image, photo.face, size))
        else:
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            box = (left, top, left + side, top + side)
            crops.append(image.crop(box).resize((size, size), Image.Resampling.LANCZOS))
    return crops


def augmented_crops(
    photos: Sequence[FacePhoto | Image.Image], size: int, variants: int, seed: int
) -> list[Image.Image]:
    """The face crops, each followed by `variants` random zoomed-in windows of it; the same seed, the same crops."""
    if variants <= 0:
        return face_crops(photos, size)
    rng = random.Random(seed)
    out = []
    for crop in face_crops(photos, round(size * AUGMENT_OVERSAMPLE)):  # same framing, more pixels
        out.append(crop.resize((size, size), Image.Resampling.LANCZOS))
        for _ in range(variants):
            side = crop.width * rng.uniform(AUGMENT_MIN_SCALE, 1.0)
            left, top = rng.uniform(0, crop.width - side), rng.uniform(0, crop.height - side)
            out.append(crop.resize((size, size), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side)))
    return out


def reference_embeddings(photos: Sequence[FacePhoto | Image.Image]) -> list[np.ndarray]:
    """The identity embeddings the likeness probes compare with: stored ones as they are; for the others, computed
    on the face box already found (no second detection)."""
    references = []
    for photo in locate_faces(photos):
        if photo.embedding is not None:
            references.append(photo.embedding)
        elif photo.face is not None:
            references.append(face_analyzer().embed(photo.image.convert("RGB"), photo.face))
    return references
