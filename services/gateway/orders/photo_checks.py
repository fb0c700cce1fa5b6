"""Checks a selfie before any GPU time is spent; returns a cleaned image or a specific rejection.

The stored image is re-encoded from pixels: EXIF (location included) never reaches storage.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from headshots_common.faces import face_analyzer

ACCEPTED_FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}
MIN_SIDE_PX = 256
# Refuse to decode images with more pixels than this (decompression bombs).
MAX_PIXELS = 40_000_000
# Faces are detected on a copy no larger than this (speed); coordinates are scaled back.
DETECT_SIDE_PX = 800


@dataclass(frozen=True)
class Rejection:
    code: str
    message: str


@dataclass(frozen=True)
class CheckedPhoto:
    jpeg: bytes
    width: int
    height: int
    sha256: str


def check_photo(data: bytes, *, max_bytes: int, min_face_px: int) -> CheckedPhoto | Rejection:
    if not data:
        return Rejection("empty_file", "The file is empty.")
    if len(data) > max_bytes:
        return Rejection("file_too_large", f"The file is larger than {max_bytes // (1024 * 1024)} MB.")
    image = _decode(data)
    if isinstance(image, Rejection):
        return image
    if min(image.size) < MIN_SIDE_PX:
        return Rejection(
            "image_too_small", f"The photo is {image.width}x{image.height}; use at least {MIN_SIDE_PX} px on each side."
        )
    faces = _detect_faces(image)
    if not faces:
        return Rejection("no_face", "No face was found. Use a photo where your face is clearly visible.")
    if len(faces) > 1:
        return Rejection("multiple_faces", f"{len(faces)} faces were found. Use photos of only you.")
    face_px = max(faces[0])
    if face_px < min_face_px:
        return Rejection(
            "face_too_small", f"Your face is {face_px} px wide; move closer so it is at least {min_face_px} px."
        )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)  # pixels only: no EXIF, no ICC, no XMP
    jpeg = out.getvalue()
    return CheckedPhoto(jpeg=jpeg, width=image.width, height=image.height, sha256=hashlib.sha256(jpeg).hexdigest())


def _decode(data: bytes) -> Image.Image | Rejection:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            if probe.format not in ACCEPTED_FORMATS:
                return Rejection("unsupported_format", f"{probe.format or 'This'} files are not accepted; use JPEG, PNG or WebP.")
            if probe.width * probe.height > MAX_PIXELS:
                return Rejection("image_too_large", f"The photo has more than {MAX_PIXELS // 1_000_000} megapixels.")
            probe.verify()
            image = Image.open(io.BytesIO(data))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return Rejection("image_too_large", f"The photo has more than {MAX_PIXELS // 1_000_000} megapixels.")
    except UnidentifiedImageError:
        return Rejection("not_an_image", "The file is not an image we can read; use JPEG, PNG or WebP.")
    except (OSError, SyntaxError, ValueError):
        return Rejection("corrupt_image", "The image file is damaged or truncated.")
    # Honour the camera's orientation before EXIF is dropped.
    return ImageOps.exif_transpose(image).convert("RGB")


def _detect_faces(image: Image.Image) -> list[tuple[int, int]]:
    """(width, height) of each face, in pixels of the full image."""
    scale = min(1.0, DETECT_SIDE_PX / max(image.size))
    small = image if scale == 1.0 else image.resize((round(image.width * scale), round(image.height * scale)))
    return [(round(f.width / scale), round(f.height / scale)) for f in face_analyzer().detect(small)]
