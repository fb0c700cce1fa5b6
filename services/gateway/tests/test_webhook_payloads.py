"""A partner receives every webhook event type, each as its published JSON Schema describes it.

Two orders go the whole way through the gateway's own code (photos checked, training started and progressing,
completed, more headshots rendered, deleted; the other fails), the gateway sends their webhooks to a partner's
endpoint, and the endpoint (headshots_tools.webhook_endpoint) checks every body against
docs/partners/webhooks/<type>.schema.json as it arrives: closing it fails on any that does not validate.
"""

from __future__ import annotations

import dataclasses
import json

from django.core.files.uploadedfile import SimpleUploadedFile

from headshots.v1 import common_pb2, events_pb2
from headshots_common import bus
from headshots_tools.webhook_endpoint import WebhookEndpoint
from orders.services.pipeline_events import apply_pipeline_event
from outbox.services import consume_once
from webhooks import services as webhooks


def _event(order_id: str, **payload) -> None:
    consume_once(bus.new_event(order_id, **payload), apply_pipeline_event)


def test_every_event_type_a_partner_receives_validates_against_its_schema(api, person_photos, monkeypatch):
    # Loopback endpoints are reachable here (an operator's allowance); retries come due at once.
    settings = {"webhook_allowed_networks": ("127.0.0.0/8",), "webhook_base_delay_s": 0.0}
    monkeypatch.setattr(webhooks, "CONFIG", dataclasses.replace(webhooks.CONFIG, **settings))
    with WebhookEndpoint() as endpoint:
        body = {"package": "trial", "styles": ["corporate-navy"], "webhook_url": endpoint.url}
        order_id = api.post("/v1/orders", body, format="json").json()["id"]
        files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in person_photos]
        assert api.post(f"/v1/orders/{order_id}/photos", {"files": files}, format="multipart").status_code == 201
        assert api.post(f"/v1/orders/{order_id}/submit").status_code == 202
        _event(order_id, training_progress=events_pb2.TrainingProgress(step=30, total_steps=60, eta_seconds=12))
        _event(order_id, training_completed=events_pb2.TrainingCompleted(adapter_key="k"))
        pack = [
            common_pb2.Headshot(key=f"orders/{order_id}/headshots/pack/corporate-navy-{i:03d}.png", seed=i)
            for i in range(2)
        ]
        _event(order_id, render_completed=events_pb2.RenderCompleted(headshots=pack))
        more = api.post(f"/v1/orders/{order_id}/renders", {"style": "tech-grey", "count": 1}, format="json").json()
        extra = common_pb2.Headshot(key=f"orders/{order_id}/headshots/{more['id']}/tech-grey-000.png", seed=9)
        _event(order_id, render_completed=events_pb2.RenderCompleted(headshots=[extra], render_id=more["id"]))
        assert api.delete(f"/v1/orders/{order_id}").status_code == 200

        failing_id = api.post("/v1/orders", body, format="json").json()["id"]
        _event(failing_id, training_failed=events_pb2.TrainingFailed(reason=events_pb2.FAILURE_REASON_OUT_OF_MEMORY))

        while webhooks.deliver_due():
            pass
    received = [json.loads(request.body)["type"] for request in endpoint.requests]
    assert set(received) == set(webhooks.EVENT_TYPES), received
    assert endpoint.schema_problems == []
