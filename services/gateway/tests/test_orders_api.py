"""The orders REST API, layer by layer: creation, photos, submission, tenant isolation, errors."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from gateway.config import CONFIG
from headshots_common import bus
from headshots_common.blobstore import open_blob_store
from orders.models import Photo
from outbox.models import OutboxMessage

GPS_IFD = 0x8825


def upload(api, order_id, *files):
    return api.post(f"/v1/orders/{order_id}/photos", {"files": list(files)}, format="multipart")


def photo_file(path, name=None):
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type="image/jpeg")


def test_create_order_returns_it_awaiting_photos(api):
    response = api.post("/v1/orders", {"package": "basic", "styles": ["corporate-navy"]}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "awaiting_photos"
    assert body["progress"] == {"stage": "upload", "percent": 0, "eta_s": None}
    assert body["counts"] == {"photos_accepted": 0, "headshots": 0}


def test_unknown_style_is_a_field_error_with_a_code(api):
    response = api.post("/v1/orders", {"package": "basic", "styles": ["disco"]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_argument"
    assert "styles" in error["details"]["fields"]


def test_requests_without_a_valid_key_are_rejected(db):
    from rest_framework.test import APIClient

    anonymous = APIClient()
    assert anonymous.post("/v1/orders", {}, format="json").json()["error"]["code"] == "unauthenticated"
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer hs_nope")
    response = anonymous.get("/v1/orders/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_another_tenants_order_is_not_found(order, other_api):
    response = other_api.get(f"/v1/orders/{order['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert upload(other_api, order["id"]).status_code == 404


def test_my_orders_are_listed_newest_first_in_pages(api, other_api):
    body = {"package": "trial", "styles": ["tech-grey"]}
    created = [api.post("/v1/orders", body, format="json").json() for _ in "ab"]
    other_api.post("/v1/orders", body, format="json")
    page = api.get("/v1/orders?limit=1").json()
    assert page["count"] == 2 and [o["id"] for o in page["results"]] == [created[1]["id"]]
    assert page["previous"] is None and page["next"].endswith("/v1/orders?limit=1&offset=1")
    rest = api.get("/v1/orders?limit=1&offset=1").json()
    assert [o["id"] for o in rest["results"]] == [created[0]["id"]] and rest["next"] is None
    assert rest["results"][0] == api.get(f"/v1/orders/{created[0]['id']}").json()
    for bad in ("limit=0", "limit=101", "offset=-1", "limit=x"):
        response = api.get(f"/v1/orders?{bad}")
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_argument", bad


def test_real_selfies_are_accepted_and_stored_without_exif(api, order, person_photos):
    with_gps = io.BytesIO()
    exif = Image.Exif()
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (51.0, 30.0, 0.0)})
    Image.open(person_photos[0]).save(with_gps, format="JPEG", exif=exif)
    assert Image.open(io.BytesIO(with_gps.getvalue())).getexif().get_ifd(GPS_IFD)
    response = upload(
        api,
        order["id"],
        SimpleUploadedFile("gps.jpg", with_gps.getvalue(), content_type="image/jpeg"),
        photo_file(person_photos[1]),
    )
    assert response.status_code == 201, response.content
    results = response.json()["results"]
    assert [r["accepted"] for r in results] == [True, True]
    store = open_blob_store(CONFIG.shared.blob_url)
    for photo in Photo.objects.filter(order_id=order["id"]):
        stored = Image.open(io.BytesIO(store.get(photo.blob_key)))
        assert not stored.info.get("exif"), "EXIF must never reach storage"
        assert not stored.getexif()


@pytest.mark.parametrize(
    "name,content,code",
    [
        ("empty.jpg", b"", "empty_file"),
        ("notes.jpg", b"these are not the pixels you are looking for", "not_an_image"),
        ("tiny.png", None, "image_too_small"),
        ("blank.png", None, "no_face"),
        ("truncated.jpg", None, "corrupt_image"),
    ],
)
def test_bad_files_are_rejected_with_a_specific_reason_and_nothing_stored(
    api, order, person_photos, name, content, code
):
    if name == "tiny.png":
        buf = io.BytesIO()
        Image.new("RGB", (64, 64), "gray").save(buf, format="PNG")
        content = buf.getvalue()
    elif name == "blank.png":
        buf = io.BytesIO()
        Image.new("RGB", (640, 640), "gray").save(buf, format="PNG")
        content = buf.getvalue()
    elif name == "truncated.jpg":
        content = person_photos[0].read_bytes()[:20_000]
    response = upload(api, order["id"], SimpleUploadedFile(name, content))
    assert response.status_code == 422
    result = response.json()["results"][0]
    assert (result["accepted"], result["reason_code"]) == (False, code)
    assert result["message"]
    # The verdict is kept (GET …/photos shows it), and nothing of the file: no bytes, no measures.
    [photo] = Photo.objects.filter(order_id=order["id"])
    assert (photo.state, photo.reason_code, photo.blob_key, photo.embedding) == ("rejected", code, "", [])
    assert open_blob_store(CONFIG.shared.blob_url).list(f"orders/{order['id']}/") == []


def test_a_photo_with_two_people_is_rejected(api, order, two_faces_jpeg):
    response = upload(api, order["id"], SimpleUploadedFile("two.jpg", two_faces_jpeg))
    assert response.json()["results"][0]["reason_code"] == "multiple_faces"


def test_the_same_photo_twice_in_one_upload_is_a_duplicate(api, order, person_photos):
    response = upload(api, order["id"], photo_file(person_photos[0]), photo_file(person_photos[0], "again.jpg"))
    assert [r["reason_code"] for r in response.json()["results"]] == [None, "near_duplicate"]


def test_an_upload_sent_again_answers_with_the_photos_it_made(api, order, person_photos):
    """A partner retries an upload whose answer it never got (a 503 once the photos were stored, a cut connection):
    the same bytes again are the same photos, with their ids and verdicts, not five rejected duplicates."""
    files = [photo_file(p) for p in person_photos]
    first = upload(api, order["id"], *files).json()
    assert first["accepted"] == 5
    again = upload(api, order["id"], *[photo_file(p) for p in person_photos])
    assert again.status_code == 201, again.content
    assert [(r["photo_id"], r["state"]) for r in again.json()["results"]] == [
        (r["photo_id"], "accepted") for r in first["results"]
    ]
    assert Photo.objects.filter(order_id=order["id"]).count() == 5
    assert api.get(f"/v1/orders/{order['id']}").json()["counts"]["photos_accepted"] == 5


def test_a_photo_whose_check_failed_is_checked_again_when_uploaded_again(api, order, person_photos):
    """`check_failed` says "upload it again": the same bytes then get a new photo and a new check."""
    first = upload(api, order["id"], photo_file(person_photos[0])).json()["results"][0]
    Photo.objects.filter(pk=first["photo_id"]).update(state="rejected", reason_code="check_failed", blob_key="")
    again = upload(api, order["id"], photo_file(person_photos[0])).json()["results"][0]
    assert again["photo_id"] != first["photo_id"] and again["state"] == "accepted", again


def test_submit_needs_five_photos(api, order, person_photos):
    upload(api, order["id"], *[photo_file(p) for p in person_photos[:4]])
    response = api.post(f"/v1/orders/{order['id']}/submit")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "not_enough_photos"
    assert response.json()["error"]["details"] == {"accepted": 4, "required": 5}
    assert not OutboxMessage.objects.filter(topic=bus.ORDERS_TOPIC).exists()


def test_submit_queues_the_order_and_writes_its_event_in_the_same_transaction(api, order, person_photos):
    upload(api, order["id"], *[photo_file(p) for p in person_photos])
    response = api.post(f"/v1/orders/{order['id']}/submit")
    assert response.status_code == 202
    assert response.json()["state"] == "queued"
    [message] = OutboxMessage.objects.filter(topic=bus.ORDERS_TOPIC)
    assert message.topic == bus.ORDERS_TOPIC and message.key == order["id"]
    event = bus.decode_event(bytes(message.payload))
    assert bus.payload_kind(event) == "order_submitted"
    assert len(event.order_submitted.photo_keys) == 5
    assert list(event.order_submitted.render_spec.style_ids) == ["corporate-navy", "tech-grey"]
    assert event.order_submitted.render_spec.images_per_style == 2  # trial: 4 headshots over 2 styles
    # Submitting again changes nothing and emits nothing.
    assert api.post(f"/v1/orders/{order['id']}/submit").status_code == 202
    assert OutboxMessage.objects.filter(topic=bus.ORDERS_TOPIC).count() == 1
    # The order no longer takes photos.
    response = upload(api, order["id"], photo_file(person_photos[0]))
    assert response.status_code == 409 and response.json()["error"]["code"] == "order_not_open"


def test_styles_catalogue_is_public(client):
    response = client.get("/v1/styles")
    assert response.status_code == 200
    assert {"corporate-navy", "executive-black"} <= {s["id"] for s in response.json()["results"]}


def test_unknown_urls_answer_json_404(api):
    response = api.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_each_photo_and_its_verdict_is_listed_and_a_photo_can_be_removed(api, other_api, order, person_photos):
    uploaded = upload(api, order["id"], *[photo_file(p) for p in person_photos[:2]], SimpleUploadedFile("x.jpg", b""))
    results = uploaded.json()["results"]
    assert [r["state"] for r in results] == ["accepted", "accepted", "rejected"]
    assert all(api.get(r["status_url"]).status_code == 200 for r in results)
    listed = api.get(f"/v1/orders/{order['id']}/photos").json()
    assert listed["count"] == 3 and [p["state"] for p in listed["results"]] == ["accepted", "accepted", "rejected"]
    kept = listed["results"][0]
    assert kept["face"]["right"] > kept["face"]["left"] and kept["width"] > kept["face"]["right"]
    assert api.get(f"/v1/orders/{order['id']}").json()["photos"] == listed["results"]

    assert other_api.delete(f"/v1/orders/{order['id']}/photos/{kept['id']}").status_code == 404
    assert api.delete(f"/v1/orders/{order['id']}/photos/{kept['id']}").status_code == 204
    status = api.get(f"/v1/orders/{order['id']}").json()
    assert status["counts"]["photos_accepted"] == 1 and kept["id"] not in {p["id"] for p in status["photos"]}
    store = open_blob_store(CONFIG.shared.blob_url)
    assert not any(kept["id"] in key for key in store.list(f"orders/{order['id']}/"))
    assert api.delete(f"/v1/orders/{order['id']}/photos/{kept['id']}").status_code == 404
