"""Likeness scoring on real portraits and the over-generate-then-keep-the-best selection."""

from __future__ import annotations

import numpy as np
from PIL import Image

from headshots.v1 import common_pb2
from headshots_common import blob_layout
from renderer.dispatcher import OrderRender
from renderer.likeness import Candidate, best_per_style, candidates_per_style, likeness_score, selfie_embeddings


def test_a_portrait_scores_higher_against_its_own_person_than_another_person(person_photos, other_person_photo):
    selfies = selfie_embeddings(p.read_bytes() for p in person_photos[1:3])  # obama2, obama3
    assert len(selfies) == 2
    same = likeness_score(person_photos[0].read_bytes(), selfies)  # obama.jpg
    other = likeness_score(other_person_photo.read_bytes(), selfies)  # biden.jpg
    assert same > 0.5 > other, (same, other)  # 0.5 is dlib's same-person threshold
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8))
    assert likeness_score(noise, selfies) == 0.0  # no face: 0, as on the tiny random model
    assert likeness_score(person_photos[0].read_bytes(), []) == 0.0


def test_the_best_n_per_style_are_kept_in_request_order():
    candidates = [
        Candidate("navy", 0, 0.2),
        Candidate("navy", 1, 0.9),
        Candidate("navy", 2, 0.5),
        Candidate("grey", 3, 0.0),
        Candidate("grey", 4, 0.0),
        Candidate("grey", 5, 0.7),
    ]
    assert [c.index for c in best_per_style(candidates, 2)] == [1, 2, 3, 5]  # ties keep the earlier image
    assert candidates_per_style(2, 1.25) == 3 and candidates_per_style(4, 1.25) == 5
    assert candidates_per_style(40, 1.25) == 50 and candidates_per_style(3, 1.0) == 3


def test_the_pack_over_generates_with_stable_seeds():
    render = OrderRender(
        "order-1",
        blob_layout.PACK_RENDER_ID,
        blob_layout.adapter_key("order-1", 1),
        "sks person",
        common_pb2.RenderSpec(style_ids=["navy", "grey"], images_per_style=2),
    )
    delivered, rendered = render.render_request(), render.render_request(candidates_per_style(2, 1.25))
    assert len(delivered.items) == 4 and len(rendered.items) == 6
    seeds = {(i.style_id, i.seed) for i in rendered.items}
    assert {(i.style_id, i.seed) for i in delivered.items} <= seeds and len(seeds) == 6
