"""Photos the checker has not decided, in one process with no checker running: back-pressure (while the checker is
behind its objective, new uploads are refused with 429 and Retry-After; reads never are), the answer once the wait
is over, the sweep of uploads never completed, and a photo whose checks keep failing."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from orders.models import Photo
from orders.services import photos

pytestmark = pytest.mark.checker_processes


@pytest.fixture
def backlog_bounds(monkeypatch):
    def set_bounds(max_age_s: float = 20.0, max_depth: int = 2000) -> None:
        bounded = dataclasses.replace(
            photos.CONFIG, check_backlog_max_age_s=max_age_s, check_backlog_max_depth=max_depth
        )
        monkeypatch.setattr(photos, "CONFIG", bounded)
        monkeypatch.setattr(photos, "_backlog_checked_at", 0.0)  # read the backlog again now

    return set_bounds


def _upload(api, order_id, photo, **headers):
    upload = SimpleUploadedFile(photo.name, photo.read_bytes())
    return api.post(f"/v1/orders/{order_id}/photos", {"files": [upload]}, format="multipart", **headers)


def test_an_old_backlog_refuses_uploads_with_retry_after_but_never_reads(api, order, person_photos, backlog_bounds):
    backlog_bounds(max_age_s=5)
    first = _upload(api, order["id"], person_photos[0], HTTP_PREFER="respond-async")
    assert first.status_code == 202 and first.json()["results"][0]["state"] == "checking"
    Photo.objects.filter(order_id=order["id"]).update(received_at=timezone.now() - timedelta(seconds=6))
    backlog_bounds(max_age_s=5)

    refused = _upload(api, order["id"], person_photos[1], HTTP_PREFER="respond-async")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == "checks_backlogged"
    slots = api.post(f"/v1/orders/{order['id']}/uploads", {"files": [{"filename": "a.jpg", "size": 10}]}, format="json")
    assert slots.status_code == 429
    assert Photo.objects.filter(order_id=order["id"]).count() == 1, "nothing of the refused uploads is kept"
    for read in (f"/v1/orders/{order['id']}", f"/v1/orders/{order['id']}/photos", "/v1/orders"):
        assert api.get(read).status_code == 200


def test_a_deep_backlog_refuses_uploads(api, order, person_photos, backlog_bounds):
    backlog_bounds(max_depth=1)
    for photo in person_photos[:2]:
        assert _upload(api, order["id"], photo, HTTP_PREFER="respond-async").status_code == 202
    backlog_bounds(max_depth=1)
    assert _upload(api, order["id"], person_photos[2]).status_code == 429


def test_without_a_checker_an_upload_answers_checking_once_its_wait_is_over(api, order, person_photos, monkeypatch):
    monkeypatch.setattr(photos, "CONFIG", dataclasses.replace(photos.CONFIG, verdict_wait_s=0.3))
    from orders import views

    monkeypatch.setattr(views, "CONFIG", dataclasses.replace(views.CONFIG, verdict_wait_s=0.3))
    response = _upload(api, order["id"], person_photos[0])
    assert response.status_code == 201, "the photo is kept; its verdict comes later"
    [result] = response.json()["results"]
    assert (result["accepted"], result["reason_code"], result["state"]) == (False, "checking", "checking")
    assert api.get(result["status_url"]).json()["state"] == "checking"
    submit = api.post(f"/v1/orders/{order['id']}/submit")
    assert submit.status_code == 409 and submit.json()["error"]["code"] == "photos_being_checked"


def test_the_sweep_clears_uploads_never_completed_and_their_bytes(api, order, person_photos):
    from gateway.blobs import blob_store
    from headshots_common import blob_layout
    from orders.models import Order
    from orders.services import retention

    stored = Order.objects.get(pk=order["id"])
    slots = api.post(
        f"/v1/orders/{order['id']}/uploads", {"files": [{"filename": "a.jpg", "size": 10}] * 2}, format="json"
    ).json()["uploads"]
    assert [s["reason_code"] for s in slots] == [None, None]
    # One slot got its bytes, the other a writer that died mid-write; neither was completed.
    blob_store().put(blob_layout.quarantine_key(order["id"], slots[0]["photo_id"]), b"raw bytes, EXIF and all")
    partial = blob_store().open_writer(blob_layout.quarantine_key(order["id"], slots[1]["photo_id"]), 100)
    partial.write(b"half a photo")
    kept = _upload(api, order["id"], person_photos[0], HTTP_PREFER="respond-async").json()["results"][0]

    retention.sweep(now=timezone.now())  # not yet: the slots' time has not run out
    assert Photo.objects.filter(order=stored).count() == 3

    later = timezone.now() + timedelta(seconds=photos.CONFIG.upload_url_ttl_s * 2 + 1)
    retention.sweep(now=later)
    assert [str(p.id) for p in Photo.objects.filter(order=stored)] == [kept["photo_id"]]
    left = blob_store().modified_before(blob_layout.order_prefix(order["id"]), later.timestamp())
    assert left == [blob_layout.quarantine_key(order["id"], kept["photo_id"])], (
        "the photo still checking keeps its bytes"
    )
    assert [p["id"] for p in api.get(f"/v1/orders/{order['id']}").json()["photos"]] == [kept["photo_id"]]


def test_a_photo_whose_check_keeps_failing_gets_a_verdict_and_frees_its_partition(
    api, order, person_photos, monkeypatch
):
    from checker import loop, services as checker
    from headshots.v1 import events_pb2
    from headshots_common import bus

    response = _upload(api, order["id"], person_photos[0], HTTP_PREFER="respond-async").json()["results"][0]
    photo = Photo.objects.get(pk=response["photo_id"])

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the checks")

    monkeypatch.setattr(checker, "check_photo", broken)
    received = events_pb2.PhotoReceived(photo_id=str(photo.id), quarantine_key=photo.quarantine_key)
    raw = bus.new_event(order["id"], photo_received=received).SerializeToString()
    handled = [loop._check(raw) for _ in range(loop.MAX_ATTEMPTS)]
    assert handled == [False] * (loop.MAX_ATTEMPTS - 1) + [True], "read again a few times, then given up"
    photo.refresh_from_db()
    assert (photo.state, photo.reason_code) == ("rejected", "check_failed")
    from gateway.blobs import blob_store

    assert not blob_store().exists(photo.quarantine_key)
