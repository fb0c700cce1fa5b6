"""Readiness before training: the advice follows what the photos lack, on real photos and on made-up measures."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageOps

from headshots_common.faces import face_analyzer
from orders.readiness import PhotoFacts, assess


def facts(name: str, yaw=0.0, pitch=0.0, sharpness=500.0, luminance=120.0, embedding=None) -> PhotoFacts:
    traits = {"yaw": yaw, "pitch": pitch, "sharpness": sharpness, "luminance": luminance}
    return PhotoFacts(name, embedding if embedding is not None else [], traits)


def codes(result: dict) -> list[str]:
    return [a["code"] for a in result["advice"]]


def test_no_photos_is_zero_with_what_to_do():
    result = assess([])
    assert result["score"] == 0 and codes(result) == ["add_photos"]


def test_ten_varied_sharp_photos_of_one_person_need_nothing():
    rng = np.random.default_rng(1)
    person = rng.normal(size=128)
    photos = [
        facts(
            f"p{i}.jpg",
            yaw=-0.3 + 0.06 * i,
            pitch=-0.06 + 0.015 * i,
            luminance=90 + 6 * i,
            embedding=list(person + rng.normal(scale=0.02, size=128)),
        )
        for i in range(10)
    ]
    assert assess(photos) == {"score": 100, "advice": []}


def test_same_pose_and_light_ask_for_turns_a_tilt_and_other_light():
    result = assess([facts(f"p{i}.jpg", yaw=0.01 * i) for i in range(10)])
    assert codes(result) == ["turn_left", "turn_right", "tilt", "vary_light"] and result["score"] < 70


def test_a_soft_photo_is_named():
    photos = [facts(f"p{i}.jpg", yaw=-0.3 + 0.06 * i, pitch=0.02 * i, luminance=90 + 6 * i) for i in range(10)]
    photos[3] = facts("blurry-ish.jpg", yaw=0.0, pitch=0.05, sharpness=150.0, luminance=108)
    (soft,) = [a for a in assess(photos)["advice"] if a["code"] == "soft"]
    assert soft["photo"] == "blurry-ish.jpg" and "blurry-ish.jpg" in soft["message"]


def _embedding(path) -> list[float]:
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    analyzer = face_analyzer()
    return list(analyzer.embed(image, analyzer.detect(image)[0]))


def test_on_real_photos_someone_else_is_the_one_flagged(person_photos, other_person_photo):
    """The real portraits: five of one person agree; a sixth of another person is named, nobody else."""
    photos = [facts(p.name, embedding=_embedding(p)) for p in [*person_photos, other_person_photo]]
    flagged = [a["photo"] for a in assess(photos)["advice"] if a["code"] == "looks_different"]
    assert flagged == [other_person_photo.name]
    assert "looks_different" not in codes(assess(photos[:5]))


@pytest.mark.django_db
def test_uploads_keep_the_orders_readiness_and_submit_reports_it(api, order, person_photos):
    files = [SimpleUploadedFile(p.name, p.read_bytes(), content_type="image/jpeg") for p in person_photos]
    assert api.post(f"/v1/orders/{order['id']}/photos", {"files": files}, format="multipart").status_code == 201
    readiness = api.get(f"/v1/orders/{order['id']}").json()["readiness"]
    # Five frames of one video: too few for the best result; they agree and one turns right (yaw -0.19), none far
    # enough left (at most +0.14), and they share one light. Their pitch spans 0.1: no advice to tilt.
    assert codes(readiness) == ["add_photos", "turn_left", "vary_light"]
    assert "5 more" in readiness["advice"][0]["message"]
    assert 40 <= readiness["score"] < 100
    submitted = api.post(f"/v1/orders/{order['id']}/submit")
    assert submitted.status_code == 202 and submitted.json()["readiness"] == readiness


@pytest.mark.django_db
def test_a_soft_real_photo_is_named_until_the_order_is_deleted(api, order, person_photos):
    import io

    from PIL import ImageFilter

    soft = io.BytesIO()
    # Sharpness ~155 of the photo's 337: accepted (100 and up) but soft (under 200).
    Image.open(person_photos[0]).convert("RGB").filter(ImageFilter.GaussianBlur(0.9)).save(soft, "JPEG", quality=95)
    files = [SimpleUploadedFile("soft-selfie.jpg", soft.getvalue(), content_type="image/jpeg")]
    files += [SimpleUploadedFile(p.name, p.read_bytes(), content_type="image/jpeg") for p in person_photos[1:]]
    assert api.post(f"/v1/orders/{order['id']}/photos", {"files": files}, format="multipart").status_code == 201
    advice = api.get(f"/v1/orders/{order['id']}").json()["readiness"]["advice"]
    assert [a["photo"] for a in advice if a["code"] == "soft"] == ["soft-selfie.jpg"]
    assert api.delete(f"/v1/orders/{order['id']}").status_code == 200
    assert "soft-selfie" not in api.get(f"/v1/orders/{order['id']}").content.decode()
