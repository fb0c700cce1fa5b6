"""An order's quality report: what the renderer's pick saw over every render, and the delivered scores.

The renderer scores each image and reports each render's pool (`QualityReport`: generated, delivered, rejected
by reason, whether gated); this adds them up and summarises the scores of the headshots delivered so far.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from headshots.v1 import events_pb2
    from orders.models import Order

EMPTY = {"generated": 0, "delivered": 0, "rejected": {}, "gated": False, "consistency": 0.0, "top_up_rounds": 0}


# Why most images of a style were not delivered, for a person (the renderer's headshot checks, renderer.quality).
REJECTION_MESSAGES = {
    "no_face": "no face could be found in most of them",
    "multiple_faces": "most showed more than one face",
    "face_too_small": "the face was too small in most of them",
    "face_off_centre": "the face was off centre in most of them",
    "head_cut_off": "the head was cut off in most of them",
    "eyes_hidden": "the eyes were hidden in most of them",
    "low_likeness": "most did not look enough like you",
}


def shortfall_entry(style_id: str, wanted: int, delivered: int, reason: str) -> dict:
    """One short style as the order shows it: the counts, the main rejection reason and what it means."""
    message = REJECTION_MESSAGES.get(reason, "they did not pass our quality checks")
    return {"style_id": style_id, "wanted": wanted, "delivered": delivered, "reason": reason, "message": message}


def _stats(values: list[float]) -> dict:
    if not values:
        return {"mean": 0.0, "p10": 0.0}
    return {"mean": round(float(np.mean(values)), 4), "p10": round(float(np.percentile(values, 10)), 4)}


def add_render(order: Order, render: events_pb2.QualityReport) -> dict:
    """The order's report with one more render's pool counted in."""
    report = {**EMPTY, **(order.quality or {})}
    rejected = dict(report["rejected"])
    for reason, count in render.rejected.items():
        rejected[reason] = rejected.get(reason, 0) + count
    scores = list(order.headshots.values_list("likeness_score", "quality_score", "consistency_score"))
    return {
        "generated": report["generated"] + render.generated,
        "delivered": report["delivered"] + render.delivered,
        "rejected": dict(sorted(rejected.items())),
        "gated": render.gated,
        # Rounds rendered again, over every render, for images a style was missing after the gate.
        "top_up_rounds": report["top_up_rounds"] + render.top_up_rounds,
        # The latest render's set (the order's pack, then each extra render).
        "consistency": round(float(render.consistency), 4),
        "likeness": _stats([s[0] for s in scores]),
        "quality": _stats([s[1] for s in scores]),
    }


def report(order: Order) -> dict:
    """GET /v1/orders/{id}/report: zeros until something was rendered; the shortfall is the order's."""
    summed = {"likeness": _stats([]), "quality": _stats([]), **EMPTY, **(order.quality or {})}
    return summed | {"shortfall": order.shortfall}
