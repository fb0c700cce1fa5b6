"""REST and gRPC side by side: one scenario table, run once through each protocol; both columns must agree.

The gRPC column is a partner's own client (`grpc_partner_driver.py`, a separate process) using stubs
compiled from the .proto files into a clean directory; the REST column is the REST API. Each step's outcome
is normalised to (kind, error code, facts) so the two can be compared: 404 and NOT_FOUND are one kind, the
REST error code and the gRPC ErrorInfo reason must be equal, and so must what the step returned.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from accounts.services import create_tenant_with_key, issue_api_key
from headshots_tools.proto_deps import copy_deps

from .support import complete_order

REPO = Path(__file__).resolve().parents[3]
DRIVER = Path(__file__).with_name("grpc_partner_driver.py")
REST_KIND = {
    200: "ok",
    201: "ok",
    202: "ok",
    400: "invalid_argument",
    401: "unauthenticated",
    404: "not_found",
    409: "failed_precondition",
    413: "resource_exhausted",
    422: "failed_precondition",
    429: "resource_exhausted",
}
FINAL = {"completed", "failed", "deleted"}
# The gRPC Order.delivery enum (JSON: its name; absent when unspecified) as REST says it.
DELIVERY = {None: "", "DELIVERY_COMPLETE": "complete", "DELIVERY_SHORT": "short"}


@dataclass(frozen=True)
class Outcome:
    kind: str
    code: str = ""
    facts: tuple = ()

    @classmethod
    def of(cls, kind: str, code: str = "", **facts) -> Outcome:
        return cls(kind, code, tuple(sorted(facts.items())))


@pytest.fixture(scope="module")
def partner_stubs(tmp_path_factory) -> Path:
    """The partner API's stubs, compiled from proto/ as a partner would, into a directory of their own."""
    out = tmp_path_factory.mktemp("partner-stubs")
    deps = copy_deps(tmp_path_factory.mktemp("proto-deps"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            str(REPO / "proto"),
            "-I",
            str(deps),
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            "headshots/partner/v1/partner_api.proto",
        ],
        check=True,
    )
    for package in ("headshots", "headshots/partner", "headshots/partner/v1"):
        (out / package / "__init__.py").touch()
    return out


