"""Offline face detection, landmarks and 128-d identity embeddings (dlib models).

One analyser serves the gateway's photo checks, the trainer's face crops and
the renderer's likeness scores, so all three agree on what a face is.

Every model here may be used commercially (docs/licences.md, checked by tests/test_licences.py): dlib's
built-in HOG detector, its 5-point landmarks (eye corners and nose base) and its ResNet embedder. Head pose
and the eye regions are derived from the 5 points; dlib's 68-point model is not used, as the data it was
trained on rules out commercial use.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

# Two faces closer than this (Euclidean, dlib embedding) are the same person;
# dlib's documented operating point.
SAME_PERSON_DISTANCE = 0.6
# Faces are looked for on a copy no larger than this (HOG cost grows with the pixels); a copy without a face is
# looked at again upsampled once, which finds faces down to ~40 px of it.
DETECT_SIDE_PX = 800
# The model files the analyser loads, from the face-recognition-models package; nothing else of it is used, and
# images delete the rest (`prune_unused_models`).
MODEL_FILES = {
    "landmarks": "shape_predictor_5_face_landmarks.dat",
    "embedder": "dlib_face_recognition_resnet_model_v1.dat",
}
# Landmarks and the embedding are computed on the face with this much of its size around it: dlib's aligned chip
# takes a quarter of the face on each side, and a tilted head needs a little more.
CROP_MARGIN = 0.5
# Head pose from the 5 points, in the units of the 68-point measure it replaced (the nose tip's offset, between
# eyes and chin), so readiness thresholds and traits stored before stay comparable. Measured on the portraits in
# tests/fixtures: facing the camera, the nose base sits 0.76 interocular distances below the eyes' line; within
# one person's photos the old yaw spreads 1.0-1.45 times and the old pitch 0.55-0.75 times as far as these
# ratios (correlation 0.9 for each person with several photos): the gains sit inside those ranges.
FRONTAL_NOSE_DROP = 0.76
YAW_GAIN, PITCH_GAIN = 1.2, 0.6
# Both eye regions against the cheeks-and-nose band below them (`FaceDetails.eye_brightness_ratio`), measured on
# tests/fixtures: 0.63-0.93 with visible eyes; 0.09-0.38 behind the dark, small, tinted and brown lenses that the
# 68-point check it replaced rejected (services/gateway/tests/test_photo_checks.py).
MIN_EYE_BRIGHTNESS_RATIO = 0.45
# The face's extent from the 5 points, in interocular distances: 1.1 of them either side of the eyes' midpoint
# (cheek to cheek at the eyes' height), the chin 2.1 below the eyes' line (the 68-point chin on the fixture
# portraits measured 2.05).
FACE_HALF_WIDTH, CHIN_DROP = 1.1, 2.1


@dataclass(frozen=True)
class Face:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def scaled(self, factor: float) -> Face:
        return Face(
            round(self.left * factor), round(self.top * factor), round(self.right * factor), round(self.bottom * factor)
        )


@dataclass(frozen=True)
class FaceDetails:
    """What the analyser measures on one face, all from one pass over its crop."""

    # dlib's 5 points in image coordinates: one eye's outer and inner corner, the other's, the nose base.
    landmarks: np.ndarray
    embedding: np.ndarray
    # Ratios, 0 facing the camera. yaw: the nose base's offset from the eyes' midpoint along the eyes' line
    # (positive: turned towards the image's right); pitch: its drop below that line, less the frontal drop
    # (positive: looking down). Rough, but monotonic: enough to tell whether a set of photos varies its pose.
    yaw: float
    pitch: float
    # Mean brightness of both eye regions over the band of cheeks and nose below them; None if unmeasurable.
    eye_brightness_ratio: float | None

    def cut_off(self, width: int, height: int) -> float:
        """How much of the face a `width` x `height` frame cuts off: the face, estimated from the points, spans
        FACE_HALF_WIDTH interocular distances either side of the eyes' midpoint and reaches CHIN_DROP of them below
        the eyes' line; the largest part of it outside the frame, as a fraction of its width (or height)."""
        right, left, _ = _eyes(self.landmarks)
        interocular = max(float(np.linalg.norm(right - left)), 1.0)
        along = (right - left) / interocular
        down = np.array([-along[1], along[0]])
        middle = (left + right) / 2
        cut = 0.0
        for side in (-1, 1):
            for depth in (0, 1):
                x, y = middle + side * FACE_HALF_WIDTH * interocular * along + depth * CHIN_DROP * interocular * down
                cut = max(
                    cut,
                    max(-x, x - width) / (2 * FACE_HALF_WIDTH * interocular),
                    max(-y, y - height) / (CHIN_DROP * interocular),
                )
        return cut

    @property
    def eyes_hidden(self) -> bool:
        """Whether sunglasses or anything else cover the eyes (a selfie's check and a headshot's alike)."""
        return self.eye_brightness_ratio is not None and self.eye_brightness_ratio < MIN_EYE_BRIGHTNESS_RATIO


