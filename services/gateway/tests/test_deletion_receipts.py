"""A deletion receipt counts what is left honestly: blobs by listing the store (not from the purge's own deletes),
and in-memory copies by the reports of every holder that was running when the order was deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.blobs import blob_store
from headshots.v1 import events_pb2
from headshots_common import blob_layout, bus
from orders.services.pipeline_events import apply_pipeline_event
from orders.services.retention import repurge_deleted
from outbox.services import consume_once


def _event(order_id: str, at: datetime | None = None, **payload) -> events_pb2.Event:
    event = bus.new_event(order_id, **payload)
    if at is not None:
        stamp = Timestamp()
        stamp.FromDatetime(at)
        event.occur_time.CopyFrom(stamp)
    return event


def _present(holder: str, at: datetime | None = None, stopping: bool = False) -> None:
    presence = events_pb2.CacheHolderPresent(holder=holder, interval_s=30, stopping=stopping)
    consume_once(_event("", at, cache_holder_present=presence), apply_pipeline_event)


def _purged(order_id: str, holder: str, entries: int, kept: int = 0) -> None:
    report = events_pb2.CachesPurged(purged_by=holder, entries=entries, entries_kept=kept)
    consume_once(_event(order_id, caches_purged=report), apply_pipeline_event)


def test_a_blob_the_purge_left_shows_until_the_sweep_removes_it(api, order):
    blob_store().put(blob_layout.photo_key(order["id"], "p1"), b"jpeg")
    receipt = api.delete(f"/v1/orders/{order['id']}").json()
    assert receipt["blobs_deleted"] == 1 and receipt["remaining_blobs"] == 0
    # A writer that died between its write and its tombstone check: the blob is there, after the purge.
    blob_store()._write(blob_layout.headshot_key(order["id"], "pack", "tech-grey", 3), b"png")

    again = api.delete(f"/v1/orders/{order['id']}").json()
    assert again["id"] == receipt["id"]
    assert again["remaining_blobs"] == 1 and not again["complete"], "counted in the store, not by the purge"
    assert again["checked_at"] > receipt["checked_at"]

    assert repurge_deleted() == 1
    swept = api.delete(f"/v1/orders/{order['id']}").json()
    assert swept["remaining_blobs"] == 0 and swept["complete"]


def test_holders_that_have_not_reported_or_kept_something_keep_the_receipt_open(api, order):
    now = timezone.now()
    _present("renderer/r1")
    _present("renderer/r2")
    _present("renderer/gone", at=now - timedelta(minutes=5))  # silent for 10 of its intervals: not running
    _present("renderer/stopped", stopping=True)  # stopped cleanly: it holds nothing
    receipt = api.delete(f"/v1/orders/{order['id']}").json()
    assert receipt["cache_purges_pending"] == ["renderer/r1", "renderer/r2"] and not receipt["complete"]

    _purged(order["id"], "renderer/r1", entries=3)
    _purged(order["id"], "renderer/r2", entries=2, kept=1)  # it could not drop everything
    receipt = api.delete(f"/v1/orders/{order['id']}").json()
    assert receipt["cache_purges_pending"] == [] and not receipt["complete"]
    assert [(p["purged_by"], p["entries"], p["entries_kept"]) for p in receipt["cache_purges"]] == [
        ("renderer/r1", 3, 0),
        ("renderer/r2", 2, 1),
    ]

    _purged(order["id"], "renderer/r2", entries=3)  # its sweep dropped the rest: 3 in all so far, none kept
    receipt = api.delete(f"/v1/orders/{order['id']}").json()
    assert [(p["purged_by"], p["entries"], p["entries_kept"]) for p in receipt["cache_purges"]] == [
        ("renderer/r1", 3, 0),
        ("renderer/r2", 3, 0),
    ]
    assert receipt["complete"] and receipt["remaining_blobs"] == 0


def test_a_holder_that_starts_after_the_deletion_is_not_waited_for(api, order):
    _present("renderer/r1", at=datetime.now(UTC))
    api.delete(f"/v1/orders/{order['id']}")
    _present("renderer/late")
    _purged(order["id"], "renderer/r1", entries=0)
    receipt = api.delete(f"/v1/orders/{order['id']}").json()
    assert receipt["cache_purges_pending"] == [] and receipt["complete"]


def test_grpc_shows_the_same_receipt(partner, api):
    from headshots.partner.v1 import partner_api_pb2 as pb

    stub, auth = partner.stub, partner.auth
    order = stub.CreateOrder(
        pb.CreateOrderRequest(order=pb.Order(package="trial", style_ids=["tech-grey"])), metadata=auth
    )
    _present("renderer/r1")
    receipt = stub.DeleteOrder(pb.DeleteOrderRequest(name=order.name), metadata=auth)
    assert list(receipt.cache_purges_pending) == ["renderer/r1"] and not receipt.complete
    blob_store()._write(blob_layout.photo_key(order.uid, "late"), b"jpeg")
    _purged(order.uid, "renderer/r1", entries=1)
    receipt = stub.DeleteOrder(pb.DeleteOrderRequest(name=order.name), metadata=auth)
    assert (receipt.remaining_blobs, list(receipt.cache_purges_pending), receipt.complete) == (1, [], False)
    assert receipt.HasField("check_time") and receipt.cache_purges[0].entries == 1
    repurge_deleted()
    receipt = stub.DeleteOrder(pb.DeleteOrderRequest(name=order.name), metadata=auth)
    assert receipt.remaining_blobs == 0 and receipt.complete
