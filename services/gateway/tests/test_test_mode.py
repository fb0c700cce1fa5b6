"""Test-mode keys (`partner create NAME --test`): a test partner's order goes through the real API, state machine and
deletion, with placeholder headshots from the gateway worker's pipeline in a few steps, and nothing for the trainer
or renderer; test and live partners never see each other's orders, and count in metrics of their own."""

from __future__ import annotations

import base64
import hashlib
import io

from django.core.management import call_command
from django.utils import timezone
from PIL import Image
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from accounts.models import ApiKey, Tenant
from accounts.services import create_tenant_with_key, issue_api_key
from gateway.blobs import blob_store
from headshots_common import blob_layout, bus
from headshots_common.styles import STYLES
from orders.services import creation, test_mode
from outbox.models import OutboxMessage
from partner_grpc import messages

from .test_orders_api import photo_file, upload


def _client(name: str, test: bool) -> APIClient:
    tenant, key = create_tenant_with_key(name, test_mode=test)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    client.key = key
    return client


def _created(mode: str) -> float:
    name = "gateway_test_orders_created_total" if mode == "test" else "gateway_orders_created_total"
    return REGISTRY.get_sample_value(name) or 0.0


def _finished(mode: str) -> float:
    name = "gateway_test_orders_finished_total" if mode == "test" else "gateway_orders_finished_total"
    return REGISTRY.get_sample_value(name, {"state": "completed"}) or 0.0


