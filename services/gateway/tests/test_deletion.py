"""Deletion is final: a tombstone refuses every later write, the sweep removes what a killed writer left, and the
receipt lists every in-memory copy's purge as its owner reports it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gateway.blobs import blob_store
from headshots.v1 import events_pb2
from headshots_common import blob_layout, bus
from headshots_common.blobstore import OrderDeleted
from orders.models import Order
from orders.services.pipeline_events import apply_pipeline_event
from orders.services.retention import repurge_deleted
from outbox.services import consume_once


def _purge_report(order_id: str, purged_by: str, entries: int):
    return bus.new_event(order_id, caches_purged=events_pb2.CachesPurged(purged_by=purged_by, entries=entries))


def test_after_delete_no_service_can_write_under_the_order(api, order):
    assert api.delete(f"/v1/orders/{order['id']}").status_code == 200
    assert blob_store().is_deleted(order["id"])
    for key in (
        blob_layout.checkpoint_key(order["id"], 1),
        blob_layout.headshot_key(order["id"], "pack", "tech-grey", 0),
    ):
        with pytest.raises(OrderDeleted):
            blob_store().put(key, b"late")
    assert blob_store().list(blob_layout.order_prefix(order["id"])) == []


def test_the_sweep_removes_what_a_killed_writer_left_behind_for_a_while(api, order, other_api):
    api.delete(f"/v1/orders/{order['id']}")
    # A writer that died between its write and its tombstone check: the blob is there, unguarded.
    leftover = blob_layout.headshot_key(order["id"], "pack", "tech-grey", 3)
    blob_store()._write(leftover, b"png")
    assert repurge_deleted() == 1 and not blob_store().exists(leftover)

    old = other_api.post("/v1/orders", {"package": "trial", "styles": ["tech-grey"]}, format="json").json()
    other_api.delete(f"/v1/orders/{old['id']}")
    Order.objects.filter(pk=old["id"]).update(deleted_at=timezone.now() - timedelta(days=1))
    blob_store()._write(blob_layout.photo_key(old["id"], "p"), b"jpeg")
    assert repurge_deleted() == 0, "the window is bounded: old deletions are not listed every minute forever"


def test_the_receipt_lists_each_replicas_purge_once(api, order):
    receipt = api.delete(f"/v1/orders/{order['id']}").json()
    assert receipt["cache_purges"] == []
    for purged_by, entries in (("renderer/r1", 3), ("renderer/r2", 0), ("renderer/r1", 3)):
        consume_once(_purge_report(order["id"], purged_by, entries), apply_pipeline_event)
    again = api.delete(f"/v1/orders/{order['id']}").json()
    assert again["id"] == receipt["id"]
    assert [(p["purged_by"], p["entries"]) for p in again["cache_purges"]] == [("renderer/r1", 3), ("renderer/r2", 0)]


def test_a_photo_upload_racing_the_deletion_is_refused_and_leaves_nothing(api, order, person_photos, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from orders.services import photos

    real_check = photos.check_photo

    def check_then_delete(*args, **kwargs):  # the order is deleted while its photo is being checked
        result = real_check(*args, **kwargs)
        blob_store().mark_deleted(order["id"], "user_request")
        return result

    monkeypatch.setattr(photos, "check_photo", check_then_delete)
    upload = SimpleUploadedFile(person_photos[0].name, person_photos[0].read_bytes())
    response = api.post(f"/v1/orders/{order['id']}/photos", {"files": [upload]}, format="multipart")
    assert response.status_code == 409 and response.json()["error"]["code"] == "order_not_open"
    assert blob_store().list(blob_layout.order_prefix(order["id"])) == []
