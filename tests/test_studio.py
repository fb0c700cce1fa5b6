"""The consumer web studio in a real browser (Debian's Chromium, driven by Playwright) on the real stack.

One journey, as a consumer walks it: a failed sign-in, sign-up, a new order with a style picked from its
swatch, drag-and-drop uploads with each photo's verdict (one rejected, with the reason), live progress, the
gallery (filter, large view, one and all downloads), more headshots in another style, "my orders", deletion
with its receipt, and the e-mail. Every page gets an axe-core pass (no serious or critical violation) and a
screenshot under var/test/artifacts/studio/; the phone-sized and keyboard-only checks run on the same pages.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from headshots_tools.demo import DEMO_PHOTOS
from headshots_tools.localstack import REPO_ROOT

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("HEADSHOTS_VAR_DIR", REPO_ROOT / "var")) / "artifacts" / "studio"
PASSWORD = "correct horse battery"
ORDER_TIMEOUT_MS = 600_000


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium (make browser)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


class Journey:
    """Screenshots numbered in order, and an accessibility pass on each page."""

    def __init__(self, page):
        self.page, self.step = page, 0

    def shot(self, name: str) -> None:
        self.step += 1
        self.page.screenshot(path=ARTIFACTS / f"{self.step:02d}-{name}.png", full_page=True)

    def accessible(self) -> None:
        from axe_playwright_python.sync_playwright import Axe

        violations = Axe().run(self.page).response["violations"]
        serious = [
            f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], f"{self.page.url}: {serious}"


def test_the_whole_consumer_journey_in_a_browser(stack, browser, tmp_path):
    base = stack.gateway_url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    journey = Journey(page)
    email = f"ada-{os.getpid()}@example.com"

    # Signed out, the studio asks to sign in; a wrong password is said plainly.
    response = page.goto(f"{base}/studio/")
    assert page.url.endswith("/studio/signin") and response is not None
    assert "script-src 'self'" in (page.request.get(f"{base}/studio/signin").headers["content-security-policy"])
    journey.accessible()
    page.fill("#email", email)
    page.fill("#password", "not my password")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").inner_text() == "wrong email or password"
    journey.shot("sign-in-failed")

    # Sign up, by keyboard alone.
    page.goto(f"{base}/studio/signup")
    journey.accessible()
    page.focus("#name")
    page.keyboard.type("Ada")
    page.keyboard.press("Tab")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/studio/orders$"))
    assert "No orders yet" in page.inner_text("main")
    session = next(c for c in context.cookies() if c["name"] == "sessionid")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    journey.accessible()
    journey.shot("my-orders-empty")

    # A new order: the trial package, one style picked from its swatch.
    page.click("main >> text=New order")
    page.check("input[name=package][value=trial]")
    swatch = page.locator("label.style:has(input[value=corporate-navy]) .swatch")
    assert swatch.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(31, 45, 77)"
    page.check("input[name=styles][value=corporate-navy]")
    journey.accessible()
    journey.shot("new-order")
    page.click("text=Create order and add photos")
    page.wait_for_selector("#upload:not([hidden])")
    order_id = page.url.rstrip("/").rsplit("/", 1)[-1]

    # Photos, dropped on the drop zone: each shows its thumbnail and verdict; a photo without a face is
    # refused with the reason and what to do.
    photos = [*DEMO_PHOTOS]
    sky = tmp_path / "sky.png"
    Image.new("RGB", (800, 600), (90, 140, 210)).save(sky)
    drop(page, "#dropzone", [*photos, sky])
    expect(page.locator("#photos li.accepted, #photos li.rejected")).to_have_count(6, timeout=120_000)
    assert page.locator("#photos li.accepted").count() == 5
    rejected = page.locator("#photos li.rejected")
    assert rejected.count() == 1 and "sky.png" in rejected.inner_text() and "Not used:" in rejected.inner_text()
    assert page.inner_text("#accepted-count") == "5" and page.is_enabled("#submit-order")
    # Before submitting: a readiness score and what would make the result better.
    expect(page.locator("#advice")).to_contain_text("Add 5 more photo(s)")
    assert 0 < int(page.inner_text("#readiness-score")) < 100
    journey.accessible()
    journey.shot("photos-checked")

    # Submit: live progress with stage, percent and ETA, until the gallery.
    page.click("#submit-order")
    page.wait_for_selector("#progress:not([hidden])")
    assert page.get_attribute("#progressbar", "role") == "progressbar"
    journey.shot("progress")
    page.wait_for_selector("#gallery:not([hidden])", timeout=ORDER_TIMEOUT_MS)
    expect(page.locator("#grid li")).to_have_count(4)
    journey.accessible()
    journey.shot("gallery")

    # The large view, closed with Escape; the style filter; one download and the zip.
    page.click("#grid li:first-child button")
    assert page.is_visible("#viewer") and page.get_attribute("#viewer-image", "src")
    journey.shot("large-view")
    page.keyboard.press("Escape")
    assert not page.is_visible("#viewer")
    page.select_option("#style-filter", "corporate-navy")
    expect(page.locator("#message")).to_contain_text("in corporate-navy")
    with page.expect_download() as download:
        page.click("#download-all")
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert len([n for n in archive.namelist() if n.endswith(".png")]) >= 4

    # More in another style, without new photos.
    page.select_option("#style-filter", "")
    page.select_option("#more-style", "tech-grey")
    page.fill("#more-count", "1")
    page.click("#more button[type=submit]")
    expect(page.locator("#grid li")).to_have_count(5, timeout=ORDER_TIMEOUT_MS)
    assert "tech-grey" in page.inner_text("#grid")
    journey.shot("more-rendered")

    # The e-mail said so, with a link back to the order.
    mail = "\n".join(p.read_text() for p in (stack.var_dir / "mail").glob("*.log"))
    assert email in mail and "headshots are ready" in mail and f"/studio/orders/{order_id}" in mail

    # My orders, on a phone-sized screen: no sideways scrolling.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=context.storage_state())
    small = phone.new_page()
    small.goto(f"{base}/studio/orders")
    assert "Completed" in small.inner_text("table")
    assert small.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    Journey(small).accessible()
    small.screenshot(path=ARTIFACTS / "phone-my-orders.png", full_page=True)
    small.goto(f"{base}/studio/orders/{order_id}")
    expect(small.locator("#grid li")).to_have_count(5)
    assert small.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    small.screenshot(path=ARTIFACTS / "phone-gallery.png", full_page=True)
    phone.close()

    # Without the page's CSRF token the API refuses a change made with the session cookie.
    refused = page.evaluate(
        """async (id) => (await fetch(`/v1/orders/${id}`, {method: "DELETE", credentials: "same-origin"})).status""",
        order_id,
    )
    assert refused == 403

    # Delete my data: the receipt is shown, and nothing of the order is left.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-order")
    page.wait_for_selector("#deleted:not([hidden])")
    receipt = page.inner_text("#receipt")
    assert re.search(r"Files remaining\s+0", receipt) and re.search(r"Photos deleted\s+5", receipt)
    journey.accessible()
    journey.shot("deleted-receipt")
    context.close()


def drop(page, selector: str, paths: list[Path]) -> None:
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
