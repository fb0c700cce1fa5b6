"""Checks a selfie before any GPU time is spent; returns a cleaned image or a specific, actionable rejection.

The stored image is re-encoded from pixels: EXIF (location included) never reaches storage.
Thresholds were calibrated on the real portraits in tests/fixtures/photos and on blurred,
darkened, brightened and sunglasses-covered variants of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from headshots_common.faces import SAME_PERSON_DISTANCE, Face, face_analyzer

try:  # HEIC/HEIF (iPhone photos) when the decoder is installed
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_FORMATS = {"HEIF"}
except ImportError:  # pragma: no cover - the gateway image installs it
    HEIF_FORMATS = set()

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "MPO", *HEIF_FORMATS}
MIN_SIDE_PX = 256
# Refuse to decode images with more pixels than this (decompression bombs); 40 MP covers every phone camera.
MAX_PIXELS = 40_000_000
# Faces are detected on a copy no larger than this (speed); coordinates are scaled back.
DETECT_SIDE_PX = 800
# Variance of the Laplacian of the face downsampled to 128 px: sharp portraits measure 300+, a 2 px blur ~60.
MIN_SHARPNESS = 100.0
# Mean luminance (0-255) of the face box.
MIN_FACE_LUMINANCE, MAX_FACE_LUMINANCE = 45.0, 225.0
MIN_IMAGE_LUMINANCE = 20.0
# Identity-embedding distance under which two photos are the same shot.
NEAR_DUPLICATE_DISTANCE = 0.12


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
    embedding: list[float]
    # What the readiness advice uses (orders.readiness): head pose, sharpness, face luminance.
    traits: dict


def check_photo(
    data: bytes, *, max_bytes: int, min_face_px: int, accepted_embeddings: Sequence[Sequence[float]] = ()
) -> CheckedPhoto | Rejection:
    if not data:
        return Rejection("empty_file", "The file is empty.")
    if len(data) > max_bytes:
        return Rejection(
            "file_too_large", f"The file is larger than {max_bytes // (1024 * 1024)} MB; send a smaller photo."
        )
    image = _decode(data)
    if isinstance(image, Rejection):
        return image
    if min(image.size) < MIN_SIDE_PX:
        return Rejection(
            "image_too_small", f"The photo is {image.width}x{image.height}; use at least {MIN_SIDE_PX} px on each side."
        )
    gray = image.convert("L")
    if np.asarray(gray, dtype=np.float32).mean() < MIN_IMAGE_LUMINANCE:
        return Rejection("too_dark", "The photo is almost black. Take it facing a window or a lamp.")
    faces = _detect_faces(image)
    if not faces:
        return Rejection(
            "no_face", "No face was found. Use a photo where your face is clearly visible, facing the camera."
        )
    if len(faces) > 1:
        return Rejection("multiple_faces", f"{len(faces)} faces were found. Use photos of only you.")
    face = faces[0]
    if max(face.width, face.height) < min_face_px:
        return Rejection(
            "face_too_small", f"Your face is {face.width} px wide; move closer so it is at least {min_face_px} px."
        )
    pixels = _face_box(gray, face)
    luminance, sharpness = float(pixels.mean()), _sharpness(pixels)
    rejection = _check_face_quality(gray, face, luminance, sharpness)
    if rejection:
        return rejection
    yaw, pitch = face_analyzer().head_pose(image, face)
    traits = {
        "yaw": round(yaw, 4),
        "pitch": round(pitch, 4),
        "sharpness": round(sharpness, 1),
        "luminance": round(luminance, 1),
    }
    embedding = face_analyzer().embed(image, face)
    rejection = _check_against_accepted(embedding, accepted_embeddings)
    if rejection:
        return rejection
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)  # pixels only: no EXIF, no ICC, no XMP
    jpeg = out.getvalue()
    return CheckedPhoto(
        jpeg=jpeg,
        width=image.width,
        height=image.height,
        sha256=hashlib.sha256(jpeg).hexdigest(),
        embedding=[round(float(v), 6) for v in embedding],
        traits=traits,
    )


def _decode(data: bytes) -> Image.Image | Rejection:
    too_large = Rejection("image_too_large", f"The photo has more than {MAX_PIXELS // 1_000_000} megapixels.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            if probe.format not in ACCEPTED_FORMATS:
                return Rejection(
                    "unsupported_format",
                    f"{probe.format or 'This'} files are not accepted; use JPEG, PNG, WebP or HEIC.",
                )
            if probe.width * probe.height > MAX_PIXELS:
                return too_large
            probe.verify()
            image = Image.open(io.BytesIO(data))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return too_large
    except UnidentifiedImageError:
        if data.lstrip()[:5].lower() in (b"<?xml", b"<svg ") or b"<svg" in data[:1024].lower():
            return Rejection("unsupported_format", "SVG files are not accepted; use JPEG, PNG, WebP or HEIC.")
        return Rejection("not_an_image", "The file is not an image we can read; use JPEG, PNG, WebP or HEIC.")
    # Everything above decodes untrusted bytes, and a damaged file can make Pillow's plugins raise almost
    # anything ("suitable exceptions", says Image.verify): besides OSError, SyntaxError and ValueError, fuzzing
    # found EOFError (a truncated HEIC), RuntimeError (the AVIF opener) and IndexError (a PNG without
    # image data) (services/gateway/tests/fuzz_regressions). Each is a damaged file, not a server error.
    except Exception:
        return Rejection("corrupt_image", "The image file is damaged or incomplete; upload it again.")
    # Honour the camera's orientation before EXIF is dropped; an unreadable EXIF block (a damaged file whose
    # pixels decoded fine) leaves the photo as stored.
    upright: Image.Image = image
    with contextlib.suppress(Exception):
        upright = ImageOps.exif_transpose(image)
    return upright.convert("RGB")


def _detect_faces(image: Image.Image) -> list[Face]:
    """Faces in full-image pixel coordinates."""
    scale = min(1.0, DETECT_SIDE_PX / max(image.size))
    small = image if scale == 1.0 else image.resize((round(image.width * scale), round(image.height * scale)))
    return [
        Face(round(f.left / scale), round(f.top / scale), round(f.right / scale), round(f.bottom / scale))
        for f in face_analyzer().detect(small)
    ]


def _face_box(gray: Image.Image, face: Face) -> np.ndarray:
    box = (max(0, face.left), max(0, face.top), min(gray.width, face.right), min(gray.height, face.bottom))
    return np.asarray(gray.crop(box).resize((128, 128), Image.Resampling.BOX), dtype=np.float32)


def _sharpness(pixels: np.ndarray) -> float:
    """Variance of the Laplacian of the 128 px face box."""
    laplacian = 4 * pixels[1:-1, 1:-1] - pixels[:-2, 1:-1] - pixels[2:, 1:-1] - pixels[1:-1, :-2] - pixels[1:-1, 2:]
    return float(laplacian.var())


def _check_face_quality(gray: Image.Image, face: Face, luminance: float, sharpness: float) -> Rejection | None:
    """`luminance` and `sharpness` of the face box (`_face_box`)."""
    if luminance < MIN_FACE_LUMINANCE:
        return Rejection("too_dark", "Your face is too dark. Face a window or a lamp, without light behind you.")
    if luminance > MAX_FACE_LUMINANCE:
        return Rejection("overexposed", "Your face is washed out. Avoid direct sun or flash.")
    if sharpness < MIN_SHARPNESS:
        return Rejection("blurry", "The photo is blurry. Hold the camera still and make sure your face is in focus.")
    if face_analyzer().eyes_hidden(gray, face):
        return Rejection("eyes_covered", "Your eyes are hidden. Take off sunglasses and anything covering your eyes.")
    return None


def _check_against_accepted(embedding, accepted: Sequence[Sequence[float]]) -> Rejection | None:
    if not accepted:
        return None
    references = np.asarray(accepted, dtype=np.float32)
    distances = np.linalg.norm(references - embedding, axis=1)
    if float(distances.min()) < NEAR_DUPLICATE_DISTANCE:
        return Rejection(
            "near_duplicate", "This photo is nearly the same as one already uploaded; use a different one."
        )
    if float(np.linalg.norm(references.mean(axis=0) - embedding)) > SAME_PERSON_DISTANCE:
        return Rejection("different_person", "This looks like a different person from your other photos.")
    return None
