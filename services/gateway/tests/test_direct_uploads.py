"""Direct uploads and bad input against the running gateway (gunicorn, the upload receiver, the worker's relay, a
photo checker: real processes): each bad input answers the error envelope and leaves nothing stored.

- the local store: URLs the gateway signs for its upload receiver (a process that serves no reads);
- S3 (an S3-compatible server on 127.0.0.1): presigned POSTs with a content-length range.
"""

from __future__ import annotations

import http.client
import time
import urllib.parse
import uuid

import pytest
import requests

from headshots_common import blob_layout
from headshots_common.blobstore import open_blob_store
from headshots_tools.live_gateway import live_gateway

pytestmark = pytest.mark.checker_processes

TTL_S = 6
ENV = {
    "HEADSHOTS_RATE_LIMIT": "100000/min",
    "HEADSHOTS_ORDER_RATE_LIMIT": "100000/min",
    "HEADSHOTS_UPLOAD_URL_TTL_S": str(TTL_S),
    "HEADSHOTS_MAX_PHOTO_BYTES": str(2 * 1024 * 1024),
    "HEADSHOTS_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
}


def _start(live) -> None:
    live.key = live.manage("partner", "create", "direct").strip()
    live.other_key = live.manage("partner", "create", "someone-else").strip()
    live.start_worker()
    live.start_checker()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, kafka_bootstrap):
    env = {**ENV, "HEADSHOTS_KAFKA_BOOTSTRAP": kafka_bootstrap}
    with live_gateway(tmp_path_factory.mktemp("direct"), "sqlite", env) as live:
        _start(live)
        live.start_uploads()
        yield live


@pytest.fixture
def s3_gateway(tmp_path_factory, own_broker, s3_server):
    """A broker of its own: the module's other gateway has a checker in the same consumer group, which would take
    some of these photos' events and find no such photo in its own database."""
    import boto3

    bucket = f"direct-{uuid.uuid4().hex[:8]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_server["AWS_ENDPOINT_URL"],
        aws_access_key_id=s3_server["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3_server["AWS_SECRET_ACCESS_KEY"],
        region_name=s3_server["AWS_DEFAULT_REGION"],
    )
    client.create_bucket(Bucket=bucket)
    env = {
        **ENV,
        **s3_server,
        "HEADSHOTS_KAFKA_BOOTSTRAP": own_broker.bootstrap,
        "HEADSHOTS_BLOB_URL": f"s3://{bucket}/h",
    }
    with live_gateway(tmp_path_factory.mktemp("direct-s3"), "sqlite", env) as live:
        _start(live)
        yield live


def _headers(gateway, key: str | None = None) -> dict:
    return {"Authorization": f"Bearer {key or gateway.key}"}


