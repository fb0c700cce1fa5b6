"""Keys and tokens: personal tokens expire and can be listed and revoked, and a revoked key stops working in
every gateway process at once (two gunicorn workers and the gRPC server, each a real process)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from headshots.partner.v1 import partner_api_pb2 as pb, partner_api_pb2_grpc as pb_grpc
from headshots_tools.ports import free_port

GATEWAY_DIR = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/13"


def test_sign_in_tokens_expire_and_can_be_listed_and_revoked(db):
    client = APIClient()
    signup = client.post(
        "/v1/auth/signup", {"email": "ana@example.com", "password": "correct horse battery"}, format="json"
    ).json()
    phone = client.post(
        "/v1/auth/token", {"email": "ana@example.com", "password": "correct horse battery"}, format="json"
    ).json()["token"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {phone}"}
    listed = client.get("/v1/auth/tokens", **auth).json()["results"]
    assert [(t["kind"], t["active"], t["current"]) for t in listed] == [
        ("personal_token", True, True),
        ("personal_token", True, False),
    ]
    assert all(t["expires_at"] for t in listed) and "token" not in listed[0]

    laptop_prefix = signup["token"].split("_")[1]
    revoked = client.delete(f"/v1/auth/tokens/{laptop_prefix}", **auth).json()
    assert revoked["revoked_at"] and not revoked["active"]
    assert client.get("/v1/auth/tokens", HTTP_AUTHORIZATION=f"Bearer {signup['token']}").status_code == 401
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
    database = os.environ.get("DATABASE_URL", "")
    created = None
    if database.startswith(("postgres://", "postgresql://")):
        import psycopg

        created = f"headshots_tokens_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{created}"')
        database = database.rsplit("/", 1)[0] + f"/{created}"
    else:
        database = f"sqlite:///{tmp_path / 'gateway.sqlite3'}"
    http_port, grpc_port = free_port(), free_port()
    env = dict(
        os.environ,
        DATABASE_URL=database,
        HEADSHOTS_VAR_DIR=str(tmp_path),
        HEADSHOTS_CACHE_URL=request.param,
        HEADSHOTS_AUTH_CACHE_S="300",
        PYTHONUNBUFFERED="1",
    )

    def manage(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=GATEWAY_DIR, env=env, check=True, capture_output=True, text=True
        ).stdout

    manage("migrate", "--noinput")
    with open(tmp_path / "gateway.log", "ab") as log:  # each child keeps its own copy
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "gateway.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{http_port}",
                    "--workers",
                    "2",
                ],
                cwd=GATEWAY_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            ),
            subprocess.Popen(
                [sys.executable, "manage.py", "run_partner_grpc", "--port", str(grpc_port)],
                cwd=GATEWAY_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            ),
        ]
    try:
        deadline = time.monotonic() + 60
        while not _serving(http_port, grpc_port):
            assert all(p.poll() is None for p in processes), (tmp_path / "gateway.log").read_text()
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.2)
        yield {"http": f"http://127.0.0.1:{http_port}", "grpc": f"127.0.0.1:{grpc_port}", "manage": manage}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        if created:
            import psycopg

            with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')


def _serving(http_port: int, grpc_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=1):
            pass
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=1)
        return True
    except Exception:
        return False


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
