"""A corpus of bad uploads: each gets a 4xx with its own reason code, and nothing is stored."""

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw, ImageFilter

from gateway.config import CONFIG
from headshots_common.blobstore import open_blob_store
from headshots_common.faces import face_analyzer
from orders.models import Photo


def _encode(image: Image.Image, fmt="JPEG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def _sunglasses(path) -> bytes:
    image = Image.open(path).convert("RGB")
    face = max(face_analyzer().find_faces(image), key=lambda f: f.width)
    points = face_analyzer().landmarks(image, face)  # each eye's two corners, then the nose base
    draw = ImageDraw.Draw(image)
    for eye in (points[0:2], points[2:4]):
        cx, cy = eye.mean(axis=0)
        w = abs(eye[0, 0] - eye[1, 0])
        draw.ellipse([cx - w, cy - 0.7 * w, cx + w, cy + 0.7 * w], fill=(15, 15, 20))
    return _encode(image)


def _bomb_png() -> bytes:
    """A 20000x20000 PNG: a few KB on disk, 1.2 GB once decoded."""
    return _encode(Image.new("1", (20000, 20000)), "PNG")


@pytest.fixture(scope="module")
def corpus(person_photos, two_faces_jpeg):
    sharp = Image.open(person_photos[0]).convert("RGB")
    return {
        "truncated.jpg": (person_photos[0].read_bytes()[:30_000], "corrupt_image"),
        "empty.jpg": (b"", "empty_file"),
        "notes.jpg": (b"Dear diary, today I uploaded a text file.\n" * 20, "not_an_image"),
        "logo.svg": (
            b'<svg xmlns="http://www.w3.org/2000/svg" width="600" height="600"><circle r="300"/></svg>',
            "unsupported_format",
        ),
        "bomb.png": (_bomb_png(), "image_too_large"),
        "huge.jpg": (b"\xff\xd8\xff" + b"\0" * (60 * 1024 * 1024), "file_too_large"),
        "two.jpg": (two_faces_jpeg, "multiple_faces"),
        "blurred.jpg": (_encode(sharp.filter(ImageFilter.GaussianBlur(6))), "blurry"),
        "black.jpg": (_encode(Image.new("RGB", (800, 800), "black")), "too_dark"),
        "wall.jpg": (_encode(Image.fromarray(np.full((640, 640, 3), 128, np.uint8))), "no_face"),
        "tiny.png": (_encode(sharp.resize((120, 150)), "PNG"), "image_too_small"),
        "sunglasses.jpg": (_sunglasses(person_photos[0]), "eyes_covered"),
        "washed-out.jpg": (_encode(sharp.point(lambda v: min(255, int(v * 2.2 + 60)))), "overexposed"),
        "dark.jpg": (_encode(sharp.point(lambda v: int(v * 0.25))), "too_dark"),
    }


def test_every_bad_file_gets_its_own_reason_and_nothing_is_stored(api, order, corpus):
    for name, (content, code) in corpus.items():
        response = api.post(
            f"/v1/orders/{order['id']}/photos", {"files": [SimpleUploadedFile(name, content)]}, format="multipart"
        )
        assert response.status_code == 422, (name, response.content[:300])
        [result] = response.json()["results"]
        assert (name, result["accepted"], result["reason_code"]) == (name, False, code)
        assert result["message"], name
    # Only the verdicts are kept (GET …/photos shows them): no bytes, no measures of any file.
    kept = Photo.objects.filter(order_id=order["id"])
    assert {p.state for p in kept} == {"rejected"} and all(not p.blob_key and not p.embedding for p in kept)
    assert open_blob_store(CONFIG.shared.blob_url).list(f"orders/{order['id']}/") == []


def test_near_duplicates_and_a_different_person_are_caught(api, order, person_photos, other_person_photo):
    first = api.post(
        f"/v1/orders/{order['id']}/photos",
        {"files": [SimpleUploadedFile(p.name, p.read_bytes()) for p in person_photos[:3]]},
        format="multipart",
    ).json()
    assert first["accepted"] == 3
    shot = Image.open(person_photos[1]).convert("RGB")
    resized = _encode(shot.resize((shot.width * 4 // 5, shot.height * 4 // 5)))  # same shot, smaller
    response = api.post(
        f"/v1/orders/{order['id']}/photos",
        {
            "files": [
                SimpleUploadedFile("again.jpg", resized),
                SimpleUploadedFile("someone.jpg", other_person_photo.read_bytes()),
            ]
        },
        format="multipart",
    ).json()
    assert [r["reason_code"] for r in response["results"]] == ["near_duplicate", "different_person"]


def test_the_declared_content_type_is_not_trusted(api, order, person_photos):
    lying = SimpleUploadedFile("photo.png", b"%PDF-1.7 not an image at all", content_type="image/png")
    response = api.post(f"/v1/orders/{order['id']}/photos", {"files": [lying]}, format="multipart")
    assert response.json()["results"][0]["reason_code"] == "not_an_image"


def test_iphone_heic_photos_are_accepted_and_stored_as_jpeg(api, order, person_photos):
    heic = io.BytesIO()
    Image.open(person_photos[0]).save(heic, format="HEIF", quality=90)
    response = api.post(
        f"/v1/orders/{order['id']}/photos",
        {"files": [SimpleUploadedFile("IMG_0001.HEIC", heic.getvalue(), content_type="image/heic")]},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    photo = Photo.objects.get(order_id=order["id"])
    assert Image.open(io.BytesIO(open_blob_store(CONFIG.shared.blob_url).get(photo.blob_key))).format == "JPEG"


def test_no_photo_bytes_or_exif_reach_the_logs(api, order, person_photos, caplog):
    with_gps = io.BytesIO()
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (51.0, 30.0, 0.0)})
    Image.open(person_photos[0]).save(with_gps, format="JPEG", exif=exif)
    caplog.set_level("DEBUG")
    api.post(
        f"/v1/orders/{order['id']}/photos",
        {
            "files": [
                SimpleUploadedFile("gps.jpg", with_gps.getvalue()),
                SimpleUploadedFile("bad.jpg", b"\xff\xd8\xff\xe1Exif\0\0junk"),
            ]
        },
        format="multipart",
    )
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Exif" not in logged and "\xff\xd8" not in logged and "GPS" not in logged
