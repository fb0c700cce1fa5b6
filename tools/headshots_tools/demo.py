"""One real order through the REST API, as a client would place it (used by `headshots demo` and the tests)."""

from __future__ import annotations

import json
import mimetypes
import secrets
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from headshots_tools import mailbox
from headshots_tools.localstack import REPO_ROOT, Stack

# Five photos of one person that pass every check (also the tests' `person_photos`). The fixtures hold no five
# public-domain portraits of one person with the whole face in the frame: the two obama_partial_face crops are cut
# by the frame and rejected as face_cut_off, so these are frames of the FGNet Talking Face video (research use;
# tests/fixtures/people/README.md), sharp, with the head turned both ways.
DEMO_PHOTOS = [
    REPO_ROOT / "tests" / "fixtures" / "people" / "franck" / name
    for name in ("franck_04117.jpg", "franck_04000.jpg", "franck_03909.jpg", "franck_02888.jpg", "franck_02159.jpg")
]
FINAL_STATES = {"completed", "failed", "deleted"}


class ApiClient:
    """A minimal JSON + multipart client on the standard library (the demo needs nothing else)."""

    def __init__(self, base_url: str, api_key: str):
        self.base_url, self.api_key = base_url, api_key

    def request(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        files: list[Path] | None = None,
        headers: dict | None = None,
    ) -> tuple[int, dict | bytes]:
        data, content_type = None, None
        if files is not None:
            data, content_type = _multipart(files)
        elif body is not None:
            data, content_type = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.api_key}")
        if content_type:
            request.add_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, _decode(response)
        except urllib.error.HTTPError as error:
            return error.code, _decode(error)

    def json(self, method: str, path: str, expect: int, **kwargs) -> dict:
        status, payload = self.request(method, path, **kwargs)
        if status != expect or not isinstance(payload, dict):
            raise RuntimeError(f"{method} {path} answered {status}, expected {expect} with JSON: {payload!r}")
        return payload


def _decode(response):
    raw = response.read()
    if response.headers.get("Content-Type", "").startswith("application/json"):
        return json.loads(raw)
    return raw


def _multipart(files: list[Path]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for path in files:
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
            f"Content-Type: {mime}\r\n\r\n".encode()
            + path.read_bytes()
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def sign_up_consumer(gateway_url: str, mail_dir: Path, email: str, password: str) -> str:
    """A consumer account as a person makes one: sign up, open the e-mail the gateway sent, follow its link (which
    verifies the address and signs in). Returns the personal token it signs in with."""
    anonymous = ApiClient(gateway_url, "")
    anonymous.json("POST", "/v1/auth/signup", 202, body={"email": email, "password": password})
    link = mailbox.wait_for_link(mail_dir, email, "/studio/verify")
    return anonymous.json("POST", "/v1/auth/verify", 200, body={"token": mailbox.token_of(link)})["token"]


@dataclass
class DemoResult:
    order_id: str
    state: str
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    order: dict = field(default_factory=dict)
    api_key: str = ""
    email: str = ""  # the demo's consumer account: sign in to the studio with it
    password: str = ""
    contact_sheet: Path | None = None


def run_demo(
    stack: Stack,
    *,
    package: str,
    styles: list[str],
    out_dir: Path,
    console=None,
    progress_factory=None,
    timeout_s: float = 900,
) -> DemoResult:
    # A consumer account, made and verified through the e-mail as a person would: its token drives this order, and
    # its email and password open the order in the studio afterwards.
    email, password = f"demo-{uuid.uuid4().hex[:6]}@headshots.local", secrets.token_urlsafe(12)
    api_key = sign_up_consumer(stack.gateway_url, mailbox.mail_dir(stack.var_dir), email, password)
    client = ApiClient(stack.gateway_url, api_key)
    say = console.print if console else (lambda *a, **k: None)

    order = client.json("POST", "/v1/orders", 201, body={"package": package, "styles": styles})
    order_id = order["id"]
    say(f"order {order_id} created ({package}, styles: {', '.join(styles)})")
    upload = client.json("POST", f"/v1/orders/{order_id}/photos", 201, files=DEMO_PHOTOS)
    for result in upload["results"]:
        verdict = "accepted" if result["accepted"] else f"rejected ({result['reason_code']}: {result['message']})"
        say(f"  photo {result['filename']}: {verdict}")
    client.json("POST", f"/v1/orders/{order_id}/submit", 202)
    order = _follow(client, order_id, timeout_s, progress_factory)

    out = out_dir / order_id
    files = []
    if order["state"] == "completed":
        out.mkdir(parents=True, exist_ok=True)
        listing = client.json("GET", f"/v1/orders/{order_id}/headshots", 200)
        for headshot in listing["results"]:
            status, png = client.request("GET", headshot["download_url"])
            if status == 200:
                path = out / f"{headshot['style_id']}-{headshot['id']}.png"
                path.write_bytes(png)
                files.append(path)
    elif order["state"] == "failed":
        say(f"[red]order failed:[/] {order['failure_reason']}")
    sheet = contact_sheet(files, out / "contact-sheet.png") if files else None
    return DemoResult(order_id, order["state"], out, files, order, api_key, email, password, sheet)


def contact_sheet(files: list[Path], path: Path, tile: int = 256, columns: int = 5) -> Path:
    """One PNG of every headshot, in a grid, each captioned with its style."""
    from PIL import Image, ImageDraw

    rows = -(-len(files) // columns)
    caption = 20
    sheet = Image.new("RGB", (columns * tile, rows * (tile + caption)), "white")
    draw = ImageDraw.Draw(sheet)
    for n, file in enumerate(files):
        x, y = (n % columns) * tile, (n // columns) * (tile + caption)
        with Image.open(file) as image:
            sheet.paste(image.convert("RGB").resize((tile, tile)), (x, y))
        draw.text((x + 4, y + tile + 3), file.stem.rsplit("-", 5)[0], fill="black")
    sheet.save(path)
    return path


def _follow(client: ApiClient, order_id: str, timeout_s: float, progress_factory) -> dict:
    """Poll the order until it is final, showing stage, percent and the server's ETA."""
    deadline = time.monotonic() + timeout_s
    progress = progress_factory() if progress_factory else None
    task = progress.add_task("queued", total=100) if progress else None
    try:
        if progress:
            progress.start()
        while True:
            order = client.json("GET", f"/v1/orders/{order_id}", 200)
            if progress:
                progress.update(task, completed=order["progress"]["percent"], description=order["progress"]["stage"])
            if order["state"] in FINAL_STATES or time.monotonic() > deadline:
                return order
            time.sleep(0.5)
    finally:
        if progress:
            progress.stop()
