"""One real order through every arrow of the architecture, on real processes.

REST -> gateway (database + outbox) -> relay -> Kafka (Tansu) -> trainer (LoRA, diffusers + peft)
-> Kafka -> renderer (Ray Serve, gRPC) -> Kafka -> gateway -> headshots over REST.

Shaped like the cluster: blobs in an S3 bucket (an S3-compatible server on 127.0.0.1), and in CI
the database is PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import io
import socket
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from headshots.partner.v1 import partner_api_pb2, partner_api_pb2_grpc
from headshots.v1 import (
    renderer_service_pb2 as rpb,
    renderer_service_pb2_grpc as rpb_grpc,
    trainer_service_pb2 as tpb,
    trainer_service_pb2_grpc as tpb_grpc,
)
from headshots_common import blob_layout
from headshots_tools.demo import ApiClient, run_demo
from headshots_tools.localstack import Ports, Stack, StackError, _session_members

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def bucket(s3_server) -> str:
    import boto3

    name = f"headshots-e2e-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", **_boto_args(s3_server)).create_bucket(Bucket=name)
    return name


def _boto_args(s3: dict[str, str]) -> dict[str, str]:
    return dict(
        endpoint_url=s3["AWS_ENDPOINT_URL"],
        aws_access_key_id=s3["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3["AWS_SECRET_ACCESS_KEY"],
        region_name=s3["AWS_DEFAULT_REGION"],
    )


def _bucket_keys(s3: dict[str, str], bucket: str, prefix: str) -> list[str]:
    import boto3

    listing = boto3.client("s3", **_boto_args(s3)).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", ())]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_database, s3_server, bucket):
    stack = Stack(
        var_dir=tmp_path_factory.mktemp("stack"),
        ports=Ports.free(),
        trainers=2,
        renderer_replicas=2,
        extra_env={
            "HEADSHOTS_TRAIN_STEPS": "30",
            "HEADSHOTS_BLOB_URL": f"s3://{bucket}/headshots",
            **s3_server,
            **stack_database,
        },
    )
    stack.up()
    yield stack
    stack.down()


@pytest.fixture(scope="module")
def completed_order(stack, tmp_path_factory):
    return run_demo(
        stack,
        package="trial",
        styles=["corporate-navy", "executive-black"],
        out_dir=tmp_path_factory.mktemp("out"),
        timeout_s=600,
    )


def test_an_order_completes_with_rendered_headshots_on_disk(completed_order, stack):
    assert completed_order.state == "completed", completed_order.order
    assert len(completed_order.files) >= 4
    for path in completed_order.files:
        image = Image.open(path)
        image.verify()
        assert image.format == "PNG" and min(image.size) >= 64
    pixels = [np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) for p in completed_order.files]
    assert all(np.abs(a - b).mean() > 1 for i, a in enumerate(pixels) for b in pixels[i + 1 :]), (
        "every headshot is a different image"
    )
    order = completed_order.order
    assert order["progress"] == {"stage": "done", "percent": 100, "eta_s": 0.0}
    assert order["counts"]["photos_accepted"] == 5 and order["counts"]["headshots"] == 4


def test_the_renderer_uses_the_orders_adapter(completed_order, stack):
    """Same seed and prompt, with and without the order's LoRA: different images."""
    with grpc.insecure_channel(f"127.0.0.1:{stack.ports.trainer_grpc}") as channel:
        training = (
            tpb_grpc.TrainerServiceStub(channel)
            .GetTraining(tpb.GetTrainingRequest(name=f"trainings/{completed_order.order_id}"), timeout=10)
            .training
        )
    adapter_key = training.result.adapter_key
    assert adapter_key == blob_layout.adapter_key(completed_order.order_id, 1), "trained once, by its first lease"
    item = rpb.RenderItem(style_id="corporate-navy", seed=1234)

    def render(adapter: rpb.AdapterRef | None) -> np.ndarray:
        request = rpb.RenderRequest(subject_phrase="sks person", items=[item], adapter=adapter)
        with grpc.insecure_channel(f"127.0.0.1:{stack.ports.renderer_grpc}") as channel:
            [response] = list(rpb_grpc.RendererServiceStub(channel).Render(request, timeout=120))
        return np.asarray(Image.open(io.BytesIO(response.png)).convert("RGB"), dtype=np.float32)

    with_adapter = render(rpb.AdapterRef(adapter_id=completed_order.order_id, adapter_key=adapter_key))
    without = render(None)
    assert np.array_equal(render(None), without), "rendering is reproducible for a seed"
    assert np.abs(with_adapter - without).mean() > 0.1


