"""Checks a selfie before any GPU time is spent; returns a cleaned image or a specific, actionable rejection.

The stored image is re-encoded from pixels: EXIF (location included) never reaches storage.
Thresholds were calibrated on the real portraits in tests/fixtures/photos and on blurred,
darkened, brightened and sunglasses-covered variants of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from headshots_common.faces import DETECT_SIDE_PX, SAME_PERSON_DISTANCE, Face, FaceDetails, face_analyzer

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
# Variance of the Laplacian of the face downsampled to 128 px: sharp portraits measure 300+, a 2 px blur ~60.
MIN_SHARPNESS = 100.0
# Mean luminance (0-255) of the face box.
MIN_FACE_LUMINANCE, MAX_FACE_LUMINANCE = 45.0, 225.0
MIN_IMAGE_LUMINANCE = 20.0
# The largest part of the face (cheek to cheek, eyes to chin) the photo's edge may cut off: a training photo with a
# cut face teaches the model a cut face (`FaceDetails.cut_off`; whole faces in tests/fixtures measure 0-0.03).
MAX_FACE_CUT_OFF = 0.1
# Identity-embedding distance under which two photos are the same shot.
NEAR_DUPLICATE_DISTANCE = 0.12


@dataclass(frozen=True)
class Rejection:
    code: str
    message: str


# Verdicts that judge no photo: its checks kept failing (the checker gave up on it), or its bytes never arrived whole.
# The same bytes uploaded again are checked again (`photos.mark_received`).
CHECK_FAILED = Rejection("check_failed", "We could not check this photo. Upload it again, or use another one.")
UPLOAD_INCOMPLETE = Rejection("upload_incomplete", "The photo did not arrive whole. Upload it again.")
NOT_JUDGED = frozenset({CHECK_FAILED.code, UPLOAD_INCOMPLETE.code})


@dataclass(frozen=True)
class CheckedPhoto:
    jpeg: bytes
    width: int
    height: int
    sha256: str
    embedding: list[float]
    # What the readiness advice uses (orders.readiness): head pose, sharpness, face luminance.
    traits: dict
    # The face box in the stored JPEG's pixels (the same size as the decoded upright photo).
    face: Face


def check_photo(
    data: bytes, *, max_bytes: int, min_face_px: int, accepted_embeddings: Sequence[Sequence[float]] = ()
) -> CheckedPhoto | Rejection:
    """The photo's verdict; faces are found on a copy of at most DETECT_SIDE_PX (a JPEG decodes straight to it),
    and the face's landmarks, embedding and measures come from its crop at full resolution."""
    if not data:
        return Rejection("empty_file", "The file is empty.")
    if len(data) > max_bytes:
        return Rejection(
            "file_too_large", f"The file is larger than {max_bytes // (1024 * 1024)} MB; send a smaller photo."
        )
    decoded = _decode(data, draft_side=DETECT_SIDE_PX)
    if isinstance(decoded, Rejection):
        return decoded
    image, (width, height) = decoded
    if min(width, height) < MIN_SIDE_PX:
        return Rejection(
            "image_too_small", f"The photo is {width}x{height}; use at least {MIN_SIDE_PX} px on each side."
        )
    if np.asarray(image.convert("L"), dtype=np.float32).mean() < MIN_IMAGE_LUMINANCE:
        return Rejection("too_dark", "The photo is almost black. Take it facing a window or a lamp.")
    faces = [face.scaled(width / image.width) for face in face_analyzer().find_faces(image)]
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
    if image.size != (width, height):  # decoded at a JPEG draft scale: the stored copy and the face need it all
        full = _decode(data)
        if isinstance(full, Rejection):
            return full
        image = full[0]
    details = face_analyzer().analyse(image, face)
    if details.cut_off(width, height) > MAX_FACE_CUT_OFF:
        return Rejection(
            "face_cut_off",
            "The edge of the photo cuts off part of your face. Take it with your whole face in the frame.",
        )
    pixels = _face_box(image, face)
    luminance, sharpness = float(pixels.mean()), _sharpness(pixels)
    rejection = _check_face_quality(details, luminance, sharpness)
    if rejection:
        return rejection
    traits = {
        "yaw": round(details.yaw, 4),
        "pitch": round(details.pitch, 4),
        "sharpness": round(sharpness, 1),
        "luminance": round(luminance, 1),
    }
    rejection = check_against_accepted(details.embedding, accepted_embeddings)
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
        embedding=[round(float(v), 6) for v in details.embedding],
        traits=traits,
        face=face,
    )


def _decode(data: bytes, draft_side: int | None = None) -> tuple[Image.Image, tuple[int, int]] | Rejection:
    """The upright RGB image and its full upright size. With `draft_side`, a JPEG is decoded at the smallest of
    its 1/2, 1/4 and 1/8 scales that keeps the long side at least `draft_side` (a fraction of the work)."""
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
            size = image.size
            if draft_side and image.format in ("JPEG", "MPO") and max(size) > draft_side:
                scale = draft_side / max(size)
                image.draft("RGB", (math.ceil(size[0] * scale), math.ceil(size[1] * scale)))
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
    # Honour the camera's orientation before EXIF is dropped (in place: a 12 MP copy costs more than the turn); an
    # unreadable EXIF block (a damaged file whose pixels decoded fine) leaves the photo as stored.
    decoded_size = image.size
    with contextlib.suppress(Exception):
        ImageOps.exif_transpose(image, in_place=True)
    if image.size != decoded_size:  # turned a quarter: the full size turns with it
        size = (size[1], size[0])
    image.info = {}  # pixels only from here: nothing of the file's metadata (a JPEG comment included) is saved again
    return (image if image.mode == "RGB" else image.convert("RGB")), size


def _face_box(image: Image.Image, face: Face) -> np.ndarray:
    """The face box's grey levels at 128 px (cropped first: only the face's pixels are converted)."""
    box = (max(0, face.left), max(0, face.top), min(image.width, face.right), min(image.height, face.bottom))
    return np.asarray(image.crop(box).convert("L").resize((128, 128), Image.Resampling.BOX), dtype=np.float32)


def _sharpness(pixels: np.ndarray) -> float:
    """Variance of the Laplacian of the 128 px face box."""
    laplacian = 4 * pixels[1:-1, 1:-1] - pixels[:-2, 1:-1] - pixels[2:, 1:-1] - pixels[1:-1, :-2] - pixels[1:-1, 2:]
    return float(laplacian.var())


def _check_face_quality(details: FaceDetails, luminance: float, sharpness: float) -> Rejection | None:
    """`luminance` and `sharpness` of the face box (`_face_box`)."""
    if luminance < MIN_FACE_LUMINANCE:
        return Rejection("too_dark", "Your face is too dark. Face a window or a lamp, without light behind you.")
    if luminance > MAX_FACE_LUMINANCE:
        return Rejection("overexposed", "Your face is washed out. Avoid direct sun or flash.")
    if sharpness < MIN_SHARPNESS:
        return Rejection("blurry", "The photo is blurry. Hold the camera still and make sure your face is in focus.")
    if details.eyes_hidden:
        return Rejection("eyes_covered", "Your eyes are hidden. Take off sunglasses and anything covering your eyes.")
    return None


def check_against_accepted(embedding, accepted: Sequence[Sequence[float]]) -> Rejection | None:
    """A near-duplicate of, or a different person from, the photos accepted so far (the photo checker asks again
    under the order's lock, where it sees every photo accepted meanwhile)."""
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
