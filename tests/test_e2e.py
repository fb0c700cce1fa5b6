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
from stack_support import bucket_keys

from headshots.partner.v1 import partner_api_pb2, partner_api_pb2_grpc
from headshots.v1 import (
    renderer_service_pb2 as rpb,
    renderer_service_pb2_grpc as rpb_grpc,
    trainer_service_pb2 as tpb,
    trainer_service_pb2_grpc as tpb_grpc,
)
from headshots_common import blob_layout
from headshots_tools.demo import ApiClient, run_demo
from headshots_tools.localstack import Ports, Stack, StackError, session_members

pytestmark = pytest.mark.e2e


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
    # One contact sheet of all of them, and an account that opens the order in the studio.
    sheet = Image.open(completed_order.contact_sheet)
    assert sheet.format == "PNG" and sheet.width >= 4 * 256
    assert completed_order.email.endswith("@headshots.local") and len(completed_order.password) >= 12
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
    keys = bucket_keys(s3_server, bucket, "headshots/" + blob_layout.order_prefix(completed_order.order_id))
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
    assert bucket_keys(s3_server, bucket, "headshots/" + blob_layout.order_prefix(order_id)) == []
    assert client.json("GET", f"/v1/orders/{order_id}", 200)["state"] == "deleted"

    # Every replica evicts it by itself and reports the purge on the receipt.
    deadline = time.monotonic() + 60
    while len((receipt := client.json("DELETE", f"/v1/orders/{order_id}", 200))["cache_purges"]) < 2:
        assert time.monotonic() < deadline, f"replicas that reported: {receipt['cache_purges']}"
        time.sleep(0.5)
    assert {p["purged_by"].split("/")[0] for p in receipt["cache_purges"]} == {"renderer"}
    # Both replicas were running at the deletion: the receipt waited for both, and nothing is left anywhere.
    assert receipt["cache_purges_pending"] == [] and receipt["complete"], receipt
    assert all(p["entries_kept"] == 0 for p in receipt["cache_purges"])
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
    assert len(session_members(sessions["renderer"])) > 3, "Ray's processes live in the renderer's session"

    assert stack.kill("renderer-dispatcher")
    deadline = time.monotonic() + 30
    while stack.running().get("renderer-dispatcher") in (None, sessions["renderer-dispatcher"]):
        assert time.monotonic() < deadline, "the supervisor did not start the dead process again"
        time.sleep(0.2)
    sessions = {name: int((stack.run_dir / f"{name}.pid").read_text()) for name in stack.running()}
    stack.down()
    assert {name: session_members(sid) for name, sid in sessions.items() if session_members(sid)} == {}
    assert stack.running() == {}