def test_partner_grpc_api_reports_the_same_order(completed_order, stack):
    key = stack.manage("create_api_key", "grpc-partner").strip()
    with grpc.insecure_channel(f"127.0.0.1:{stack.ports.partner_grpc}") as channel:
        partner = partner_api_pb2_grpc.PartnerServiceStub(channel)
        auth = [("authorization", f"Bearer {key}")]
        with pytest.raises(grpc.RpcError) as missing:  # another tenant's order
            partner.GetOrder(partner_api_pb2.GetOrderRequest(name=f"orders/{completed_order.order_id}"), metadata=auth)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as anonymous:
            partner.GetOrder(partner_api_pb2.GetOrderRequest(name=f"orders/{completed_order.order_id}"))
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
        request = partner_api_pb2.CreateOrderRequest(
            request_id="r-1", order=partner_api_pb2.Order(package="basic", style_ids=["tech-grey"])
        )
        first = partner.CreateOrder(request, metadata=auth)
        again = partner.CreateOrder(request, metadata=auth)
        assert first.name == again.name
        assert first.state == partner_api_pb2.Order.STATE_AWAITING_PHOTOS


def test_headshots_download_over_rest(completed_order, stack):
    key = stack.manage("create_api_key", "other").strip()
    stranger = ApiClient(stack.gateway_url, key)
    status, _ = stranger.request("GET", f"/v1/orders/{completed_order.order_id}/headshots")
    assert status == 404


