"""Fixtures of the gateway's tests: API clients of two tenants, an order, a partner's gRPC server."""

import io
from dataclasses import dataclass

import grpc
import pytest
from django.core.cache import cache
from PIL import Image
from rest_framework.test import APIClient

from accounts.services import create_tenant_with_key
from headshots.partner.v1 import partner_api_pb2_grpc as pb_grpc
from headshots_tools.ports import free_port
from partner_grpc.server import build_server


@pytest.fixture(autouse=True)
def photo_checker(request, monkeypatch):
    """The photo checker's own code (`checker.services.check`), run in this process when an upload waits for its
    verdicts: these tests run in one process, most inside a transaction no checker process could see. Tests marked
    `checker_processes` have real checker processes instead (or none, to see photos stay `checking`)."""
    if request.node.get_closest_marker("checker_processes"):
        return
    from checker import services as checker
    from headshots.v1 import events_pb2
    from orders.services import photos

    wait = photos.await_verdicts

    def check_then_wait(outcomes, timeout_s):
        for outcome in outcomes:
            if outcome.photo is not None:
                received = events_pb2.PhotoReceived(
                    photo_id=str(outcome.photo.id), quarantine_key=outcome.photo.quarantine_key
                )
                checker.check(str(outcome.photo.order_id), received)
        return wait(outcomes, timeout_s)

    monkeypatch.setattr(photos, "await_verdicts", check_then_wait)


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Rate-limit and sign-in counters start at zero in every test (the tests share one process's cache)."""
    cache.clear()


def _client(name):
    tenant, key = create_tenant_with_key(name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    client.tenant = tenant
    return client


@pytest.fixture
def api(db):
    return _client("acme")


@pytest.fixture
def other_api(db):
    return _client("globex")


@pytest.fixture
def order(api):
    response = api.post("/v1/orders", {"package": "trial", "styles": ["corporate-navy", "tech-grey"]}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture(scope="session")
def two_faces_jpeg(person_photos, other_person_photo) -> bytes:
    """Two different people side by side in one photo."""
    left, right = Image.open(person_photos[0]).convert("RGB"), Image.open(other_person_photo).convert("RGB")
    right = right.resize((round(right.width * left.height / right.height), left.height))
    canvas = Image.new("RGB", (left.width + right.width, left.height), "white")
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width, 0))
    out = io.BytesIO()
    canvas.save(out, format="JPEG")
    return out.getvalue()


@dataclass
class Partner:
    """A partner with a quota of 2 orders, on a real partner API server: its stub, metadata and channel."""

    stub: pb_grpc.PartnerServiceStub
    auth: list[tuple[str, str]]
    channel: grpc.Channel
    target: str


@pytest.fixture
def partner(transactional_db):
    port = free_port()
    server = build_server(port)
    server.start()
    _, key = create_tenant_with_key("grpc-partner", monthly_order_quota=2)
    target = f"127.0.0.1:{port}"
    channel = grpc.insecure_channel(target)
    yield Partner(pb_grpc.PartnerServiceStub(channel), [("authorization", f"Bearer {key}")], channel, target)
    channel.close()
    server.stop(grace=None)


@pytest.fixture(scope="session", autouse=True)
def no_lingering_database_sessions(django_db_setup, django_db_blocker):
    """In-process servers' threads (gRPC, webhook senders) keep their connections: close them before the test
    database is dropped, as the end of their process would."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
