"""Ordinary load and odd input against the running gateway (gunicorn, real processes), on SQLite and on
PostgreSQL: every over-limit or malformed request answers the error envelope with a 4xx and stores nothing,
concurrent writes never answer 500, and the worker survives a busy database and shows in readiness."""

from __future__ import annotations

import http.client
import io
import json
import random
import threading
import time
import urllib.parse

import pytest
import requests
from PIL import Image

from headshots.v1 import events_pb2
from headshots_common import bus
from headshots_tools.live_gateway import database_params, live_gateway

pytestmark = pytest.mark.checker_processes

MB = 1024 * 1024
LIMITS = {
    "HEADSHOTS_MAX_PHOTO_BYTES": str(1 * MB),
    "HEADSHOTS_MAX_UPLOAD_BYTES": str(3 * MB),
    "HEADSHOTS_MAX_UPLOAD_FILES": "8",
    "HEADSHOTS_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "HEADSHOTS_RATE_LIMIT": "100000/min",
    "HEADSHOTS_ORDER_RATE_LIMIT": "100000/min",
    "HEADSHOTS_WORKER_STALE_S": "8",
}


@pytest.fixture(scope="module", params=database_params())
def gateway(request, tmp_path_factory, kafka_bootstrap):
    env = {**LIMITS, "HEADSHOTS_KAFKA_BOOTSTRAP": kafka_bootstrap}
    with live_gateway(tmp_path_factory.mktemp(f"gateway-{request.param}"), request.param, env) as live:
        live.key = live.manage("partner", "create", "limits").strip()
        live.start_worker()  # its relay brings the photo checker the photos
        live.start_checker()
        yield live


def _headers(gateway) -> dict:
    return {"Authorization": f"Bearer {gateway.key}"}


def _order(gateway, **fields) -> dict:
    body = {"package": "trial", "styles": ["tech-grey"], **fields}
    response = requests.post(f"{gateway.http}/v1/orders", json=body, headers=_headers(gateway), timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def _error(response: requests.Response | http.client.HTTPResponse, status: int) -> dict:
    if isinstance(response, requests.Response):
        code, body = response.status_code, response.json()
    else:
        code, body = response.status, json.loads(response.read())
    assert code == status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


def _jpeg(at_least: int) -> bytes:
    """A JPEG of at least `at_least` bytes (random pixels hardly compress)."""
    side = int((at_least / 1.1) ** 0.5)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), random.randbytes(side * side * 3)).save(out, format="JPEG", quality=95)
    assert out.tell() >= at_least
    return out.getvalue()


def _photos_accepted(gateway, order: dict) -> int:
    response = requests.get(f"{gateway.http}/v1/orders/{order['id']}", headers=_headers(gateway), timeout=30)
    return response.json()["counts"]["photos_accepted"]


def test_a_header_over_the_limit_answers_431_in_the_envelope(gateway):
    response = requests.get(f"{gateway.http}/v1/styles", headers={"X-Padding": "a" * 10_000}, timeout=30)
    assert _error(response, 431)["code"] == "header_too_large"


def test_a_huge_json_body_is_refused_unread_with_413(gateway):
    url = urllib.parse.urlsplit(gateway.http)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.putrequest("POST", "/v1/orders")
    connection.putheader("Authorization", f"Bearer {gateway.key}")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(40 * MB))
    connection.endheaders()
    connection.send(b"[" * 65536)  # the server answers after the headers; the rest is never sent
    response = connection.getresponse()
    error = _error(response, 413)
    assert error["code"] == "request_too_large" and error["details"]["content_length"] == 40 * MB
    connection.close()


def test_deeply_nested_json_is_a_400(gateway):
    body = "[" * 100_000 + "]" * 100_000
    response = requests.post(
        f"{gateway.http}/v1/orders",
        data=body,
        headers={**_headers(gateway), "Content-Type": "application/json"},
        timeout=30,
    )
    assert _error(response, 400)["code"] == "malformed_request"


def test_a_thousand_files_are_refused_whole(gateway):
    order = _order(gateway)
    files = [("files", (f"{i}.jpg", b"x" * 100, "image/jpeg")) for i in range(1000)]
    response = requests.post(
        f"{gateway.http}/v1/orders/{order['id']}/photos", files=files, headers=_headers(gateway), timeout=60
    )
    error = _error(response, 413)
    assert error["code"] == "too_many_files" and error["details"]["limit"] == 8
    assert _photos_accepted(gateway, order) == 0


def test_an_upload_over_the_byte_cap_is_refused_whole(gateway, person_photos):
    order = _order(gateway)
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in person_photos[:2]]
    # 3.6 MB of noise under the 1 MB file cap: past the 3 MB upload cap whatever the two photos weigh.
    files += [("files", (f"noise{i}.jpg", _jpeg(900_000), "image/jpeg")) for i in range(4)]
    response = requests.post(
        f"{gateway.http}/v1/orders/{order['id']}/photos", files=files, headers=_headers(gateway), timeout=60
    )
    assert _error(response, 413)["code"] == "upload_too_large"
    assert _photos_accepted(gateway, order) == 0, "the photos before the cap were not kept"


