"""The studio's photos in a real browser (Debian's Chromium, driven by Playwright) against the running gateway, its
worker and two photo checkers (real processes): photos dropped at once each show their verdict as it lands, the
accepted ones with their thumbnail cropped around the face the checker found, and a photo can be removed; the
counter counts what shows Accepted, after a reload too; an error is said in the studio's words."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import requests
from PIL import Image
from playwright.sync_api import expect

from headshots_tools.live_gateway import live_gateway

pytestmark = pytest.mark.checker_processes

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PEOPLE = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "people"
PASSWORD = "correct horse battery"


@pytest.fixture
def gateway(tmp_path, kafka_bootstrap):
    env = {"HEADSHOTS_KAFKA_BOOTSTRAP": kafka_bootstrap, "HEADSHOTS_RATE_LIMIT": "100000/min"}
    with live_gateway(tmp_path, "sqlite", env) as live:
        live.start_worker()
        live.start_checker("photo-checker")
        live.start_checker("photo-checker-2")
        yield live


def _drop(page, selector: str, paths: list[Path]) -> None:
    """Drag-and-drop files onto an element, as a person dragging them from their desktop."""
    files = [
        {"name": p.name, "type": "image/png" if p.suffix == ".png" else "image/jpeg", "data": list(p.read_bytes())}
        for p in paths
    ]
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const f of files) transfer.items.add(new File([new Uint8Array(f.data)], f.name, {type: f.type}));
            return transfer;
        }""",
        files,
    )
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_dropped_photos_show_each_verdict_a_face_cropped_thumbnail_and_can_be_removed(gateway, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium (make browser)")
    from playwright.sync_api import sync_playwright

    email = "photos@example.com"
    signup = requests.post(f"{gateway.http}/v1/auth/signup", json={"email": email, "password": PASSWORD}, timeout=30)
    assert signup.status_code == 202, signup.text
    token = requests.post(f"{gateway.http}/v1/auth/token", json={"email": email, "password": PASSWORD}, timeout=30)
    bearer = {"Authorization": f"Bearer {token.json()['token']}"}
    order = requests.post(
        f"{gateway.http}/v1/orders",
        json={"package": "trial", "styles": ["tech-grey"]},
        headers=bearer,
        timeout=30,
    ).json()
    # One face to one side of a wide photo: a thumbnail of the photo's centre would miss it.
    frame = sorted((PEOPLE / "franck").glob("*.jpg"))[0]
    wide = tmp_path / "to-one-side.jpg"
    with Image.open(frame) as image:
        canvas = Image.new("RGB", (image.width * 3, image.height), (200, 200, 200))
        canvas.paste(image, (0, 0))
        canvas.save(wide, quality=92)
    sky = tmp_path / "sky.png"
    Image.new("RGB", (800, 600), (90, 140, 210)).save(sky)
    photos = [wide, *sorted((PEOPLE / "franck").glob("*.jpg"))[1:4], sky]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{gateway.http}/studio/signin")
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(re.compile(r"/studio/orders$"))
        page.goto(f"{gateway.http}/studio/orders/{order['id']}")
        page.wait_for_selector("#upload:not([hidden])")

        _drop(page, "#dropzone", photos)
        expect(page.locator("#photos li")).to_have_count(len(photos))
        expect(page.locator("#photos li.accepted, #photos li.rejected")).to_have_count(len(photos), timeout=120_000)
        assert page.locator("#photos li.accepted").count() == 4, page.inner_text("#photos")
        rejected = page.locator("#photos li.rejected")
        assert "sky.png" in rejected.inner_text() and "Not used:" in rejected.inner_text()
        assert page.inner_text("#accepted-count") == "4"

        # The face sits in the left third of the wide photo: the thumbnail is scaled and shifted to it, not centred.
        thumb = page.locator("#photos li", has_text="to-one-side.jpg").locator("img")
        expect(thumb).to_have_class(re.compile("cropped"))
        box = page.evaluate(
            "(img) => { const r = img.getBoundingClientRect(), f = img.parentElement.getBoundingClientRect();"
            " return {scale: r.width / f.width, left: (f.left - r.left) / r.width}; }",
            thumb.element_handle(),
        )
        assert box["scale"] > 2 and box["left"] < 1 / 3, box

        # The session's CSRF token is required (from the header: the body is streamed, not read as a form first).
        forged = page.evaluate(
            """async (url) => { const form = new FormData(); form.append("files", new Blob(["x"]), "x.jpg");
                 return (await fetch(url, {method: "POST", body: form, credentials: "same-origin"})).status; }""",
            f"/v1/orders/{order['id']}/photos",
        )
        assert forged == 403

        page.locator("#photos li", has_text="to-one-side.jpg").get_by_role("button", name=re.compile("Remove")).click()
        expect(page.locator("#photos li")).to_have_count(len(photos) - 1)
        expect(page.locator("#accepted-count")).to_have_text("3")
        listed = requests.get(f"{gateway.http}/v1/orders/{order['id']}/photos", headers=bearer, timeout=30).json()
        accepted = sorted(p["filename"] for p in listed["results"] if p["state"] == "accepted")
        assert accepted == [p.name for p in photos[1:4]]

        # Coming back later: the photos are listed with their verdicts, and the counter counts what shows Accepted.
        page.reload()
        expect(page.locator("#photos li")).to_have_count(len(photos) - 1)
        expect(page.locator("#photos li", has_text="Accepted")).to_have_count(3)
        expect(page.locator("#accepted-count")).to_have_text("3")

        # An error while uploading is said in the studio's words, not the API's (the order was deleted meanwhile).
        assert requests.delete(f"{gateway.http}/v1/orders/{order['id']}", headers=bearer, timeout=30).ok
        _drop(page, "#dropzone", photos[1:2])
        refused = page.locator("#photos li.rejected", has_text=photos[1].name)
        expect(refused.locator(".verdict")).to_have_text("Not uploaded: This order is no longer taking photos.")
        expect(refused.get_by_role("button", name=re.compile("Remove"))).to_be_hidden()  # nothing to remove
        browser.close()