def _models_dir() -> Path:
    # face_recognition_models imports pkg_resources on import; locate its data without importing it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the face-recognition-models package is not installed")
    return Path(spec.submodule_search_locations[0]) / "models"


def model_paths() -> dict[str, Path]:
    """The model files the analyser loads (MODEL_FILES), where this environment has them."""
    models = _models_dir()
    return {role: models / name for role, name in MODEL_FILES.items()}


def prune_unused_models(models_dir: Path | None = None) -> list[Path]:
    """Delete the package's model files the analyser does not load (an image ships only what it uses)."""
    folder = models_dir or _models_dir()
    unused = [path for path in sorted(folder.iterdir()) if path.is_file() and path.name not in MODEL_FILES.values()]
    for path in unused:
        path.unlink()
    return unused


class FaceAnalyzer:
    """Thread-safe wrapper around dlib's HOG detector, 5-point shape predictor and ResNet embedder."""

    def __init__(self) -> None:
        import dlib

        paths = model_paths()
        self._detector = dlib.get_frontal_face_detector()
        self._shape_predictor = dlib.shape_predictor(str(paths["landmarks"]))
        self._embedder = dlib.face_recognition_model_v1(str(paths["embedder"]))
        self._rectangle = dlib.rectangle
        # dlib's detector and network keep scratch state per call: one call at a time.
        self._lock = threading.Lock()

    def detect(self, image: Image.Image, upsample: int = 1) -> list[Face]:
        """Faces in `image` as given (every pixel, `upsample` times doubled): `find_faces` is the cheap way."""
        pixels = np.asarray(image.convert("RGB"))
        with self._lock:
            rects = self._detector(pixels, upsample)
        return [Face(r.left(), r.top(), r.right(), r.bottom()) for r in rects]

    def find_faces(self, image: Image.Image) -> list[Face]:
        """Faces in `image`'s coordinates, looked for on a copy of at most DETECT_SIDE_PX, upsampled only on a miss."""
        scale = min(1.0, DETECT_SIDE_PX / max(image.size))
        small = image.convert("RGB")
        if scale < 1.0:
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            small = small.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        faces = self.detect(small, upsample=0) or self.detect(small, upsample=1)
        return [face.scaled(1 / scale) for face in faces]

    def analyse(self, image: Image.Image, face: Face) -> FaceDetails:
        """Landmarks, embedding, head pose and the eyes' brightness, computed once on the face's crop.

        The crop keeps the photo's resolution: resampling moves dlib's embedding by 0.05, close to the
        near-duplicate distance, while cropping leaves it unchanged.
        """
        margin = CROP_MARGIN * max(face.width, face.height)
        left, top = max(0, int(face.left - margin)), max(0, int(face.top - margin))
        right, bottom = min(image.width, int(face.right + margin)), min(image.height, int(face.bottom + margin))
        crop = image.crop((left, top, right, bottom)).convert("RGB")
        pixels = np.asarray(crop)
        box = self._rectangle(face.left - left, face.top - top, face.right - left, face.bottom - top)
        with self._lock:
            shape = self._shape_predictor(pixels, box)
            embedding = np.asarray(self._embedder.compute_face_descriptor(pixels, shape), dtype=np.float32)
        points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], dtype=np.float64)
        yaw, pitch = _head_pose(points)
        ratio = _eye_brightness_ratio(np.asarray(crop.convert("L"), dtype=np.float32), points)
        return FaceDetails(points + (left, top), embedding, yaw, pitch, ratio)

    def landmarks(self, image: Image.Image, face: Face) -> np.ndarray:
        """dlib's 5 points as an array of (x, y): outer and inner corner of one eye, of the other, the nose base."""
        return self.analyse(image, face).landmarks

    def embed(self, image: Image.Image, face: Face) -> np.ndarray:
        return self.analyse(image, face).embedding

    def embed_largest(self, image: Image.Image) -> np.ndarray | None:
        """Embedding of the largest face, or None when no face is found."""
        faces = self.find_faces(image)
        if not faces:
            return None
        return self.embed(image, max(faces, key=lambda f: f.width * f.height))