def test_a_photo_over_the_file_cap_is_rejected_and_the_others_are_kept(gateway, person_photos):
    order = _order(gateway)
    files = [("files", ("big.jpg", _jpeg(int(1.5 * MB)), "image/jpeg"))]
    files += [("files", (person_photos[0].name, person_photos[0].read_bytes(), "image/jpeg"))]
    response = requests.post(
        f"{gateway.http}/v1/orders/{order['id']}/photos", files=files, headers=_headers(gateway), timeout=60
    )
    assert response.status_code == 201, response.text
    verdicts = {r["filename"]: (r["accepted"], r["reason_code"]) for r in response.json()["results"]}
    checker_log = gateway.checker_log("photo-checker").read_text(errors="replace")[-3000:]
    assert verdicts == {"big.jpg": (False, "file_too_large"), person_photos[0].name: (True, None)}, checker_log


@pytest.mark.parametrize("query", ["style=%00", "style=tech%00grey", "style=no-such-style"])
def test_odd_query_values_are_400s(gateway, query):
    order = _order(gateway)
    response = requests.get(
        f"{gateway.http}/v1/orders/{order['id']}/headshots?{query}", headers=_headers(gateway), timeout=30
    )
    assert _error(response, 400)["code"] in {"invalid_argument", "unknown_style"}


def test_a_long_webhook_url_is_stored_whole(gateway):
    url = "http://127.0.0.1:9/hooks/" + "a" * 450
    order = _order(gateway, webhook_url=url)
    too_long = requests.post(
        f"{gateway.http}/v1/orders",
        json={"package": "trial", "styles": ["tech-grey"], "webhook_url": url + "a" * 100},
        headers=_headers(gateway),
        timeout=30,
    )
    assert _error(too_long, 400)["code"] == "invalid_argument"
    assert order["id"]


def test_concurrent_submits_of_one_order_never_fail(gateway, person_photos):
    order = _order(gateway)
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in person_photos]
    uploaded = requests.post(
        f"{gateway.http}/v1/orders/{order['id']}/photos", files=files, headers=_headers(gateway), timeout=60
    )
    assert uploaded.status_code == 201 and uploaded.json()["accepted"] == 5
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def submit():
        barrier.wait()
        response = requests.post(
            f"{gateway.http}/v1/orders/{order['id']}/submit", headers=_headers(gateway), timeout=60
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [202] * 4  # submitting twice is harmless


def test_the_worker_survives_a_busy_database_and_readiness_follows_it(gateway, kafka_bootstrap, person_photos):
    worker = gateway.processes["worker"]
    deadline = time.monotonic() + 60
    while requests.get(f"{gateway.http}/readyz", timeout=10).json()["worker"]["last_beat_s"] is None:
        assert worker.poll() is None and time.monotonic() < deadline, gateway.log()
        time.sleep(0.5)
    orders = [_order(gateway) for _ in range(4)]
    publisher = bus.Publisher(kafka_bootstrap)
    stop = threading.Event()
    failures: list[int] = []

    def write_load():  # API writes at several per second while the worker applies events
        while not stop.is_set():
            response = requests.post(
                f"{gateway.http}/v1/orders",
                json={"package": "trial", "styles": ["tech-grey"]},
                headers=_headers(gateway),
                timeout=60,
            )
            if response.status_code >= 500:
                failures.append(response.status_code)
            time.sleep(0.1)

    writers = [threading.Thread(target=write_load) for _ in range(2)]
    for thread in writers:
        thread.start()
    try:
        for step in range(1, 61):  # progress events for every order, about 20 per second
            for order in orders:
                progress = events_pb2.TrainingProgress(step=step, total_steps=60)
                publisher.publish_soon(bus.TRAINING_TOPIC, bus.new_event(order["id"], training_progress=progress))
            time.sleep(0.2)
        publisher.publish(bus.TRAINING_TOPIC, bus.new_event(orders[0]["id"], training_progress=progress))
        deadline = time.monotonic() + 60
        while (
            requests.get(f"{gateway.http}/v1/orders/{orders[-1]['id']}", headers=_headers(gateway), timeout=30).json()[
                "progress"
            ]["percent"]
            < 30
        ):
            assert time.monotonic() < deadline, "the worker did not apply the events:\n" + gateway.log()
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in writers:
            thread.join()
        publisher.close()
    assert worker.poll() is None, "the worker died under load:\n" + gateway.log()
    assert failures == []
    assert requests.get(f"{gateway.http}/readyz", timeout=10).status_code == 200

    gateway.stop("worker")  # the worker gone: the API says so instead of taking orders that never move
    deadline = time.monotonic() + 30
    while (ready := requests.get(f"{gateway.http}/readyz", timeout=10)).status_code == 200:
        assert time.monotonic() < deadline, "readiness did not notice the worker was gone"
        time.sleep(0.5)
    assert ready.status_code == 503 and ready.json()["reason"] == "worker_stale"
