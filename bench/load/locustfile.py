"""Locust users for `make load` (bench/load/run_load.py) and the gateway benchmark (bench/gateway/bench_gateway.py).

- `Tenant`: one account's reads of the gateway's REST API, paced (constant throughput): status reads of its
  orders, headshot downloads and listings from its completed order. `Uploader`: new orders with five real
  portraits uploaded, at a fixed pace beside them. Which accounts and orders come from the plan file the runner
  writes (HEADSHOTS_LOAD_PLAN).
- `Hammer`: one request (HEADSHOTS_LOAD_REQUEST: method, path, headers, body) sent back to back, for the
  benchmark's closed-loop throughput.

Every request is kept (route, start, milliseconds, status) and written at exit to HEADSHOTS_LOAD_RECORDS, so the
runner computes exact percentiles per route and per time window; Locust's own --csv files are kept beside it.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
from pathlib import Path

from locust import FastHttpUser, constant, constant_pacing, constant_throughput, events, task

from headshots_tools.demo import DEMO_PHOTOS, _multipart

# Route names: one per endpoint, ids folded, so Locust's table and the figures group by route.
STATUS = "GET /v1/orders/{id}"
CREATE = "POST /v1/orders"
UPLOAD = "POST /v1/orders/{id}/photos"
LIST_HEADSHOTS = "GET /v1/orders/{id}/headshots"
DOWNLOAD = "GET /v1/orders/{id}/headshots/{hid}.png"

_records: list[tuple[str, float, float, int]] = []
_records_lock = threading.Lock()


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None, exception=None, **kwargs):
    status = getattr(response, "status_code", 0) or 0
    if exception is not None and 200 <= status < 400:
        status = 0  # a transport error or a check that failed after an OK status
    start = kwargs.get("start_time") or 0.0
    with _records_lock:
        _records.append((name, start, response_time, status))


@events.quitting.add_listener
def _write_records(environment, **kwargs):
    path = os.environ.get("HEADSHOTS_LOAD_RECORDS")
    if path:
        with _records_lock:
            Path(path).write_text(json.dumps(_records))


def _plan() -> dict:
    return json.loads(Path(os.environ["HEADSHOTS_LOAD_PLAN"]).read_text())


_PLAN: dict | None = None
_next_tenant = itertools.count()


def _tenant() -> dict:
    """The next account of the plan: users take them in turn, so every account carries a share of the load."""
    global _PLAN
    if _PLAN is None:
        _PLAN = _plan()
    return _PLAN["tenants"][next(_next_tenant) % len(_PLAN["tenants"])]


class Tenant(FastHttpUser):
    """Reads: an account polling its orders' status and fetching its headshots."""

    # Each user runs this many tasks a second (the runner's --pace) while the stack keeps up.
    wait_time = constant_throughput(float(os.environ.get("HEADSHOTS_LOAD_PACE", "1")))

    def on_start(self) -> None:
        me = _tenant()
        self.headers = {"Authorization": f"Bearer {me['key']}"}
        self.orders: list[str] = list(me["orders"])
        self.completed: str | None = me["completed"]
        self.headshots: list[str] = me.get("headshots", [])

    @task(20)
    def status_read(self) -> None:
        self.client.get(f"/v1/orders/{random.choice(self.orders)}", headers=self.headers, name=STATUS)

    # A partner with no completed order reads a status instead (its share of the mix stays the same).
    @task(4)
    def download_headshot(self) -> None:
        if not self.headshots:
            return self.status_read()
        self.client.get(random.choice(self.headshots), headers=self.headers, name=DOWNLOAD)

    @task(1)
    def list_headshots(self) -> None:
        if self.completed is None:
            return self.status_read()
        self.client.get(f"/v1/orders/{self.completed}/headshots", headers=self.headers, name=LIST_HEADSHOTS)


class Uploader(FastHttpUser):
    """Writes, beside the reads at a fixed pace: a new order and the five portraits uploaded to it, the answer
    waiting for their verdicts (the photo checker's processes check them, not the web). HEADSHOTS_LOAD_UPLOADERS
    users, one order every HEADSHOTS_LOAD_UPLOAD_EVERY_S each (0: back to back)."""

    fixed_count = int(os.environ.get("HEADSHOTS_LOAD_UPLOADERS", "1"))
    wait_time = constant_pacing(float(os.environ.get("HEADSHOTS_LOAD_UPLOAD_EVERY_S", "10")))

    def on_start(self) -> None:
        me = _tenant()
        self.headers = {"Authorization": f"Bearer {me['key']}"}
        self.body, self.content_type = _photos_body()
        self.styles: list[str] = _PLAN["styles"] if _PLAN else []

    @task
    def create_and_upload(self) -> None:
        order = {"package": "trial", "styles": self.styles}
        with self.client.post("/v1/orders", json=order, headers=self.headers, name=CREATE, catch_response=True) as r:
            if r.status_code != 201:
                r.failure(f"{r.status_code}: {r.text[:200]}")
                return
            order_id = r.json()["id"]
        headers = {**self.headers, "Content-Type": self.content_type}
        # geventhttpclient sends bytes as they are; Locust's hints only name str and dict.
        self.client.post(f"/v1/orders/{order_id}/photos", data=self.body, headers=headers, name=UPLOAD)  # type: ignore[arg-type]


_BODY: tuple[bytes, str] | None = None


def _photos_body() -> tuple[bytes, str]:
    """The demo's five portraits as one multipart upload, built once per process."""
    global _BODY
    if _BODY is None:
        _BODY = _multipart(DEMO_PHOTOS)
    return _BODY


class Hammer(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        spec = json.loads(os.environ["HEADSHOTS_LOAD_REQUEST"])
        self.method, self.path, self.name = spec["method"], spec["path"], spec["name"]
        self.headers = spec.get("headers", {})
        self.body = spec["body"].encode() if spec.get("body") is not None else None

    @task
    def send(self) -> None:
        self.client.request(self.method, self.path, data=self.body, headers=self.headers, name=self.name)
