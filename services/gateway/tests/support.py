"""Helpers the gateway's test modules share (test modules never import each other)."""

from __future__ import annotations

import io

import grpc
from django.contrib.auth.hashers import MD5PasswordHasher
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from PIL import Image

from gateway.blobs import blob_store
from headshots.v1 import common_pb2, events_pb2
from headshots_common import blob_layout, bus
from orders.models import Order
from orders.services.pipeline_events import apply_pipeline_event
from outbox.services import consume_once


def complete_order(order_id, n: int = 2, scores=None, quality=None) -> None:
    """Play the trainer and renderer: the order gets `n` stored headshots and an adapter key, then completes.

    `scores`: (likeness, quality) per headshot; `quality`: the render's QualityReport."""
    order_id = str(order_id)
    headshots = []
    for i in range(n):
        key = blob_layout.headshot_key(order_id, blob_layout.PACK_RENDER_ID, "corporate-navy", i)
        out = io.BytesIO()
        Image.new("RGB", (64, 64), (i * 40, 10, 10)).save(out, format="PNG")
        blob_store().put(key, out.getvalue())
        likeness, photo_quality = scores[i] if scores else (0.0, 0.0)
        headshots.append(
            common_pb2.Headshot(
                key=key,
                style_id="corporate-navy",
                seed=i,
                width=64,
                height=64,
                likeness_score=likeness,
                quality_score=photo_quality,
                gated=quality is not None and quality.gated,
            )
        )
    Order.objects.filter(pk=order_id).update(
        state=Order.State.RENDERING, adapter_key=blob_layout.adapter_key(order_id, 1)
    )
    consume_once(
        bus.new_event(order_id, render_completed=events_pb2.RenderCompleted(headshots=headshots, quality=quality)),
        apply_pipeline_event,
    )


def grpc_error_details(error: grpc.RpcError) -> dict:
    """The google.rpc details of a failed call, by type name (ErrorInfo, BadRequest, RetryInfo)."""
    status = rpc_status.from_call(error)
    found = {}
    for detail in status.details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.RetryInfo):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found[kind.__name__] = message
    return found


class CountingHasher(MD5PasswordHasher):
    """A fast real password hasher that counts what it hashes: tests see whether a refused try cost a hash."""

    algorithm = "counted_md5"
    count = 0

    def encode(self, password, salt):
        CountingHasher.count += 1
        return super().encode(password, salt)


def database_url() -> str:
    """The test database as a DATABASE_URL, for processes a test starts against it."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"
