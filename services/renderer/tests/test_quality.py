"""Scoring rendered headshots on real portraits (likeness, photo quality, headshot checks, consistency) and the
pick from the over-generated pool."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from headshots.v1 import common_pb2
from headshots_common import blob_layout
from headshots_common.faces import face_analyzer
from renderer.dispatcher import OrderRender
from renderer.likeness import candidates_per_style, selfie_embeddings
from renderer.quality import Scored, check_headshot, photo_quality, pick, score_image, shortfall


@pytest.fixture(scope="module")
def selfies(person_photos):
    return selfie_embeddings(p.read_bytes() for p in person_photos[1:3])


def test_likeness_is_above_the_threshold_for_the_person_only(person_photos, other_person_photo, selfies, portrait):
    same = score_image(portrait(person_photos[0]), selfies, "navy", 0)
    other = score_image(portrait(other_person_photo), selfies, "navy", 1)
    assert same.likeness > 0.5 > other.likeness, (same.likeness, other.likeness)  # 0.5: dlib's threshold
    assert same.rejection is None and other.rejection in ("low_likeness", "face_too_small")
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8))
    blank = score_image(noise, selfies, "navy", 2)
    assert (blank.likeness, blank.rejection) == (0.0, "no_face")  # as every image of the tiny random model


def test_photo_quality_falls_when_a_photo_is_degraded(other_person_photo, portrait, degraded_copies):
    # The official portraits (the video frames of person_photos start lower, 0.41-0.63: test_calibration).
    for path in (other_person_photo.parent / "obama.jpg", other_person_photo.parent / "obama2.jpg", other_person_photo):
        original = portrait(path)
        baseline = photo_quality(original)
        assert baseline > 0.6, (path.name, baseline)
        for name, image in degraded_copies(original).items():
            assert photo_quality(image) < baseline - 0.1, (path.name, name)


def test_headshot_checks_name_what_is_wrong(person_photos, portrait):
    image = portrait(person_photos[0])
    faces = face_analyzer().detect(image)
    assert check_headshot(image, faces) is None
    width, height = image.size
    face = faces[0]
    assert check_headshot(image, []) == "no_face"
    assert check_headshot(image, faces * 2) == "multiple_faces"
    # The head cut off at the top: the crop starts below the hairline.
    cropped = image.crop((0, face.top + face.height // 4, width, height))
    assert check_headshot(cropped, face_analyzer().detect(cropped)) in ("head_cut_off", "no_face")
    # A small face off to the side of a wide canvas.
    canvas = Image.new("RGB", (width * 4, height * 2), "white")
    canvas.paste(image.resize((width // 2, height // 2)), (0, 0))
    assert check_headshot(canvas, face_analyzer().detect(canvas, upsample=2)) in ("face_too_small", "face_off_centre")


def scored(style: str, index: int, likeness: float, quality: float = 0.7, rejection=None, embedding=None) -> Scored:
    return Scored(style, index, likeness, quality, rejection, embedding)


def test_the_pick_drops_failed_images_when_gated_and_keeps_request_order():
    pool = [
        scored("navy", 0, 0.2),
        scored("navy", 1, 0.9),
        scored("navy", 2, 0.95, rejection="eyes_hidden"),
        scored("grey", 3, 0.6),
        scored("grey", 4, 0.7, rejection="no_face"),
        scored("grey", 5, 0.8),
    ]
    gated = pick(pool, 2, gate=True)
    assert [s.index for s in gated.delivered] == [0, 1, 3, 5]
    assert gated.rejected == {"eyes_hidden": 1, "no_face": 1} and gated.generated == 6
    ungated = pick(pool, 2, gate=False)
    assert [s.index for s in ungated.delivered] == [1, 2, 4, 5] and ungated.rejected == {}
    assert len(gated.delivered) == 4
    assert np.mean([s.likeness for s in gated.delivered]) == pytest.approx((0.2 + 0.9 + 0.6 + 0.8) / 4)


def test_an_image_that_looks_like_someone_else_loses_to_the_rest_of_the_pool(
    person_photos, other_person_photo, portrait
):
    analyzer = face_analyzer()
    embeddings = {}
    for path in [*person_photos, other_person_photo]:
        image = portrait(path)
        embeddings[path.name] = analyzer.embed(image, analyzer.detect(image)[0])
    # Same likeness and quality to the selfies on paper: only the set's consistency tells them apart.
    pool = [scored("navy", i, 0.7, embedding=e) for i, e in enumerate(embeddings.values())]
    picked = pick(pool, 5, gate=True)
    assert len(picked.delivered) == 5 and 5 not in [s.index for s in picked.delivered]  # the other person is 5
    assert picked.consistency > 0.6


def test_candidates_per_style_and_the_pack_over_generates_with_stable_seeds():
    assert candidates_per_style(2, 1.25) == 3 and candidates_per_style(4, 1.25) == 5
    assert candidates_per_style(40, 1.25) == 50 and candidates_per_style(3, 1.0) == 3
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


def test_the_shortfall_names_each_style_short_of_its_count_with_its_main_reason():
    pool = [
        scored("navy", 0, 0.8),
        scored("navy", 1, 0.9),
        scored("grey", 2, 0.3, rejection="low_likeness"),
        scored("grey", 3, 0.7),
        scored("grey", 4, 0.2, rejection="low_likeness"),
        scored("grey", 5, 0.9, rejection="eyes_hidden"),
        scored("sage", 6, 0.0, rejection="no_face"),
    ]
    picked = pick(pool, 2, gate=True)
    short = shortfall(pool, picked, ["navy", "grey", "sage", "black"], 2)
    # navy has its 2; grey 1 (2 of its 3 rejections for low likeness); sage and black (never rendered) none.
    assert [(s.style_id, s.wanted, s.delivered, s.main_reason) for s in short] == [
        ("grey", 2, 1, "low_likeness"),
        ("sage", 2, 0, "no_face"),
        ("black", 2, 0, ""),
    ]
    assert shortfall(pool, pick(pool, 2, gate=False), ["navy", "grey"], 2) == []  # ungated: nothing is dropped


def test_top_up_rounds_render_only_the_missing_images_with_new_stable_seeds():
    render = OrderRender(
        "order-1",
        blob_layout.PACK_RENDER_ID,
        blob_layout.adapter_key("order-1", 1),
        "sks person",
        common_pb2.RenderSpec(style_ids=["navy", "grey"], images_per_style=2),
    )
    first = render.render_request(3)
    top_up = render.top_up_request({"grey": 2}, 1)
    assert [i.style_id for i in top_up.items] == ["grey", "grey"]
    assert top_up == render.top_up_request({"grey": 2}, 1), "a redelivered event renders the same seeds"
    rounds = [first, top_up, render.top_up_request({"grey": 2}, 2)]
    seeds = [i.seed for r in rounds for i in r.items]
    assert len(set(seeds)) == len(seeds), "every round has seeds of its own"