def _order(gateway, **fields) -> str:
    body = {"package": "trial", "styles": ["tech-grey"], **fields}
    response = requests.post(f"{gateway.http}/v1/orders", json=body, headers=_headers(gateway), timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _slots(gateway, order_id: str, *files: tuple[str, int], key: str | None = None) -> requests.Response:
    return requests.post(
        f"{gateway.http}/v1/orders/{order_id}/uploads",
        json={"files": [{"filename": name, "size": size} for name, size in files]},
        headers=_headers(gateway, key),
        timeout=30,
    )


def _error(response, status: int) -> dict:
    code = response.status_code if isinstance(response, requests.Response) else response.status
    body = response.json() if isinstance(response, requests.Response) else __import__("json").loads(response.read())
    assert code == status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


def _photo(gateway, slot: dict, key: str | None = None) -> dict:
    """The photo once the checker has decided."""
    deadline = time.monotonic() + 120
    while True:
        photo = requests.get(f"{gateway.http}{slot['status_url']}", headers=_headers(gateway, key), timeout=30).json()
        if photo["state"] not in ("uploading", "checking"):
            return photo
        checker = gateway.checker_log("photo-checker")
        assert time.monotonic() < deadline, checker.read_text()[-3000:] if checker.exists() else gateway.log()[-3000:]
        time.sleep(0.3)


def _blobs(gateway, order_id: str) -> list[str]:
    """The order's blobs, as the gateway's store lists them."""
    store = open_blob_store(gateway.env["HEADSHOTS_BLOB_URL"]) if "AWS_ENDPOINT_URL" not in gateway.env else None
    if store is None:
        import boto3

        from headshots_common.blobstore import S3BlobStore

        env = gateway.env
        url = urllib.parse.urlsplit(env["HEADSHOTS_BLOB_URL"])
        client = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        store = S3BlobStore(url.netloc, url.path, client=client)
    return store.list(blob_layout.order_prefix(order_id))


def test_a_photo_put_to_its_url_is_checked_and_stored(gateway, person_photos):
    order_id = _order(gateway)
    data = person_photos[0].read_bytes()
    [slot] = _slots(gateway, order_id, ("me.jpg", len(data))).json()["uploads"]
    assert slot["method"] == "PUT" and slot["url"].startswith(gateway.env["HEADSHOTS_UPLOAD_URL"])
    assert not slot["url"].startswith(gateway.http), "the bytes never pass through the web that serves reads"
    put = requests.put(slot["url"], data=data, timeout=60)
    assert put.status_code == 201 and put.json()["state"] in ("checking", "accepted"), put.text
    photo = _photo(gateway, slot)
    assert (photo["state"], photo["filename"]) == ("accepted", "me.jpg") and photo["face"]
    jpeg = blob_layout.photo_key(order_id, photo["id"])
    assert sorted(_blobs(gateway, order_id)) == sorted([jpeg, blob_layout.photo_analysis_key(jpeg)])
    again = requests.post(f"{gateway.http}{slot['complete_url']}", headers=_headers(gateway), timeout=30)
    assert again.status_code == 202 and again.json()["state"] == "accepted", "completing again changes nothing"


def test_a_url_used_twice_is_a_409(gateway, person_photos):
    order_id = _order(gateway)
    data = person_photos[1].read_bytes()
    [slot] = _slots(gateway, order_id, ("me.jpg", len(data))).json()["uploads"]
    assert requests.put(slot["url"], data=data, timeout=60).status_code == 201
    assert _error(requests.put(slot["url"], data=data, timeout=60), 409)["code"] == "upload_already_used"


def test_a_put_over_the_size_is_cut_off_and_refused(gateway):
    order_id = _order(gateway)
    [slot] = _slots(gateway, order_id, ("big.jpg", 1000)).json()["uploads"]
    url = urllib.parse.urlsplit(slot["url"])
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.putrequest("PUT", url.path)
    connection.putheader("Content-Length", str(50 * 1024 * 1024))
    connection.endheaders()
    connection.send(b"\xff" * 65536)  # the answer comes before the rest is sent
    error = _error(connection.getresponse(), 413)
    connection.close()
    assert error["code"] in ("file_too_large", "request_too_large")
    over_announced = requests.put(slot["url"], data=b"\xff" * 1001, timeout=30)
    assert _error(over_announced, 413)["code"] == "file_too_large"
    assert _blobs(gateway, order_id) == [], "nothing of it is kept"


def test_a_completed_upload_that_is_not_an_image_is_rejected_with_a_verdict(gateway):
    order_id = _order(gateway)
    data = b"%PDF-1.7 a document, not a photo" * 100
    [slot] = _slots(gateway, order_id, ("me.jpg", len(data))).json()["uploads"]
    assert requests.put(slot["url"], data=data, timeout=30).status_code == 201
    photo = _photo(gateway, slot)
    assert (photo["state"], photo["reason_code"]) == ("rejected", "not_an_image") and photo["message"]
    assert _blobs(gateway, order_id) == []


def test_an_expired_url_is_a_403(gateway, person_photos):
    order_id = _order(gateway)
    data = person_photos[2].read_bytes()
    [slot] = _slots(gateway, order_id, ("late.jpg", len(data))).json()["uploads"]
    time.sleep(TTL_S + 1.5)
    assert _error(requests.put(slot["url"], data=data, timeout=30), 403)["code"] == "upload_url_expired"
    forged = slot["url"][:-4] + "abcd"
    assert _error(requests.put(forged, data=data, timeout=30), 403)["code"] == "upload_url_invalid"
    assert _blobs(gateway, order_id) == []


def test_uploads_to_another_tenants_order_are_404s(gateway, person_photos):
    order_id = _order(gateway)
    assert _error(_slots(gateway, order_id, ("x.jpg", 10), key=gateway.other_key), 404)["code"] == "not_found"
    [slot] = _slots(gateway, order_id, ("mine.jpg", 10)).json()["uploads"]
    complete = requests.post(f"{gateway.http}{slot['complete_url']}", headers=_headers(gateway, gateway.other_key))
    assert _error(complete, 404)["code"] == "not_found"
    photo = requests.get(f"{gateway.http}{slot['status_url']}", headers=_headers(gateway, gateway.other_key))
    assert _error(photo, 404)["code"] == "not_found"


def test_an_order_deleted_while_its_photos_are_checking_keeps_nothing_naming_them(gateway, person_photos):
    order_id = _order(gateway, webhook_url="http://127.0.0.1:9/hooks")
    gateway.stop("photo-checker")  # the photos wait, checking, while the order is deleted
    try:
        files = [
            ("files", (f"private-name-{i}.jpg", p.read_bytes(), "image/jpeg")) for i, p in enumerate(person_photos)
        ]
        uploaded = requests.post(
            f"{gateway.http}/v1/orders/{order_id}/photos",
            files=files + [("files", ("private-name-x.txt", b"not a photo", "text/plain"))],
            headers={**_headers(gateway), "Prefer": "respond-async"},
            timeout=60,
        )
        assert uploaded.status_code == 202 and {r["state"] for r in uploaded.json()["results"]} == {"checking"}
        assert any(blob_layout.is_quarantine_key(k) for k in _blobs(gateway, order_id))
        assert requests.delete(f"{gateway.http}/v1/orders/{order_id}", headers=_headers(gateway)).status_code == 200
    finally:
        gateway.start_checker()
    time.sleep(10)  # the checker reads the photos' events: nothing is left to check
    status = requests.get(f"{gateway.http}/v1/orders/{order_id}", headers=_headers(gateway), timeout=30).json()
    assert status["state"] == "deleted" and status["photos"] == []
    assert _blobs(gateway, order_id) == []
    deliveries = requests.get(
        f"{gateway.http}/v1/orders/{order_id}/webhook-deliveries", headers=_headers(gateway), timeout=30
    ).text
    assert "private-name" not in deliveries and "private-name" not in status.__repr__()


def test_s3_presigned_posts_take_one_photo_of_at_most_its_size(s3_gateway, person_photos):
    gateway = s3_gateway
    order_id = _order(gateway)
    data = person_photos[0].read_bytes()
    [slot, small] = _slots(gateway, order_id, ("me.jpg", len(data)), ("small.jpg", 100)).json()["uploads"]
    assert slot["method"] == "POST" and slot["fields"]["key"].endswith(
        blob_layout.quarantine_key(order_id, slot["photo_id"])
    )
    complete = requests.post(f"{gateway.http}{slot['complete_url']}", headers=_headers(gateway), timeout=30)
    assert _error(complete, 409)["code"] == "upload_missing"
    # S3 refuses a file over the policy's content-length range (400 EntityTooLarge); the test server takes it, and
    # then the completion call, which checks the size itself, refuses it: either way nothing of it is kept.
    refused = requests.post(small["url"], data=small["fields"], files={"file": ("small.jpg", data)}, timeout=30)
    if refused.status_code not in (400, 403):
        late = requests.post(f"{gateway.http}{small['complete_url']}", headers=_headers(gateway), timeout=30)
        assert _error(late, 413)["code"] == "file_too_large"
    assert blob_layout.quarantine_key(order_id, small["photo_id"]) not in _blobs(gateway, order_id)
    posted = requests.post(slot["url"], data=slot["fields"], files={"file": ("me.jpg", data)}, timeout=30)
    assert posted.status_code in (200, 201, 204), posted.text
    complete = requests.post(f"{gateway.http}{slot['complete_url']}", headers=_headers(gateway), timeout=30)
    assert complete.status_code == 202 and complete.json()["state"] in ("checking", "accepted")
    assert _photo(gateway, slot)["state"] == "accepted"
    assert not any(blob_layout.is_quarantine_key(k) for k in _blobs(gateway, order_id))