def _eyes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres of the eye on the image's right and on its left, and the nose base."""
    return points[0:2].mean(axis=0), points[2:4].mean(axis=0), points[4]


def _head_pose(points: np.ndarray) -> tuple[float, float]:
    right, left, nose = _eyes(points)
    axis = right - left
    interocular = max(float(np.linalg.norm(axis)), 1.0)
    along = axis / interocular
    down = np.array([-along[1], along[0]])  # perpendicular to the eyes' line, pointing to the chin
    offset = (nose - (left + right) / 2) / interocular
    # Measured in the eyes' frame, so a head tilted sideways (roll) reads as neither turned nor nodding.
    return YAW_GAIN * float(offset @ along), PITCH_GAIN * (float(offset @ down) - FRONTAL_NOSE_DROP)


def _eye_brightness_ratio(gray: np.ndarray, points: np.ndarray) -> float | None:
    """Both eye regions (each eye's width and 0.45 of it around its corners) over the band from halfway down the
    nose to its base, an interocular distance either side of the nose: cheeks and nose, lit like the eyes."""
    right, left, nose = _eyes(points)
    interocular = float(np.linalg.norm(right - left))

    def region(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        return gray[max(0, int(y0)) : max(0, int(y1)), max(0, int(x0)) : max(0, int(x1))]

    eyes = []
    for corners in (points[0:2], points[2:4]):
        (cx, cy), width = corners.mean(axis=0), float(np.linalg.norm(corners[0] - corners[1]))
        eyes.append(region(cx - 0.8 * width, cy - 0.45 * width, cx + 0.8 * width, cy + 0.45 * width).ravel())
    eye_pixels = np.concatenate(eyes)
    eye_line_y = (left[1] + right[1]) / 2
    band = region(nose[0] - interocular, eye_line_y + 0.55 * (nose[1] - eye_line_y), nose[0] + interocular, nose[1])
    if eye_pixels.size == 0 or band.size == 0 or band.mean() == 0:
        return None
    return float(eye_pixels.mean() / band.mean())


@cache
def face_analyzer() -> FaceAnalyzer:
    """The process-wide analyser (models load once, ~35 MB)."""
    return FaceAnalyzer()


def likeness(embedding: np.ndarray, references: list[np.ndarray]) -> float:
    """Similarity in [0, 1] to the closest reference: 1 identical, 0.5 at the same-person threshold."""
    if not references:
        return 0.0
    distance = min(float(np.linalg.norm(embedding - ref)) for ref in references)
    return max(0.0, 1.0 - distance / (2 * SAME_PERSON_DISTANCE))


def crop_around_face(image: Image.Image, face: Face, size: int, margin: float = 0.6) -> Image.Image:
    """A square crop centred on the face with `margin` of the face size on each side, resized to `size`."""
    cx, cy = (face.left + face.right) / 2, (face.top + face.bottom) / 2
    half = max(face.width, face.height) * (0.5 + margin)
    half = min(half, cx, cy, image.width - cx, image.height - cy, max(image.width, image.height))
    half = max(half, max(face.width, face.height) / 2)
    box = (int(cx - half), int(cy - half), int(cx + half), int(cy + half))
    return image.crop(box).resize((size, size), Image.Resampling.LANCZOS)


if __name__ == "__main__":  # python -m headshots_common.faces --prune-unused-models (image builds)
    if sys.argv[1:] != ["--prune-unused-models"]:
        sys.exit("usage: python -m headshots_common.faces --prune-unused-models")
    for removed in prune_unused_models():
        print(f"removed {removed}")
