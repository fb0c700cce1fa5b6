"""Before training: how ready an order's selfies are, and what to add or retake for a better likeness.

Computed from what each accepted photo's check measured (`Photo.traits`: head pose, sharpness, face
luminance; `Photo.embedding`: identity). Head pose comes from dlib's 5 landmarks since the 68-point model
left (`headshots_common.faces`), in the units of the earlier measure, so photos checked before compare with
new ones. Thresholds were measured on the real portraits in tests/fixtures/photos: five photos of one
person sit 0.30-0.39 (mean identity distance to the others), another person 0.82-0.87; their poses span
yaw -0.25..+0.30 and pitch -0.09..+0.14; sharpness 270-730.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GOOD_PHOTO_COUNT = 10  # 10-20 varied photos train the best likeness
TURNED_YAW = 0.15  # a head turned this far to a side (interocular distances of nose offset)
MIN_PITCH_SPREAD = 0.08  # between the most upward and most downward photo
MIN_LUMINANCE_SPREAD = 8.0  # standard deviation of the faces' mean luminance (0-255)
SOFT_SHARPNESS = 200.0  # accepted (>= 100) but soft: sharper photos give sharper headshots
OUTLIER_DISTANCE = 0.48  # mean identity distance to the other photos: same person 0.30-0.39, another 0.8+

# Points of the 0-100 score: enough photos, pose variety, lighting variety, sharpness, identity agreement.
WEIGHTS = {"count": 30, "pose": 20, "lighting": 15, "sharpness": 15, "agreement": 20}


@dataclass(frozen=True)
class PhotoFacts:
    filename: str
    embedding: Sequence[float]
    traits: dict


def assess(photos: Sequence[PhotoFacts]) -> dict:
    """{"score": 0-100, "advice": [{"code", "message", "photo"}]}: the advice says what to add or retake."""
    advice: list[dict] = []

    def say(code: str, message: str, photo: str | None = None) -> None:
        advice.append({"code": code, "message": message, "photo": photo})

    measured = [p for p in photos if p.traits]
    points = WEIGHTS["count"] * min(1.0, len(photos) / GOOD_PHOTO_COUNT)
    if len(photos) < GOOD_PHOTO_COUNT:
        say(
            "add_photos",
            f"Add {GOOD_PHOTO_COUNT - len(photos)} more photo(s): 10 to 20 varied photos give the best likeness.",
        )
    if not measured:
        return {"score": round(points), "advice": advice}

    yaws = [p.traits["yaw"] for p in measured]
    pitches = [p.traits["pitch"] for p in measured]
    pose = 1.0
    if max(yaws) < TURNED_YAW:
        pose -= 0.35
        say("turn_left", "Add a photo with your head turned slightly to your left.")
    if min(yaws) > -TURNED_YAW:
        pose -= 0.35
        say("turn_right", "Add a photo with your head turned slightly to your right.")
    if max(pitches) - min(pitches) < MIN_PITCH_SPREAD:
        pose -= 0.3
        say("tilt", "Add a photo looking slightly up or slightly down.")
    points += WEIGHTS["pose"] * max(0.0, pose)

    luminance = [p.traits["luminance"] for p in measured]
    lighting = min(1.0, float(np.std(luminance)) / MIN_LUMINANCE_SPREAD) if len(measured) > 1 else 0.0
    if lighting < 1.0:
        say("vary_light", "Add photos in different light: by a window, outdoors, indoors in the evening.")
    points += WEIGHTS["lighting"] * lighting

    soft = [p for p in measured if p.traits["sharpness"] < SOFT_SHARPNESS]
    for photo in soft:
        say("soft", f"{photo.filename} is a little soft: a sharper photo gives sharper headshots.", photo.filename)
    points += WEIGHTS["sharpness"] * (1 - len(soft) / len(measured))

    embedded = [p for p in photos if p.embedding]
    outliers = []
    if len(embedded) >= 3:
        vectors = np.asarray([p.embedding for p in embedded], dtype=np.float32)
        distances = np.linalg.norm(vectors[:, None, :] - vectors[None, :, :], axis=2)
        for i, photo in enumerate(embedded):
            if float(distances[i].sum() / (len(embedded) - 1)) > OUTLIER_DISTANCE:
                outliers.append(photo)
                say(
                    "looks_different",
                    f"{photo.filename} does not look like your other photos: replace it with a recent one of you.",
                    photo.filename,
                )
    points += WEIGHTS["agreement"] * (1 - len(outliers) / max(1, len(embedded)))
    return {"score": round(points), "advice": advice}
