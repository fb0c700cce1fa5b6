"""Offline face detection, landmarks and 128-d identity embeddings (dlib models).

One analyser serves the gateway's photo checks, the trainer's face crops and
the renderer's likeness scores, so all three agree on what a face is.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

# Two faces closer than this (Euclidean, dlib embedding) are the same person;
# dlib's documented operating point.
SAME_PERSON_DISTANCE = 0.6
# Where the nose tip sits between the eyes' line and the chin in a frontal portrait (measured on tests/fixtures/photos).
FRONTAL_NOSE_HEIGHT = 0.27
# Eye regions against the mid-face band (`eye_brightness_ratio`): ~0.65 with visible eyes, ~0.1 behind sunglasses.
MIN_EYE_BRIGHTNESS_RATIO = 0.35


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


def _models_dir() -> Path:
    # face_recognition_models imports pkg_resources on import; locate its data without importing it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the face-recognition-models package is not installed")
    return Path(spec.submodule_search_locations[0]) / "models"


class FaceAnalyzer:
    """Thread-safe wrapper around dlib's HOG detector, 5-point shape predictor and ResNet embedder."""

    def __init__(self) -> None:
        import dlib

        models = _models_dir()
        self._detector = dlib.get_frontal_face_detector()
        self._shape_predictor = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._embedder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        self._landmarks_68 = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))
        self._rectangle = dlib.rectangle
        self._lock = threading.Lock()

    def detect(self, image: Image.Image, upsample: int = 1) -> list[Face]:
        pixels = np.asarray(image.convert("RGB"))
        with self._lock:
            rects = self._detector(pixels, upsample)
        return [Face(r.left(), r.top(), r.right(), r.bottom()) for r in rects]

    def embed(self, image: Image.Image, face: Face) -> np.ndarray:
        pixels = np.asarray(image.convert("RGB"))
        rect = self._rectangle(face.left, face.top, face.right, face.bottom)
        with self._lock:
            shape = self._shape_predictor(pixels, rect)
            return np.asarray(self._embedder.compute_face_descriptor(pixels, shape), dtype=np.float32)

    def landmarks(self, image: Image.Image, face: Face) -> np.ndarray:
        """The 68 iBUG facial landmarks as an array of (x, y)."""
        pixels = np.asarray(image.convert("RGB"))
        with self._lock:
            shape = self._landmarks_68(pixels, self._rectangle(face.left, face.top, face.right, face.bottom))
        return np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)])

    def head_pose(self, image: Image.Image, face: Face) -> tuple[float, float]:
        """(yaw, pitch) as ratios from the 68 landmarks: 0 facing the camera.

        yaw: the nose tip's offset from the eyes' midpoint in interocular distances (positive: turned towards the
        image's right); pitch: the nose tip's height between the eyes' line and the chin, less its frontal height
        (positive: looking down). Rough, but monotonic: enough to tell whether a set of photos varies its pose.
        """
        points = self.landmarks(image, face).astype(np.float64)
        left_eye, right_eye = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
        eyes, nose, chin = (left_eye + right_eye) / 2, points[30], points[8]
        interocular = max(float(np.linalg.norm(right_eye - left_eye)), 1.0)
        face_height = max(float(chin[1] - eyes[1]), 1.0)
        return float((nose[0] - eyes[0]) / interocular), float((nose[1] - eyes[1]) / face_height - FRONTAL_NOSE_HEIGHT)

    def eyes_hidden(self, gray: Image.Image, face: Face) -> bool:
        """Whether sunglasses or anything else cover the eyes (a selfie's check and a headshot's alike)."""
        ratio = self.eye_brightness_ratio(gray, face)
        return ratio is not None and ratio < MIN_EYE_BRIGHTNESS_RATIO

    def eye_brightness_ratio(self, gray: Image.Image, face: Face) -> float | None:
        """Mean brightness of both eye regions over the mid-face band; low behind sunglasses. None if unmeasurable."""
        points = self.landmarks(gray, face)
        pixels = np.asarray(gray, dtype=np.float32)

        def region(indices) -> np.ndarray:
            (x0, y0), (x1, y1) = points[indices].min(axis=0), points[indices].max(axis=0)
            pad = int((x1 - x0) * 0.3)
            return pixels[max(0, y0 - pad) : max(0, y1 + pad), max(0, x0 - pad) : max(0, x1 + pad)]

        eyes = np.concatenate([region(list(range(36, 42))).ravel(), region(list(range(42, 48))).ravel()])
        band = pixels[max(0, points[29][1]) : max(0, points[33][1]), max(0, points[2][0]) : max(0, points[14][0])]
        if eyes.size == 0 or band.size == 0 or band.mean() == 0:
            return None
        return float(eyes.mean() / band.mean())

    def embed_largest(self, image: Image.Image, upsample: int = 1) -> np.ndarray | None:
        """Embedding of the largest face, or None when no face is found."""
        faces = self.detect(image, upsample)
        if not faces:
            return None
        return self.embed(image, max(faces, key=lambda f: f.width * f.height))


@cache
def face_analyzer() -> FaceAnalyzer:
    """The process-wide analyser (models load once, ~100 MB)."""
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
