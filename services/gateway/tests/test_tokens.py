"""Keys and tokens: personal tokens expire and can be listed and revoked, and a revoked key stops working in
every gateway process at once (two gunicorn workers and the gRPC server, each a real process)."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import grpc
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import sign_up_consumer
from headshots.partner.v1 import partner_api_pb2 as pb, partner_api_pb2_grpc as pb_grpc
from headshots_tools.live_gateway import live_gateway

REDIS_URL = "redis://127.0.0.1:6379/13"


def test_sign_in_tokens_expire_and_can_be_listed_and_revoked(db):
    client = APIClient()
    sign_up_consumer("ana@example.com", "correct horse battery")
    laptop, phone = (
        client.post(
            "/v1/auth/token", {"email": "ana@example.com", "password": "correct horse battery"}, format="json"
        ).json()["token"]
        for _ in range(2)
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {phone}"}
    listed = client.get("/v1/auth/tokens", **auth).json()["results"]
    assert [(t["kind"], t["active"], t["current"]) for t in listed] == [
        ("personal_token", True, True),
        ("personal_token", True, False),
    ]
    assert all(t["expires_at"] for t in listed) and "token" not in listed[0]

    laptop_prefix = laptop.split("_")[1]
    revoked = client.delete(f"/v1/auth/tokens/{laptop_prefix}", **auth).json()
    assert revoked["revoked_at"] and not revoked["active"]
    assert client.get("/v1/auth/tokens", HTTP_AUTHORIZATION=f"Bearer {laptop}").status_code == 401
    assert client.delete("/v1/auth/tokens/ffffffff", **auth).status_code == 404

    ApiKey.objects.filter(prefix=phone.split("_")[1]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/v1/auth/tokens", **auth)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"


def test_a_tenant_cannot_revoke_another_tenants_key(api, other_api):
    other_prefix = other_api.tenant.api_keys.get().prefix
    assert api.delete(f"/v1/auth/tokens/{other_prefix}").status_code == 404
    assert other_api.get("/v1/auth/tokens").status_code == 200


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture(params=["locmem://", REDIS_URL], ids=["per-process cache", "shared cache (redis)"])
def gateway_processes(request, tmp_path):
    """Gunicorn with two workers and the partner gRPC server, on a database of their own."""
    if request.param.startswith("redis") and not _redis_reachable():
        pytest.skip("no Redis on 127.0.0.1:6379")
    database = "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    extra = {"HEADSHOTS_CACHE_URL": request.param, "HEADSHOTS_AUTH_CACHE_S": "300"}
    with live_gateway(tmp_path, database, extra) as gateway:
        yield {"http": gateway.http, "grpc": gateway.grpc, "manage": gateway.manage}


def _rest_status(base: str, key: str) -> int:
    request = urllib.request.Request(f"{base}/v1/auth/tokens", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _grpc_code(target: str, key: str) -> grpc.StatusCode:
    with grpc.insecure_channel(target) as channel:
        try:
            pb_grpc.PartnerServiceStub(channel).GetOrder(
                pb.GetOrderRequest(name=f"orders/{uuid.uuid4()}"),
                metadata=[("authorization", f"Bearer {key}")],
                timeout=10,
            )
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def test_a_revoked_key_stops_working_in_every_process_at_once(gateway_processes):
    key = gateway_processes["manage"]("partner", "create", "revocable").strip()
    # Every process has resolved (and, where allowed, cached) the key.
    assert {_rest_status(gateway_processes["http"], key) for _ in range(12)} == {200}
    assert _grpc_code(gateway_processes["grpc"], key) == grpc.StatusCode.NOT_FOUND  # authenticated, no such order
    gateway_processes["manage"]("partner", "revoke", key)
    assert {_rest_status(gateway_processes["http"], key) for _ in range(12)} == {401}, "a worker still accepted it"
    assert _grpc_code(gateway_processes["grpc"], key) == grpc.StatusCode.UNAUTHENTICATED


_KEY_WITH_PREFIX = """
import secrets
from accounts.models import ApiKey, Tenant
from accounts.services import hash_key
tenant = Tenant.objects.create(name="bystander", kind="partner")
raw = "hs_{prefix}_" + secrets.token_urlsafe(32)
ApiKey.objects.create(tenant=tenant, prefix="{prefix}", key_hash=hash_key(raw))
print(raw)
"""


def test_revoking_a_key_leaves_another_partners_key_with_the_same_prefix_working_everywhere(gateway_processes):
    manage = gateway_processes["manage"]
    key = manage("partner", "create", "revocable").strip()
    prefix = key.split("_")[1]
    # Prefixes are 8 hex characters: another partner's key may share one (made directly, with that prefix).
    bystander = manage("shell", "-c", _KEY_WITH_PREFIX.replace("{prefix}", prefix)).split()[-1]
    for each in (key, bystander):
        assert {_rest_status(gateway_processes["http"], each) for _ in range(12)} == {200}
        assert _grpc_code(gateway_processes["grpc"], each) == grpc.StatusCode.NOT_FOUND
    manage("partner", "revoke", key)
    assert {_rest_status(gateway_processes["http"], key) for _ in range(12)} == {401}
    assert {_rest_status(gateway_processes["http"], bystander) for _ in range(12)} == {200}, "the bystander's key died"
    assert _grpc_code(gateway_processes["grpc"], bystander) == grpc.StatusCode.NOT_FOUND