def test_partner_create_test_prints_a_key_that_says_it_is_a_test_key(db):
    out, err = io.StringIO(), io.StringIO()
    call_command("partner", "create", "sandbox", "--test", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert key.startswith("hs_test_") and "test-mode partner" in err.getvalue()
    assert Tenant.objects.get(name="sandbox").test_mode
    call_command("partner", "create", "production", stdout=(live := io.StringIO()), stderr=io.StringIO())
    assert not live.getvalue().startswith("hs_test_") and not Tenant.objects.get(name="production").test_mode
    listing = io.StringIO()
    call_command("partner", "list", stdout=listing)
    assert [line.endswith("(test mode)") for line in listing.getvalue().splitlines()] == [True, False]
    call_command("partner", "revoke", key, stdout=(revoked := io.StringIO()))  # a whole test key is recognised
    assert "revoked key" in revoked.getvalue()


def test_a_test_order_completes_with_placeholders_and_nothing_reaches_the_trainer(
    db, person_photos, django_capture_on_commit_callbacks
):
    sandbox, live = _client("sandbox", test=True), _client("acme", test=False)
    test_before, live_before = _created("test"), _created("live")
    with django_capture_on_commit_callbacks(execute=True):  # the counters count once the order is committed
        body = {"package": "trial", "styles": ["corporate-navy", "tech-grey"]}
        order = sandbox.post("/v1/orders", body, format="json")
        live_order = live.post("/v1/orders", {"package": "trial", "styles": ["tech-grey"]}, format="json").json()
    assert order.status_code == 201, order.content
    order_id = order.json()["id"]
    assert (_created("test") - test_before, _created("live") - live_before) == (1, 1)  # counted apart

    assert upload(sandbox, order_id, *[photo_file(p) for p in person_photos]).status_code == 201
    assert sandbox.post(f"/v1/orders/{order_id}/submit").json()["state"] == "queued"
    states, finished = [], (_finished("test"), _finished("live"))
    for _ in range(10):  # a step per turn of the worker's loop
        with django_capture_on_commit_callbacks(execute=True):
            test_mode.advance()
        states.append(sandbox.get(f"/v1/orders/{order_id}").json()["state"])
        if states[-1] == "completed":
            break
    assert states == ["training"] * 4 + ["rendering", "completed"], states
    assert (_finished("test") - finished[0], _finished("live") - finished[1]) == (1, 0)
    headshots = sandbox.get(f"/v1/orders/{order_id}/headshots").json()
    assert headshots["count"] == 4  # trial: 4 headshots over the 2 styles
    first = headshots["results"][0]
    png = sandbox.get(f"/v1/orders/{order_id}/headshots/{first['id']}.png")
    image = Image.open(io.BytesIO(png.content))
    assert image.size == (512, 512)
    assert image.getpixel((5, 5)) == Image.new("RGB", (1, 1), STYLES[first["style_id"]].swatch).getpixel((0, 0))

    # A download resumes where it broke off, and names the whole file's SHA-256.
    assert png["Repr-Digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(png.content).digest()).decode()}:"
    rest = sandbox.get(png.request["PATH_INFO"], HTTP_RANGE="bytes=100-", HTTP_IF_RANGE=png["ETag"])
    assert rest.status_code == 206 and rest.content == png.content[100:]
    assert rest["Content-Range"] == f"bytes 100-{len(png.content) - 1}/{len(png.content)}"
    assert sandbox.get(png.request["PATH_INFO"], HTTP_RANGE="bytes=100-", HTTP_IF_RANGE='"other"').status_code == 200
    assert sandbox.get(png.request["PATH_INFO"], HTTP_RANGE=f"bytes={len(png.content)}-").status_code == 416

    # More in a style: from the placeholder pipeline too.
    render = sandbox.post(f"/v1/orders/{order_id}/renders", {"style": "tech-grey", "count": 3}, format="json")
    assert render.status_code == 202, render.content
    test_mode.advance()
    assert sandbox.get(f"/v1/orders/{order_id}/headshots").json()["count"] == 7

    # Neither mode sees the other's orders.
    assert live.get(f"/v1/orders/{order_id}").status_code == 404
    assert sandbox.get(f"/v1/orders/{live_order['id']}").status_code == 404
    assert [o["id"] for o in sandbox.get("/v1/orders").json()["results"]] == [order_id]
    assert [o["id"] for o in live.get("/v1/orders").json()["results"]] == [live_order["id"]]

    receipt = sandbox.delete(f"/v1/orders/{order_id}")
    assert receipt.status_code == 200, receipt.content
    assert receipt.json()["headshots_deleted"] == 7 and receipt.json()["complete"] is True
    # Only the photo checker heard of the order: the trainer and renderer's topic carried nothing of it.
    assert not OutboxMessage.objects.filter(topic=bus.ORDERS_TOPIC, key=order_id).exists()
    assert OutboxMessage.objects.filter(topic=bus.PHOTOS_TOPIC).exists()


def test_a_team_orders_placeholders_stand_on_the_teams_brand_backdrop(db):
    # A partner testing a team's brand look sees its backdrop colour, not the catalogue style's swatch.
    tenant, _ = create_tenant_with_key("sandbox", test_mode=True)
    order = creation.create_order(
        tenant, package="trial", style_ids=["corporate-navy"], render_look={"backdrop_hex": "#0a66c2"}
    )
    test_mode._render(order, blob_layout.PACK_RENDER_ID, ["corporate-navy"], 1, 0)
    (key,) = blob_store().list(blob_layout.order_prefix(str(order.id)))
    assert Image.open(io.BytesIO(blob_store().get(key))).getpixel((5, 5)) == (0x0A, 0x66, 0xC2)


def test_every_order_says_whether_it_is_a_test_order_and_a_test_teams_members_are_counted_as_test(
    db, person_photos, django_capture_on_commit_callbacks
):
    """A partner's dashboard tells test orders from live ones by the order itself, over REST and gRPC; a member's
    order in a test-mode partner's team is a test order, counted with the test orders, never the live ones."""
    sandbox, live = _client("sandbox", test=True), _client("acme", test=False)
    team = sandbox.post("/v1/teams", {"name": "Initech", "seats": 2}, format="json").json()
    look = {"style": "corporate-navy", "backdrop_hex": "#0A66C2"}
    assert sandbox.put(f"/v1/teams/{team['id']}/look", look, format="json").status_code == 200
    token = sandbox.post(f"/v1/teams/{team['id']}/links", {"max_uses": 2}, format="json").json()["token"]
    member = Tenant.objects.create(
        kind=Tenant.Kind.CONSUMER, name="Bob", email="bob@initech.example", email_verified_at=timezone.now()
    )
    person = APIClient()
    person.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_api_key(member, ApiKey.Kind.PERSONAL_TOKEN)}")
    assert person.post("/v1/teams/join", {"token": token}, format="json").status_code == 201

    created = _created("test"), _created("live")
    with django_capture_on_commit_callbacks(execute=True):
        test_order = sandbox.post("/v1/orders", {"package": "trial", "styles": ["tech-grey"]}, format="json").json()
        live_order = live.post("/v1/orders", {"package": "trial", "styles": ["tech-grey"]}, format="json").json()
        member_order = person.post(f"/v1/teams/{team['id']}/order").json()
    assert (test_order["test_mode"], live_order["test_mode"], member_order["test_mode"]) == (True, False, True)
    assert (_created("test") - created[0], _created("live") - created[1]) == (2, 1)
    assert live.get("/v1/orders").json()["results"][0]["test_mode"] is False
    assert messages.order_message(sandbox.get(f"/v1/orders/{test_order['id']}").json()).test_mode
    assert not messages.order_message(live.get(f"/v1/orders/{live_order['id']}").json()).test_mode

    # The member's order goes through the placeholder pipeline and finishes as a test order.
    assert upload(person, member_order["id"], *[photo_file(p) for p in person_photos]).status_code == 201
    assert person.post(f"/v1/orders/{member_order['id']}/submit").json()["state"] == "queued"
    finished = _finished("test"), _finished("live")
    for _ in range(10):
        with django_capture_on_commit_callbacks(execute=True):
            test_mode.advance()
    assert person.get(f"/v1/orders/{member_order['id']}").json()["state"] == "completed"
    assert (_finished("test") - finished[0], _finished("live") - finished[1]) == (1, 0)
    assert not OutboxMessage.objects.filter(topic=bus.ORDERS_TOPIC, key=member_order["id"]).exists()
