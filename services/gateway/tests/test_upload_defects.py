"""Defects of the upload path that checked photos inside the request (issue 22), each proven with real processes:

- an upload racing a DELETE from another process must leave no Photo row (the order's state is checked again under
  its lock, and the re-purge sweep removes rows as well as blobs);
- concurrent uploads from several gateway processes must never take an order past its photo cap (counted under
  the order's lock);
- an upload's raw bytes (EXIF included) must never be spooled to the temp folder: they stream into the order's
  quarantine area in the blob store, which deleting the order purges.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image

from gateway.blobs import blob_store
from headshots_common import blob_layout, blobstore
from headshots_tools.live_gateway import database_params, live_gateway
from headshots_tools.localstack import GATEWAY_DIR
from orders.models import Photo

from .support import database_url

PEOPLE = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "people"
DELETE_ORDER = """
import django; django.setup()
from orders.models import Order
from orders.services import retention
retention.delete_order(Order.objects.get(pk="{order_id}"))
"""


def _delete_from_another_process(order_id: str) -> None:
    env = dict(os.environ, DATABASE_URL=database_url(), DJANGO_SETTINGS_MODULE="gateway.settings")
    subprocess.run(
        [sys.executable, "-c", DELETE_ORDER.format(order_id=order_id)],
        cwd=GATEWAY_DIR,
        env=env,
        check=True,
        timeout=120,
    )


@pytest.mark.django_db(transaction=True)
def test_an_upload_racing_a_deletion_from_another_process_leaves_no_photo_row(api, person_photos, monkeypatch):
    """The photo's bytes are written; before its row is, another process deletes the order."""
    order = api.post("/v1/orders", {"package": "trial", "styles": ["tech-grey"]}, format="json").json()
    prefix = blob_layout.order_prefix(order["id"])
    real_guarded = blobstore._BlobStore._guarded
    deleted = threading.Event()

    def write_then_delete(self, key, write):
        result = real_guarded(self, key, write)
        if key.startswith(prefix) and not deleted.is_set():
            deleted.set()
            _delete_from_another_process(order["id"])
        return result

    monkeypatch.setattr(blobstore._BlobStore, "_guarded", write_then_delete)
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(person_photos[0].name, person_photos[0].read_bytes())
    response = api.post(
        f"/v1/orders/{order['id']}/photos", {"files": [upload]}, format="multipart", HTTP_PREFER="respond-async"
    )

    assert deleted.is_set()
    assert response.status_code == 409 and response.json()["error"]["code"] == "order_not_open", response.content
    assert not Photo.objects.filter(order_id=order["id"]).exists()
    assert blob_store().list(prefix) == []


def _portraits() -> list[Path]:
    return sorted((PEOPLE / "franck").glob("*.jpg")) + sorted((PEOPLE / "barack-obama").glob("*.jpg"))


@pytest.mark.parametrize("database", database_params())
def test_concurrent_uploads_from_several_processes_never_pass_the_photo_cap(tmp_path, database):
    """A cap of 2 photos, and 20 uploads at once (10x the cap) through gunicorn's two worker processes."""
    cap, uploads = 2, 20
    env = {"HEADSHOTS_MAX_PHOTOS": str(cap), "HEADSHOTS_RATE_LIMIT": "100000/min"}
    with live_gateway(tmp_path, database, env) as gateway:
        key = gateway.manage("partner", "create", "cap").strip()
        headers = {"Authorization": f"Bearer {key}"}
        order = requests.post(
            f"{gateway.http}/v1/orders", json={"package": "trial", "styles": ["tech-grey"]}, headers=headers, timeout=30
        ).json()
        portraits = _portraits()
        barrier = threading.Barrier(uploads)

        def upload(n: int) -> requests.Response:
            photo = portraits[n % len(portraits)]
            barrier.wait()
            return requests.post(
                f"{gateway.http}/v1/orders/{order['id']}/photos",
                files=[("files", (f"{n}-{photo.name}", photo.read_bytes(), "image/jpeg"))],
                headers={**headers, "Prefer": "respond-async"},
                timeout=120,
            )

        with ThreadPoolExecutor(uploads) as pool:
            responses = list(pool.map(upload, range(uploads)))
        assert all(r.status_code < 500 for r in responses), gateway.log()[-3000:]
        kept = [r for response in responses for r in response.json().get("results", []) if r["photo_id"]]
        assert 0 < len(kept) <= cap, kept
        photos = requests.get(f"{gateway.http}/v1/orders/{order['id']}", headers=headers, timeout=30).json()
        assert len(photos.get("photos", kept)) <= cap


def _jpeg_with_exif(size_bytes: int) -> bytes:
    """A photo over Django's in-memory upload size (2.5 MB) that carries GPS EXIF."""
    side = int((size_bytes / 1.1) ** 0.5)
    exif = Image.Exif()
    exif[0x8825] = {2: (48.0, 51.0, 24.0)}  # GPSInfo: a latitude
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="JPEG", quality=95, exif=exif)
    assert out.tell() >= size_bytes
    return out.getvalue()


def _files_holding(folder: Path, needle: bytes) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        try:
            if path.is_file() and needle in path.read_bytes():
                found.append(path)
        except OSError:  # gone meanwhile
            continue
    return found


def test_raw_upload_bytes_never_reach_the_temp_folder(tmp_path):
    """Halfway through a 3 MB upload, the bytes so far are in the order's quarantine area and nowhere else."""
    spool = tmp_path / "tmp"
    spool.mkdir()
    with live_gateway(tmp_path / "gateway", "sqlite", {"TMPDIR": str(spool)}) as gateway:
        key = gateway.manage("partner", "create", "spool").strip()
        order = requests.post(
            f"{gateway.http}/v1/orders",
            json={"package": "trial", "styles": ["tech-grey"]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        ).json()
        photo = _jpeg_with_exif(3 * 1024 * 1024)
        boundary = "photoboundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="me.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        body = head + photo + f"\r\n--{boundary}--\r\n".encode()
        url = urllib.parse.urlsplit(gateway.http)
        with socket.create_connection((url.hostname, url.port), timeout=60) as connection:
            request = (
                f"POST /v1/orders/{order['id']}/photos HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Authorization: Bearer {key}\r\nPrefer: respond-async\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            half = len(head) + len(photo) // 2
            connection.sendall(request + body[:half])
            needle = photo[len(photo) // 2 - 600_000 : len(photo) // 2 - 400_000]  # sent well before the pause
            deadline = time.monotonic() + 30
            while not (in_blobs := _files_holding(tmp_path / "gateway" / "blobs", needle)):
                if _files_holding(spool, needle) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            spooled = _files_holding(spool, needle)
            connection.sendall(body[half:])
            connection.recv(65536)
        assert spooled == [], f"raw upload bytes were spooled to the temp folder: {spooled}"
        quarantine = tmp_path / "gateway" / "blobs" / blob_layout.quarantine_prefix(order["id"])
        assert in_blobs and all(quarantine in path.parents for path in in_blobs), in_blobs