class Driver:
    """The partner's gRPC client process."""

    def __init__(self, stubs: Path, target: str, key: str):
        self.process = subprocess.Popen(
            [sys.executable, str(DRIVER), str(stubs), target, key],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __call__(self, method: str, request, service: str = "PartnerService") -> dict:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps({"service": service, "method": method, "request": request}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the partner's client died"
        return json.loads(line)

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=10)


@dataclass
class Column:
    """One protocol's run of the scenario: the order it created under each label, and what it downloaded."""

    rest: APIClient
    grpc: Driver
    anonymous: Driver  # the same client without a key
    spare_key: str  # the prefix of another key of the partner's, this column's to revoke
    orders: dict[str, str] = field(default_factory=dict)
    downloads: dict[str, bytes] = field(default_factory=dict)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- the REST column ---------------------------------------------------------------------------------------------
class Rest:
    @staticmethod
    def _error(response) -> Outcome:
        return Outcome.of(REST_KIND[response.status_code], response.json()["error"]["code"])

    @classmethod
    def create(cls, col: Column, label: str, key: str, package: str = "trial", styles=("tech-grey",)) -> Outcome:
        response = col.rest.post(
            "/v1/orders", {"package": package, "styles": list(styles)}, format="json", HTTP_IDEMPOTENCY_KEY=key
        )
        if response.status_code >= 300:
            return cls._error(response)
        body = response.json()
        first = col.orders.setdefault(label, body["id"])
        return Outcome.of("ok", state=body["state"], package=body["package"], same_order=first == body["id"])

    @classmethod
    def upload(cls, col: Column, label: str, photos: list[tuple[str, bytes]]) -> Outcome:
        files = [io.BytesIO(data) for _, data in photos]
        for f, (name, _) in zip(files, photos):
            f.name = name
        response = col.rest.post(f"/v1/orders/{col.orders[label]}/photos", {"files": files}, format="multipart")
        if response.status_code not in (201, 422) or "results" not in response.json():
            return cls._error(response)
        results = response.json()["results"]
        return Outcome.of(
            "ok", accepted=sum(r["accepted"] for r in results), reasons=tuple(r["reason_code"] or "" for r in results)
        )

    @classmethod
    def submit(cls, col: Column, label: str) -> Outcome:
        response = col.rest.post(f"/v1/orders/{col.orders.get(label, uuid.uuid4())}/submit")
        return Outcome.of("ok", state=response.json()["state"]) if response.status_code == 202 else cls._error(response)

    @classmethod
    def get(cls, col: Column, order_id: str) -> Outcome:
        response = col.rest.get(f"/v1/orders/{order_id}")
        if response.status_code != 200:
            return cls._error(response)
        body = response.json()
        return Outcome.of(
            "ok", state=body["state"], photos=body["counts"]["photos_accepted"], delivery=body["delivery"] or ""
        )

    @classmethod
    def finish(cls, col: Column, label: str) -> Outcome:
        complete_order(col.orders[label], n=3)
        deadline = time.monotonic() + 10
        while (state := col.rest.get(f"/v1/orders/{col.orders[label]}").json()["state"]) not in FINAL:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        return Outcome.of("ok", final_state=state)

    @classmethod
    def accept(cls, col: Column, label: str) -> Outcome:
        response = col.rest.post(f"/v1/orders/{col.orders[label]}/accept")
        if response.status_code != 200:
            return cls._error(response)
        body = response.json()
        return Outcome.of("ok", delivery=body["delivery"], accepted=body["accepted_at"] is not None)

    @classmethod
    def headshots(cls, col: Column, label: str) -> Outcome:
        body = col.rest.get(f"/v1/orders/{col.orders[label]}/headshots").json()
        return Outcome.of("ok", count=body["count"], styles=tuple(h["style_id"] for h in body["results"]))

    @classmethod
    def download(cls, col: Column, label: str) -> Outcome:
        order_id = col.orders[label]
        first = col.rest.get(f"/v1/orders/{order_id}/headshots").json()["results"][0]
        response = col.rest.get(first["download_url"])
        col.downloads[label] = response.content
        other = b"".join(
            base64.b64decode(c.get("data", ""))
            for c in col.grpc("DownloadHeadshot", {"name": f"orders/{order_id}/headshots/{first['id']}"})["response"]
        )
        return Outcome.of("ok", png=response.content[:4] == b"\x89PNG", same_bytes_over_grpc=other == response.content)

    @classmethod
    def archive(cls, col: Column, label: str) -> Outcome:
        response = col.rest.get(f"/v1/orders/{col.orders[label]}/headshots.zip")
        archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
        return Outcome.of("ok", members=len(archive.namelist()))

    @classmethod
    def render(cls, col: Column, label: str, style: str = "executive-black", count: int = 2) -> Outcome:
        response = col.rest.post(
            f"/v1/orders/{col.orders[label]}/renders", {"style": style, "count": count}, format="json"
        )
        if response.status_code != 202:
            return cls._error(response)
        return Outcome.of("ok", state=response.json()["state"], count=response.json()["count"])

    @classmethod
    def styles(cls, col: Column) -> Outcome:
        return Outcome.of("ok", ids=tuple(s["id"] for s in col.rest.get("/v1/styles").json()["results"]))

    @classmethod
    def deliveries(cls, col: Column, label: str) -> Outcome:
        body = col.rest.get(f"/v1/orders/{col.orders[label]}/webhook-deliveries").json()
        return Outcome.of("ok", count=len(body["results"]))

    @classmethod
    def delete(cls, col: Column, label: str) -> Outcome:
        response = col.rest.delete(f"/v1/orders/{col.orders[label]}")
        if response.status_code != 200:
            return cls._error(response)
        receipt = response.json()
        first = col.downloads.setdefault(f"receipt:{label}", receipt["id"].encode())
        return Outcome.of(
            "ok",
            photos=receipt["photos_deleted"],
            headshots=receipt["headshots_deleted"],
            remaining=receipt["remaining_blobs"],
            same_receipt=first == receipt["id"].encode(),
        )

    @classmethod
    def anonymous(cls, col: Column, label: str) -> Outcome:
        return cls._error(APIClient().get(f"/v1/orders/{col.orders[label]}"))

    @classmethod
    def keys(cls, col: Column) -> Outcome:
        keys = col.rest.get("/v1/auth/tokens").json()["results"]
        return _keys_outcome([(k["prefix"], k["kind"], k["active"], k["current"]) for k in keys])

    @classmethod
    def revoke(cls, col: Column, prefix: str) -> Outcome:
        response = col.rest.delete(f"/v1/auth/tokens/{prefix}")
        if response.status_code != 200:
            return cls._error(response)
        key = response.json()
        return Outcome.of("ok", same_key=key["prefix"] == prefix, active=key["active"], revoked=bool(key["revoked_at"]))


# -- the gRPC column ---------------------------------------------------------------------------------------------
class Grpc:
    @staticmethod
    def _error(answer: dict) -> Outcome:
        return Outcome.of(answer["code"].lower(), answer["reason"])

    @classmethod
    def create(cls, col: Column, label: str, key: str, package: str = "trial", styles=("tech-grey",)) -> Outcome:
        answer = col.grpc("CreateOrder", {"requestId": key, "order": {"package": package, "styleIds": list(styles)}})
        if answer["code"] != "OK":
            return cls._error(answer)
        order = answer["response"]
        first = col.orders.setdefault(label, order["uid"])
        state = order["state"].removeprefix("STATE_").lower()
        return Outcome.of("ok", state=state, package=order["package"], same_order=first == order["uid"])

    @classmethod
    def upload(cls, col: Column, label: str, photos: list[tuple[str, bytes]]) -> Outcome:
        parent = f"orders/{col.orders[label]}"
        answer = col.grpc("UploadPhotos", [{"parent": parent, "filename": n, "content": _b64(d)} for n, d in photos])
        if answer["code"] != "OK":
            return cls._error(answer)
        results = answer["response"].get("results", [])
        return Outcome.of(
            "ok",
            accepted=sum(r.get("accepted", False) for r in results),
            reasons=tuple(r.get("reasonCode", "") for r in results),
        )

    @classmethod
    def submit(cls, col: Column, label: str) -> Outcome:
        answer = col.grpc("SubmitOrder", {"name": f"orders/{col.orders.get(label, uuid.uuid4())}"})
        if answer["code"] != "OK":
            return cls._error(answer)
        progress = answer["response"]["metadata"]
        return Outcome.of("ok", state=progress["stage"])

    @classmethod
    def get(cls, col: Column, order_id: str) -> Outcome:
        answer = col.grpc("GetOrder", {"name": f"orders/{order_id}"})
        if answer["code"] != "OK":
            return cls._error(answer)
        order = answer["response"]
        state = order["state"].removeprefix("STATE_").lower()
        return Outcome.of(
            "ok", state=state, photos=order.get("photosAccepted", 0), delivery=DELIVERY[order.get("delivery")]
        )

    @classmethod
    def finish(cls, col: Column, label: str) -> Outcome:
        complete_order(col.orders[label], n=3)
        updates = col.grpc("WatchOrder", {"name": f"orders/{col.orders[label]}"})["response"]
        return Outcome.of("ok", final_state=updates[-1]["order"]["state"].removeprefix("STATE_").lower())

    @classmethod
    def accept(cls, col: Column, label: str) -> Outcome:
        answer = col.grpc("AcceptOrder", {"name": f"orders/{col.orders[label]}"})
        if answer["code"] != "OK":
            return cls._error(answer)
        order = answer["response"]
        return Outcome.of("ok", delivery=DELIVERY[order.get("delivery")], accepted="acceptTime" in order)

    @classmethod
    def headshots(cls, col: Column, label: str) -> Outcome:
        page = col.grpc("ListHeadshots", {"parent": f"orders/{col.orders[label]}"})["response"]
        return Outcome.of("ok", count=page["totalSize"], styles=tuple(h["styleId"] for h in page["headshots"]))

    @classmethod
    def download(cls, col: Column, label: str) -> Outcome:
        order_id = col.orders[label]
        first = col.grpc("ListHeadshots", {"parent": f"orders/{order_id}"})["response"]["headshots"][0]
        chunks = col.grpc("DownloadHeadshot", {"name": first["name"]})["response"]
        data = b"".join(base64.b64decode(c.get("data", "")) for c in chunks)
        col.downloads[label] = data
        other = col.rest.get(f"/v1/orders/{order_id}/headshots/{first['uid']}.png").content
        return Outcome.of("ok", png=data[:4] == b"\x89PNG", same_bytes_over_grpc=other == data)

    @classmethod
    def archive(cls, col: Column, label: str) -> Outcome:
        chunks = col.grpc("DownloadHeadshotArchive", {"parent": f"orders/{col.orders[label]}"})["response"]
        archive = zipfile.ZipFile(io.BytesIO(b"".join(base64.b64decode(c.get("data", "")) for c in chunks)))
        return Outcome.of("ok", members=len(archive.namelist()))

    @classmethod
    def render(cls, col: Column, label: str, style: str = "executive-black", count: int = 2) -> Outcome:
        answer = col.grpc("CreateRender", {"parent": f"orders/{col.orders[label]}", "styleId": style, "count": count})
        if answer["code"] != "OK":
            return cls._error(answer)
        return Outcome.of("ok", state=answer["response"]["state"], count=answer["response"]["count"])

    @classmethod
    def styles(cls, col: Column) -> Outcome:
        return Outcome.of("ok", ids=tuple(s["id"] for s in col.grpc("ListStyles", {})["response"]["styles"]))

    @classmethod
    def deliveries(cls, col: Column, label: str) -> Outcome:
        answer = col.grpc("ListWebhookDeliveries", {"parent": f"orders/{col.orders[label]}"})
        return Outcome.of("ok", count=len(answer["response"].get("webhookDeliveries", [])))

    @classmethod
    def delete(cls, col: Column, label: str) -> Outcome:
        answer = col.grpc("DeleteOrder", {"name": f"orders/{col.orders[label]}"})
        if answer["code"] != "OK":
            return cls._error(answer)
        receipt = answer["response"]
        first = col.downloads.setdefault(f"receipt:{label}", receipt["uid"].encode())
        return Outcome.of(
            "ok",
            photos=receipt.get("photosDeleted", 0),
            headshots=receipt.get("headshotsDeleted", 0),
            remaining=receipt.get("remainingBlobs", 0),
            same_receipt=first == receipt["uid"].encode(),
        )

    @classmethod
    def anonymous(cls, col: Column, label: str) -> Outcome:
        return cls._error(col.anonymous("GetOrder", {"name": f"orders/{col.orders[label]}"}))

    @classmethod
    def keys(cls, col: Column) -> Outcome:
        keys = col.grpc("ListApiKeys", {})["response"]["apiKeys"]
        kinds = {"KIND_API_KEY": "api_key", "KIND_PERSONAL_TOKEN": "personal_token"}
        return _keys_outcome(
            [
                (k["name"].removeprefix("apiKeys/"), kinds[k["kind"]], k.get("active", False), k.get("current", False))
                for k in keys
            ]
        )

    @classmethod
    def revoke(cls, col: Column, prefix: str) -> Outcome:
        answer = col.grpc("DeleteApiKey", {"name": f"apiKeys/{prefix}"})
        if answer["code"] != "OK":
            return cls._error(answer)
        key = answer["response"]
        return Outcome.of(
            "ok",
            same_key=key["name"] == f"apiKeys/{prefix}",
            active=key.get("active", False),
            revoked="revokeTime" in key,
        )


def _keys_outcome(keys: list[tuple[str, str, bool, bool]]) -> Outcome:
    """(prefix, kind, active, current) of each key, newest first."""
    return Outcome.of("ok", keys=tuple(keys))


def scenario(photos: list[tuple[str, bytes]], foreign_order: str, foreign_key: str):
    """(step, run(protocol, column)): what a partner does, in order; every step runs through both protocols."""
    bad = [("empty.jpg", b""), ("text.jpg", b"not a photo")]
    return [
        ("create", lambda p, c: p.create(c, "main", key=f"k-{p.__name__}")),
        ("retry with the same key and body", lambda p, c: p.create(c, "main", key=f"k-{p.__name__}")),
        (
            "the same key with another body",
            lambda p, c: p.create(c, "main", key=f"k-{p.__name__}", package="basic"),
        ),
        ("an unknown style", lambda p, c: p.create(c, "x", key=f"u-{p.__name__}", styles=("no-such",))),
        ("an unknown package", lambda p, c: p.create(c, "x", key=f"v-{p.__name__}", package="gold")),
        ("submit before any photo", lambda p, c: p.submit(c, "main")),
        ("upload more files than one upload carries", lambda p, c: p.upload(c, "main", [("x.jpg", b"x")] * 41)),
        ("upload good and bad photos", lambda p, c: p.upload(c, "main", photos + bad[:1])),
        ("upload only bad photos", lambda p, c: p.upload(c, "main", bad)),
        ("submit", lambda p, c: p.submit(c, "main")),
        ("submit again", lambda p, c: p.submit(c, "main")),
        ("upload after submitting", lambda p, c: p.upload(c, "main", photos[:1])),
        ("get", lambda p, c: p.get(c, c.orders["main"])),
        ("get an unknown order", lambda p, c: p.get(c, str(uuid.uuid4()))),
        ("get another partner's order", lambda p, c: p.get(c, foreign_order)),
        ("get without a key", lambda p, c: p.anonymous(c, "main")),
        ("more renders before completion", lambda p, c: p.render(c, "main")),
        ("accept before delivery", lambda p, c: p.accept(c, "main")),
        ("watch to completion", lambda p, c: p.finish(c, "main")),
        ("get the delivered order", lambda p, c: p.get(c, c.orders["main"])),
        ("accept a complete delivery", lambda p, c: p.accept(c, "main")),
        ("list headshots", lambda p, c: p.headshots(c, "main")),
        ("download a headshot", lambda p, c: p.download(c, "main")),
        ("download them all", lambda p, c: p.archive(c, "main")),
        ("more renders", lambda p, c: p.render(c, "main")),
        ("more renders of an unknown style", lambda p, c: p.render(c, "main", style="no-such")),
        ("more renders, too many", lambda p, c: p.render(c, "main", count=1000)),
        ("styles", lambda p, c: p.styles(c)),
        ("webhook deliveries", lambda p, c: p.deliveries(c, "main")),
        ("delete", lambda p, c: p.delete(c, "main")),
        ("delete again", lambda p, c: p.delete(c, "main")),
        ("get after deletion", lambda p, c: p.get(c, c.orders["main"])),
        ("more renders after deletion", lambda p, c: p.render(c, "main")),
        ("list keys", lambda p, c: p.keys(c)),
        ("revoke a key", lambda p, c: p.revoke(c, c.spare_key)),
        ("revoke it again", lambda p, c: p.revoke(c, c.spare_key)),
        ("revoke an unknown key", lambda p, c: p.revoke(c, "ffffffff")),
        ("revoke another partner's key", lambda p, c: p.revoke(c, foreign_key)),
        ("list keys after revoking", lambda p, c: p.keys(c)),
    ]


def test_rest_and_grpc_agree_on_every_step(partner, partner_stubs, person_photos):
    tenant, key = create_tenant_with_key("both-protocols")
    _, other_key = create_tenant_with_key("someone-else")
    spare = {protocol: issue_api_key(tenant).split("_")[1] for protocol in ("rest", "grpc")}
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Bearer {other_key}")
    foreign_order = stranger.post("/v1/orders", {"package": "trial", "styles": ["tech-grey"]}, format="json").json()
    photos = [(p.name, p.read_bytes()) for p in person_photos]
    rest = APIClient()
    rest.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    driver, anonymous = Driver(partner_stubs, partner.target, key), Driver(partner_stubs, partner.target, "")
    try:
        columns = {
            Rest: Column(rest, driver, anonymous, spare["rest"]),
            Grpc: Column(rest, driver, anonymous, spare["grpc"]),
        }
        table = []
        for step, run in scenario(photos, foreign_order["id"], other_key.split("_")[1]):
            outcomes = {protocol: run(protocol, column) for protocol, column in columns.items()}
            table.append((step, outcomes[Rest], outcomes[Grpc]))
    finally:
        driver.close()
        anonymous.close()
    disagreements = [f"{step}:\n  REST {rest_}\n  gRPC {grpc_}" for step, rest_, grpc_ in table if rest_ != grpc_]
    assert not disagreements, "\n".join(disagreements)
    # The table says something: the steps meant to fail did, with the codes a partner reads.
    codes = {step: outcome.code for step, outcome, _ in table}
    assert codes["the same key with another body"] == "idempotency_key_reused"
    assert codes["get another partner's order"] == "not_found" and codes["get without a key"] == "unauthenticated"
    assert codes["submit before any photo"] == "not_enough_photos"
    assert codes["upload more files than one upload carries"] == "too_many_files"
    assert codes["accept before delivery"] == codes["accept a complete delivery"] == "nothing_to_accept"
    delivered = next(rest_ for step, rest_, _ in table if step == "get the delivered order")
    assert dict(delivered.facts)["delivery"] == "complete"
    assert codes["revoke another partner's key"] == "not_found"
    keys_after = dict(next(rest_ for step, rest_, _ in table if step == "list keys after revoking").facts)["keys"]
    assert [active for prefix, _, active, _ in keys_after if prefix in spare.values()] == [False, False]
    downloaded = next(rest_ for step, rest_, _ in table if step == "download a headshot")
    assert dict(downloaded.facts) == {"png": True, "same_bytes_over_grpc": True}