# -- the partner CLI, run as a partner runs it: the installed `headshots` in a subprocess ----------------------
def _cli(*args: str, home: Path, env_extra: dict[str, str] | None = None) -> tuple[int, str, str]:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADSHOTS_")}
    env.update(HOME=str(home), COLUMNS="120", **(env_extra or {}))
    result = subprocess.run(
        # The console script pip installed beside this interpreter, as a partner's shell finds it.
        [str(Path(sys.executable).parent / "headshots"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    return result.returncode, result.stdout, result.stderr


def _last_json(stdout: str) -> dict:
    import json

    return json.loads(stdout.strip().splitlines()[-1])


def test_the_partner_cli_runs_a_whole_order(stack, tmp_path):
    from headshots_tools.demo import DEMO_PHOTOS

    key = stack.manage("create_api_key", f"cli-{uuid.uuid4().hex[:6]}").strip()
    target = f"127.0.0.1:{stack.ports.partner_grpc}"
    photos = tmp_path / "selfies"
    photos.mkdir()
    for path in DEMO_PHOTOS:
        (photos / path.name).write_bytes(path.read_bytes())
    Image.new("RGB", (640, 480), (40, 90, 160)).save(photos / "sky.png")  # no face: rejected, with the reason
    auth = {"HEADSHOTS_API_KEY": key, "HEADSHOTS_GRPC_TARGET": target}

    # Create, upload, submit, watch with a progress bar, download: one command.
    code, out, err = _cli(
        "order", "create", "--photos", str(photos), "--styles", "corporate-navy", "--package", "trial",
        "--wait", "--to", str(tmp_path / "out"), "--json", home=tmp_path, env_extra=auth,
    )  # fmt: skip
    assert code == 0, err[-3000:]
    order = _last_json(out)
    assert order["state"] == "STATE_COMPLETED" and order["name"].startswith("orders/")
    assert "rejected sky.png" in err and "5 of 6 photos accepted" in err and "ETA" in err
    files = [Path(f) for f in order["files"]]
    assert files and all(f.exists() and Image.open(f).format == "PNG" for f in files)

    # More in another style, without retraining; then everything downloaded again.
    code, out, err = _cli(
        "order", "renders", order["uid"], "--style", "tech-grey", "--count", "1", "--wait", "--json",
        home=tmp_path, env_extra=auth,
    )  # fmt: skip
    assert code == 0, err[-3000:]
    assert _last_json(out)["order_state"]["state"] == "STATE_COMPLETED"
    code, out, err = _cli(
        "order", "download", order["uid"], "--to", str(tmp_path / "all"), "--json", home=tmp_path, env_extra=auth
    )
    assert code == 0, err[-3000:]
    assert len(_last_json(out)["files"]) == len(files) + 1

    # The order is in the partner's list, newest first.
    code, out, err = _cli("order", "list", "--json", home=tmp_path, env_extra=auth)
    assert code == 0, err[-3000:]
    listed = _last_json(out)
    assert listed["orders"][0]["uid"] == order["uid"] and listed["total_size"] >= 1

    # The key from a config file works as well as from the environment.
    config = tmp_path / "cli.toml"
    config.write_text(f'api_key = "{key}"\ngrpc_target = "{target}"\n')
    config.chmod(0o600)  # the CLI refuses a key file other users may read, as ssh does
    code, out, err = _cli("order", "get", order["uid"], "--json", "--config", str(config), home=tmp_path)
    assert code == 0 and _last_json(out)["uid"] == order["uid"], err[-2000:]

    # Deletion prints the receipt; the order is then gone for the CLI too.
    code, out, err = _cli("order", "delete", order["uid"], "--json", home=tmp_path, env_extra=auth)
    assert code == 0, err[-3000:]
    receipt = _last_json(out)
    assert receipt["order"] == order["name"] and receipt["remaining_blobs"] == 0 and receipt["blobs_deleted"] > 0


def test_the_partner_cli_says_what_went_wrong_with_distinct_exit_codes(stack, tmp_path):
    target = f"127.0.0.1:{stack.ports.partner_grpc}"
    # No key anywhere: a usage error that says where a key can come from.
    code, out, err = _cli("order", "get", str(uuid.uuid4()), "--target", target, home=tmp_path)
    assert code == 2 and "HEADSHOTS_API_KEY" in err
    # A wrong key: the API's refusal.
    code, out, err = _cli("order", "get", str(uuid.uuid4()), "--target", target, "--api-key", "nope", home=tmp_path)
    assert code == 3 and "unauthenticated" in err
    # An unknown order, as JSON for a script.
    key = stack.manage("create_api_key", f"cli-{uuid.uuid4().hex[:6]}").strip()
    code, out, err = _cli(
        "order", "watch", str(uuid.uuid4()), "--json", home=tmp_path,
        env_extra={"HEADSHOTS_API_KEY": key, "HEADSHOTS_GRPC_TARGET": target},
    )  # fmt: skip
    assert code == 3 and _last_json(out)["exit_code"] == 3 and "not_found" in _last_json(out)["error"]
    # Photos the API refuses, all of them: nothing is submitted.
    empty = tmp_path / "landscapes"
    empty.mkdir()
    for n in range(2):
        Image.new("RGB", (640, 480), (30 * n, 120, 60)).save(empty / f"field{n}.png")
    code, out, err = _cli(
        "order", "create", "--photos", str(empty), "--styles", "corporate-navy", "--package", "trial",
        "--api-key", key, "--target", target, home=tmp_path,
    )  # fmt: skip
    assert code == 3 and "rejected field0.png" in err
    # Nothing listening on the port.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    code, out, err = _cli("order", "get", "x", "--api-key", key, "--target", f"127.0.0.1:{closed}", home=tmp_path)
    assert code == 5 and "cannot reach" in err
    # A usage error from the parser itself.
    code, out, err = _cli("order", "renders", "x", "--style", "tech-grey", home=tmp_path)
    assert code == 2 and "--count" in err
