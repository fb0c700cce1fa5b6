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
        blob_layout.checkpoint_key(order["id"], 1, 4),
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


def test_an_order_deleted_while_its_photo_is_checked_keeps_nothing_of_it(api, order, person_photos, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from checker import services as checker
    from orders.models import Photo
    from orders.services import retention

    real_check = checker.check_photo

    def check_then_delete(*args, **kwargs):  # the order is deleted while the checker checks its photo
        result = real_check(*args, **kwargs)
        retention.delete_order(Order.objects.get(pk=order["id"]))
        return result

    monkeypatch.setattr(checker, "check_photo", check_then_delete)
    upload = SimpleUploadedFile(person_photos[0].name, person_photos[0].read_bytes())
    response = api.post(f"/v1/orders/{order['id']}/photos", {"files": [upload]}, format="multipart")
    [result] = response.json()["results"]
    assert (result["accepted"], result["reason_code"]) == (False, "photo_removed")
    assert not Photo.objects.filter(order_id=order["id"]).exists()
    assert blob_store().list(blob_layout.order_prefix(order["id"])) == []


def test_the_retention_command_sweeps_what_the_worker_sweeps(api, order):
    """`manage.py purge_expired` (the chart's CronJob) is the worker's retention sweep, run once."""
    from django.core.management import call_command

    api.delete(f"/v1/orders/{order['id']}")
    leftover = blob_layout.headshot_key(order["id"], "pack", "tech-grey", 3)
    blob_store()._write(leftover, b"png")  # a writer killed between its write and its tombstone check
    call_command("purge_expired")
    assert not blob_store().exists(leftover)