def _wait_for(client: ApiClient, path: str, done, timeout_s: float = 120):
    deadline = time.monotonic() + timeout_s
    while True:
        body = client.json("GET", path, 200)
        if done(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


def test_more_headshots_in_another_style_without_retraining(completed_order, stack):
    client = ApiClient(stack.gateway_url, completed_order.api_key)
    order_path = f"/v1/orders/{completed_order.order_id}"
    render = client.json("POST", f"{order_path}/renders", 202, body={"style": "tech-grey", "count": 2})
    order = _wait_for(client, order_path, lambda o: o["state"] == "completed" and o["counts"]["headshots"] == 6)
    assert (order["state"], order["counts"]["headshots"]) == ("completed", 6), order
    added = client.json("GET", f"{order_path}/headshots?style=tech-grey", 200)
    assert added["count"] == 2
    status, png = client.request("GET", added["results"][0]["download_url"])
    assert status == 200 and Image.open(io.BytesIO(png)).format == "PNG"
    assert render["state"] == "pending"


def test_blobs_live_in_the_bucket(completed_order, s3_server, bucket):
    keys = _bucket_keys(s3_server, bucket, "headshots/" + blob_layout.order_prefix(completed_order.order_id))
    assert sum(k.endswith(".png") for k in keys) >= 4 and any(k.endswith(".safetensors") for k in keys)


def _replica_stats(stack, calls: int = 30) -> dict[str, rpb.GetStatsResponse]:
    """Each renderer replica's stats (every call is routed to one replica: enough calls reach them all)."""
    with grpc.insecure_channel(f"127.0.0.1:{stack.ports.renderer_grpc}") as channel:
        stub = rpb_grpc.RendererServiceStub(channel)
        return {s.replica_id: s for s in (stub.GetStats(rpb.GetStatsRequest(), timeout=10) for _ in range(calls))}


def test_deleting_the_order_purges_it_everywhere(completed_order, stack, s3_server, bucket):
    order_id = completed_order.order_id
    client = ApiClient(stack.gateway_url, completed_order.api_key)
    assert any(order_id in s.adapters_resident for s in _replica_stats(stack).values()), "a replica holds it"
    receipt = client.json("DELETE", f"/v1/orders/{order_id}", 200)
    assert receipt["remaining_blobs"] == 0 and receipt["blobs_deleted"] >= 5 + 1 + 6
    assert _bucket_keys(s3_server, bucket, "headshots/" + blob_layout.order_prefix(order_id)) == []
    assert client.json("GET", f"/v1/orders/{order_id}", 200)["state"] == "deleted"

    # Every replica evicts it by itself and reports the purge on the receipt.
    deadline = time.monotonic() + 60
    while len((receipt := client.json("DELETE", f"/v1/orders/{order_id}", 200))["cache_purges"]) < 2:
        assert time.monotonic() < deadline, f"replicas that reported: {receipt['cache_purges']}"
        time.sleep(0.5)
    assert {p["purged_by"].split("/")[0] for p in receipt["cache_purges"]} == {"renderer"}
    stats = _replica_stats(stack)
    assert len(stats) == 2 and not [r for r, s in stats.items() if order_id in s.adapters_resident]
    # No process keeps a copy on disk: nothing under the stack's folders or the temporary folder names the order
    # (but the headshots this test downloaded as the customer).
    downloaded = completed_order.out_dir.resolve()
    copies = [
        p
        for root in (stack.var_dir, Path(tempfile.gettempdir()))
        for p in root.rglob(f"*{order_id}*")
        if not p.resolve().is_relative_to(downloaded)
    ]
    assert copies == []

    # More renders of the deleted order are refused, by the API and by every replica.
    assert client.request("POST", f"/v1/orders/{order_id}/renders", body={"style": "tech-grey", "count": 1})[0] == 409
    with grpc.insecure_channel(f"127.0.0.1:{stack.ports.renderer_grpc}") as channel:
        for _ in range(6):
            request = rpb.RenderRequest(
                subject_phrase="sks person",
                items=[rpb.RenderItem(style_id="tech-grey")],
                adapter=rpb.AdapterRef(adapter_id=order_id, adapter_key=blob_layout.adapter_key(order_id, 1)),
            )
            with pytest.raises(grpc.RpcError) as refused:
                list(rpb_grpc.RendererServiceStub(channel).Render(request, timeout=30))
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_a_taken_port_is_reported_clearly(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        ports = Ports.free()
        ports = dataclasses.replace(ports, kafka=sock.getsockname()[1])
        with pytest.raises(StackError, match=f"port {ports.kafka} .*already in use"):
            Stack(var_dir=tmp_path, ports=ports).up()


def test_a_dead_process_is_restarted_and_down_leaves_no_process_behind(tmp_path_factory, stack_database):
    stack = Stack(var_dir=tmp_path_factory.mktemp("stack-down"), ports=Ports.free(), extra_env=stack_database)
    stack.up()
    sessions = {name: int((stack.run_dir / f"{name}.pid").read_text()) for name in stack.running()}
    assert set(sessions) == {s.name for s in stack.services()} | {"supervisor"}
    assert len(_session_members(sessions["renderer"])) > 3, "Ray's processes live in the renderer's session"

    assert stack.kill("renderer-dispatcher")
    deadline = time.monotonic() + 30
    while stack.running().get("renderer-dispatcher") in (None, sessions["renderer-dispatcher"]):
        assert time.monotonic() < deadline, "the supervisor did not start the dead process again"
        time.sleep(0.2)
    sessions = {name: int((stack.run_dir / f"{name}.pid").read_text()) for name in stack.running()}
    stack.down()
    assert {name: _session_members(sid) for name, sid in sessions.items() if _session_members(sid)} == {}
    assert stack.running() == {}
