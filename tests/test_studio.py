"""The consumer web studio in a real browser (Debian's Chromium, driven by Playwright) on the real stack.

One journey, as a consumer walks it, with the keyboard alone (Tab to move, Enter and Space to act, arrow keys in
radio groups and lists, Escape to close; no mouse): a failed sign-in, sign-up, signing in before the e-mail is
verified, a new order with a style picked from its swatch, photos chosen in the file picker with each photo's
verdict (one rejected, with the reason), starting it refused until the link e-mailed (sent again on request) is
followed, live progress, the gallery (filter, large view, the zip), more headshots in another style, "my orders",
deletion with its receipt, and the e-mail. Every control is reached by Tab from the top of its page, so the test
fails when one cannot be. Every page gets an axe-core pass (no serious or critical violation) and a screenshot under
var/test/artifacts/studio/; the phone-sized check runs on the same pages. Drag-and-drop is tested apart
(services/gateway/tests/test_studio_photos.py).
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import pytest
from browser_support import PASSWORD, Journey, arrow_to, new_page, sign_in, tab_to
from PIL import Image
from playwright.sync_api import expect

from headshots_tools.demo import DEMO_PHOTOS
from headshots_tools.mailbox import mail_dir, wait_for_link

pytestmark = pytest.mark.e2e

ORDER_TIMEOUT_MS = 600_000


def test_the_whole_consumer_journey_by_keyboard(stack, browser, tmp_path):
    base = stack.gateway_url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = new_page(context)
    journey = Journey(page)
    email = f"ada-{os.getpid()}@example.com"

    # Signed out, the studio asks to sign in; a wrong password is said plainly.
    response = page.goto(f"{base}/studio/")
    assert page.url.endswith("/studio/signin") and response is not None
    assert "script-src 'self'" in (page.request.get(f"{base}/studio/signin").headers["content-security-policy"])
    journey.accessible()
    sign_in(page, email, "not my password")
    assert page.get_by_role("alert").inner_text() == "wrong email or password"
    journey.shot("sign-in-failed")

    # Sign up: the studio asks to open the e-mail it sent.
    tab_to(page, "a[href='/studio/signup']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/studio/signup$"))
    journey.accessible()
    tab_to(page, "#name")
    page.keyboard.type("Ada")
    page.keyboard.press("Tab")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Check your e-mail")
    journey.accessible()
    journey.shot("check-your-email")

    # Signing in works before the address is verified: an order can be prepared.
    page.goto(f"{base}/studio/signin")
    sign_in(page, email, PASSWORD)
    page.wait_for_url(re.compile(r"/studio/orders$"))
    assert "No orders yet" in page.inner_text("main") and "Verify your e-mail" in page.inner_text("#verify-notice")
    session = next(c for c in context.cookies() if c["name"] == "sessionid")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    journey.accessible()
    journey.shot("my-orders-empty")

    # A new order: the trial package (arrow keys in the radio group), one style picked from its swatch (Space).
    tab_to(page, "main a[href='/studio/orders/new']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/studio/orders/new$"))
    tab_to(page, "input[name=package]:checked")
    arrow_to(page, "input[name=package][value=trial]", "ArrowLeft")
    swatch = page.locator("label.style:has(input[value=corporate-navy]) .swatch")
    expect(swatch).to_have_css("background-color", "rgb(31, 45, 77)")  # painted by the script once the page loads
    tab_to(page, "input[name=styles][value=corporate-navy]")
    page.keyboard.press("Space")
    expect(page.locator("input[name=styles][value=corporate-navy]")).to_be_checked()
    journey.accessible()
    journey.shot("new-order")
    tab_to(page, "main button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#upload:not([hidden])")
    order_id = page.url.rstrip("/").rsplit("/", 1)[-1]

    # Photos, chosen in the file picker the focused drop zone opens: each shows its verdict; a photo without a
    # face is refused with the reason and what to do.
    sky = tmp_path / "sky.png"
    Image.new("RGB", (800, 600), (90, 140, 210)).save(sky)
    tab_to(page, "#photo-input")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files([*DEMO_PHOTOS, sky])
    expect(page.locator("#photos li.accepted, #photos li.rejected")).to_have_count(6, timeout=120_000)
    assert page.locator("#photos li.accepted").count() == 5
    rejected = page.locator("#photos li.rejected")
    assert rejected.count() == 1 and "sky.png" in rejected.inner_text() and "Not used:" in rejected.inner_text()
    expect(page.locator("#accepted-count")).to_have_text("5")
    assert page.is_enabled("#submit-order")
    # Before submitting: a readiness score and what would make the result better.
    expect(page.locator("#advice")).to_contain_text("Add 5 more photo(s)")
    assert 0 < int(page.inner_text("#readiness-score")) < 100
    journey.accessible()
    journey.shot("photos-checked")

    # Starting it needs the e-mail verified: the page says so, and moves the focus to the offer of a new link.
    tab_to(page, "#submit-order")
    page.keyboard.press("Enter")
    expect(page.locator("#problem")).to_contain_text("verify your e-mail address first")
    expect(page.locator("#verify-notice button")).to_be_focused()
    journey.shot("verify-first")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Check your e-mail")
    # The newest link, followed from the e-mail: one confirmation signs in.
    link = wait_for_link(mail_dir(stack.var_dir), email, "/studio/verify", count=2)
    page.goto(link)
    journey.accessible()
    journey.shot("confirm-email")
    tab_to(page, "main button[type=submit]")
    page.keyboard.press("Enter")
    # Back on the order page the new link was asked from: verified, and the photos still there.
    page.wait_for_url(re.compile(rf"/studio/orders/{order_id}\?verified=1$"))
    assert "is verified" in page.inner_text("main") and page.locator("#verify-notice").count() == 0
    expect(page.locator("#accepted-count")).to_have_text("5")

    # Submit: live progress with stage, percent and ETA, until the gallery.
    tab_to(page, "#submit-order")
    page.keyboard.press("Enter")
    page.wait_for_selector("#progress:not([hidden])")
    assert page.get_attribute("#progressbar", "role") == "progressbar"
    journey.shot("progress")
    page.wait_for_selector("#gallery:not([hidden])", timeout=ORDER_TIMEOUT_MS)
    expect(page.locator("#grid li")).to_have_count(4)
    journey.accessible()
    journey.shot("gallery")

    # The large view, opened with Enter and closed with Escape; the style filter; the zip.
    tab_to(page, "#grid li:first-child button")
    page.keyboard.press("Enter")
    assert page.is_visible("#viewer") and page.get_attribute("#viewer-image", "src")
    journey.shot("large-view")
    page.keyboard.press("Escape")
    assert not page.is_visible("#viewer")
    tab_to(page, "#style-filter")
    arrow_to(page, "#style-filter", "ArrowDown", value="corporate-navy")
    expect(page.locator("#message")).to_contain_text("in corporate-navy")
    tab_to(page, "#download-all")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert len([n for n in archive.namelist() if n.endswith(".png")]) >= 4

    # More in another style, without new photos.
    tab_to(page, "#style-filter")
    arrow_to(page, "#style-filter", "ArrowUp", value="")
    tab_to(page, "#more-style")
    arrow_to(page, "#more-style", "ArrowDown", value="tech-grey")
    page.keyboard.press("Tab")
    expect(page.locator("#more-count")).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("1")
    page.keyboard.press("Enter")  # submits the form
    expect(page.locator("#grid li")).to_have_count(5, timeout=ORDER_TIMEOUT_MS)
    assert "tech-grey" in page.inner_text("#grid")
    journey.shot("more-rendered")

    # The e-mail said so, with a link back to the order.
    mail = "\n".join(p.read_text() for p in mail_dir(stack.var_dir).glob("*.log"))
    assert email in mail and "headshots are ready" in mail and f"/studio/orders/{order_id}" in mail

    # My orders, on a phone-sized screen: no sideways scrolling.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=context.storage_state())
    small = phone.new_page()
    small.goto(f"{base}/studio/orders")
    assert "Completed" in small.inner_text("table")
    assert small.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    Journey(small).accessible()
    small.screenshot(path=journey.artifacts / "phone-my-orders.png", full_page=True)
    small.goto(f"{base}/studio/orders/{order_id}")
    expect(small.locator("#grid li")).to_have_count(5)
    assert small.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    small.screenshot(path=journey.artifacts / "phone-gallery.png", full_page=True)
    phone.close()

    # Without the page's CSRF token the API refuses a change made with the session cookie.
    refused = page.evaluate(
        """async (id) => (await fetch(`/v1/orders/${id}`, {method: "DELETE", credentials: "same-origin"})).status""",
        order_id,
    )
    assert refused == 403

    # Delete my data: the receipt is shown, with the focus on it, and nothing of the order is left.
    page.once("dialog", lambda dialog: dialog.accept())
    tab_to(page, "#delete-order")
    page.keyboard.press("Enter")
    page.wait_for_selector("#deleted:not([hidden])")
    expect(page.locator("#deleted-title")).to_be_focused()
    receipt = page.inner_text("#receipt")
    assert re.search(r"Files remaining\s+0", receipt) and re.search(r"Photos deleted\s+5", receipt)
    journey.accessible()
    journey.shot("deleted-receipt")
    context.close()
