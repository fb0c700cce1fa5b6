"""The studio's teams in a real browser (Debian's Chromium, driven by Playwright) on the real stack, keyboard only.

Issue 27's journey, as its people walk it (Tab and Shift+Tab to move, Enter and Space to act, arrow keys in lists;
no mouse, and no address typed but the studio's own and the links people are sent): the admin signs up, creates a
team, sets its look (a catalogue style in the brand's backdrop colour, attire, lighting, framing) and makes an
invitation link locked to the company's e-mail domain. Two people at that domain open the link, sign up, verify
their address and land on the join page again (no second opening of the link), join, add their photos (each one's
verdict, the readiness), start their orders (both in flight at once, each in a browser of its own), pick a
headshot each and share it with the team; someone from another domain is refused, with why. The admin sees both
members' states, approves both shared headshots, downloads the ZIP (its CSV names exactly its files), removes a
member (asked first, with the keyboard) and reads the deletion receipt; nothing is left under the removed member's
order's prefixes in the stack's bucket. Every team page gets an axe-core pass (no serious or critical violation)
and screenshots go to var/artifacts/studio-teams/.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from pathlib import Path

import pytest
from browser_support import PASSWORD, Journey, arrow_to, new_page, tab_to
from playwright.sync_api import expect
from stack_support import bucket_keys

from headshots_common import blob_layout
from headshots_tools.demo import DEMO_PHOTOS
from headshots_tools.mailbox import mail_dir, wait_for_link

pytestmark = pytest.mark.e2e

ORDER_TIMEOUT_MS = 600_000
VIEWPORT = {"width": 1280, "height": 900}


def test_a_team_by_keyboard_the_admin_and_two_members(stack, browser, s3_server, bucket):
    base, tag = stack.gateway_url, os.getpid()
    domain = f"initech-{tag}.example"
    admin_context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    admin = admin_context.new_page()
    journey = Journey(admin, "studio-teams")

    # The admin: an account (verified from the e-mail), then My teams, and a new team.
    admin.goto(f"{base}/studio/")
    sign_up(admin, stack, "Bill Lumbergh", f"bill-{tag}@{domain}")
    admin.wait_for_url(re.compile(r"/studio/orders\?verified=1$"))
    tab_to(admin, "nav a[href='/studio/teams']")
    admin.keyboard.press("Enter")
    admin.wait_for_url(re.compile(r"/studio/teams$"))
    expect(admin.locator("main")).to_contain_text("No teams yet.")
    journey.accessible()
    tab_to(admin, "#team-name")
    admin.keyboard.type("Initech")
    admin.keyboard.press("Tab")
    expect(admin.locator("#team-seats")).to_be_focused()
    admin.keyboard.press("Control+A")
    admin.keyboard.type("3")
    admin.keyboard.press("Enter")
    admin.wait_for_url(re.compile(r"/studio/teams/[0-9a-f-]{36}$"))
    dashboard = admin.url
    expect(admin.locator("h1")).to_have_text("Initech")
    assert "Not set yet" in admin.inner_text("#look-heading + p")
    journey.accessible()
    journey.shot("new-team")

    # The look: a catalogue style (arrow keys in its list), the brand's backdrop colour, attire, lighting, framing.
    tab_to(admin, "#look-style")
    arrow_to(admin, "#look-style", "ArrowDown", value="corporate-navy")
    for field, text in (("#look-backdrop", "#0A66C2"), ("#look-attire", "navy blazer"), ("#look-lighting", "soft")):
        admin.keyboard.press("Tab")
        expect(admin.locator(field)).to_be_focused()
        admin.keyboard.type(text)
    admin.keyboard.press("Tab")
    arrow_to(admin, "#look-framing", "ArrowDown", value="chest up")
    admin.keyboard.press("Tab")
    expect(admin.get_by_role("button", name="Set the look")).to_be_focused()
    admin.keyboard.press("Enter")
    expect(admin.get_by_role("status").first).to_have_text("The team's look is set.")
    look = admin.inner_text("#look-heading + p")
    assert "(brand)" in look and "#0a66c2" in look
    style_name = look.split(" · ")[0]
    journey.accessible()

    # An invitation link for the company's addresses only, shown once, in a field to copy it from.
    tab_to(admin, "#link-domain")
    admin.keyboard.type(domain)
    admin.keyboard.press("Enter")
    expect(admin.locator("#join-url")).to_be_focused()  # ready to copy (Ctrl+A, Ctrl+C)
    join_url = admin.locator("#join-url").input_value()
    assert re.fullmatch(rf"{re.escape(base)}/studio/teams/join\?token=[\w-]+", join_url)
    journey.accessible()
    journey.shot("invitation-link")

    # Two people at the domain: from the link through sign-up and verification to the join page, then joined,
    # photos in, each photo's verdict and the readiness, started. Both orders then work at once.
    bob, bob_order = member(browser, stack, join_url, "Bob Slydell", f"bob-{tag}@{domain}", journey)
    carol, carol_order = member(browser, stack, join_url, "Carol Porter", f"carol-{tag}@{domain}")

    # Meanwhile someone from another domain follows the same link: refused, and told why.
    eve_context = browser.new_context(viewport=VIEWPORT)
    eve = eve_context.new_page()
    arrive(eve, stack, join_url, "Eve", f"eve-{tag}@elsewhere-{tag}.example")
    assert domain in eve.inner_text("main")  # the page says whom the link is for before anyone tries
    tab_to(eve, "main button[type=submit]")
    eve.keyboard.press("Enter")
    expect(eve.get_by_role("alert")).to_have_text(
        f"This invitation is for e-mail addresses at {domain}. Sign in with one there."
    )
    Journey(eve, "studio-teams").accessible()
    eve.screenshot(path=journey.artifacts / "refused-join.png", full_page=True)
    eve_context.close()

    # The admin sees the two members working; never the one refused.
    reopen_dashboard(admin)
    rows = admin.inner_text("main table")
    assert f"bob-{tag}@{domain}" in rows and f"carol-{tag}@{domain}" in rows and "eve-" not in rows
    for email in (f"bob-{tag}@{domain}", f"carol-{tag}@{domain}"):  # each one's state: one word, nothing else
        assert admin.locator("main tbody tr", has_text=email).locator("td").nth(2).inner_text() in ("training", "ready")
    assert "2 of 3 seats taken" in admin.inner_text("main")

    # Each member, their headshots in: one opened large (Enter) and shared with the team.
    for page in (bob, carol):
        page.wait_for_selector("#gallery:not([hidden])", timeout=ORDER_TIMEOUT_MS)
        assert page.locator("#grid li").count() >= 1
        tab_to(page, "#grid li:first-child button")
        page.keyboard.press("Enter")
        expect(page.locator("#viewer")).to_be_visible()
        tab_to(page, "#viewer-share")
        assert page.inner_text("#viewer-share") == "Share with Initech"
        page.keyboard.press("Enter")
        expect(page.locator("#message")).to_have_text("Shared with your team.")
        expect(page.locator("#viewer")).to_be_hidden()  # closed once shared
    Journey(bob, "studio-teams").accessible()
    bob.screenshot(path=journey.artifacts / "member-shared.png", full_page=True)

    # The admin: both members picked; each shared headshot approved.
    reopen_dashboard(admin)
    for email in (f"bob-{tag}@{domain}", f"carol-{tag}@{domain}"):
        row = admin.locator("main tbody tr", has_text=email)
        expect(row.locator("td").nth(2)).to_have_text("picked")
        tab_to(admin, f"main tbody tr:has-text('{email}') button[value=approved]")
        admin.keyboard.press("Enter")
        admin.wait_for_load_state()
        expect(admin.locator("main tbody tr", has_text=email).locator("figcaption")).to_contain_text("approved")
    journey.accessible()
    journey.shot("picks-approved")

    # The ZIP: one file per approved headshot, and a CSV row (name, e-mail, file, style) for each, no more.
    tab_to(admin, "main a[href$='/picks.zip']")
    with admin.expect_download() as download:
        admin.keyboard.press("Enter")
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    files = sorted(name for name in archive.namelist() if name != "manifest.csv")
    assert sorted(row["file"] for row in rows) == files and len(files) == 2
    assert {(row["name"], row["email"], row["style"]) for row in rows} == {
        ("Bob Slydell", f"bob-{tag}@{domain}", style_name),
        ("Carol Porter", f"carol-{tag}@{domain}", style_name),
    }
    assert all(archive.read(name).startswith(b"\x89PNG") for name in files)

    # Removing Bob: asked first (the focus on the question), confirmed with the keyboard, then the receipt.
    tab_to(admin, f"main tbody tr:has-text('bob-{tag}@') button:has-text('Remove')")
    admin.keyboard.press("Enter")
    expect(admin.locator("#confirm-remove-title")).to_be_focused()
    expect(admin.locator("#confirm-remove-title")).to_have_text("Remove Bob Slydell from the team?")
    journey.accessible()
    journey.shot("confirm-removal")
    admin.keyboard.press("Tab")
    expect(admin.get_by_role("button", name="Remove and delete their data")).to_be_focused()
    admin.keyboard.press("Enter")
    expect(admin.locator("#removed-title")).to_be_focused()
    expect(admin.locator("#removed-title")).to_have_text("Bob Slydell is removed from the team")
    receipt = admin.inner_text("#removed .receipt")
    assert re.search(r"Photos deleted\s+5", receipt) and re.search(r"Files remaining\s+0", receipt)
    assert f"bob-{tag}@" not in admin.inner_text("main table") and "1 of 3 seats taken" in admin.inner_text("main")
    journey.accessible()
    journey.shot("removal-receipt")
    assert admin.url == dashboard

    # Nothing of Bob's order is left in the bucket, under any of its prefixes; his own view says it is deleted.
    for prefix in (
        blob_layout.order_prefix(bob_order),
        blob_layout.photos_prefix(bob_order),
        blob_layout.quarantine_prefix(bob_order),
        blob_layout.training_prefix(bob_order),
        blob_layout.adapter_prefix(bob_order),
        blob_layout.headshots_prefix(bob_order),
    ):
        assert bucket_keys(s3_server, bucket, "headshots/" + prefix) == [], prefix
    assert bob.request.get(f"{base}/v1/orders/{bob_order}").json()["state"] == "deleted"
    assert bucket_keys(s3_server, bucket, "headshots/" + blob_layout.headshots_prefix(carol_order)) != []
    for context in (admin_context, bob.context, carol.context):
        context.close()


def sign_up(page, stack, name: str, email: str) -> None:
    """From the sign-in page: Create an account, the form, then the e-mail's link and its one confirmation."""
    tab_to(page, "main a[href^='/studio/signup']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/studio/signup"))
    tab_to(page, "#name")
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Check your e-mail")
    page.goto(wait_for_link(mail_dir(stack.var_dir), email, "/studio/verify"))
    tab_to(page, "main button[type=submit]")
    page.keyboard.press("Enter")


def arrive(page, stack, join_url: str, name: str, email: str) -> None:
    """Someone new opens the invitation link: sign-in first, they sign up, verify, and are on the join page."""
    page.goto(join_url)
    page.wait_for_url(re.compile(r"/studio/signin\?next="))
    sign_up(page, stack, name, email)
    page.wait_for_url(re.compile(r"/studio/teams/join\?token="))
    expect(page.locator("h1")).to_have_text("Join Initech")


def member(browser, stack, join_url: str, name: str, email: str, journey: Journey | None = None):
    """A member's browser, from the link to their team order working; returns its page and the order's id."""
    context = browser.new_context(viewport=VIEWPORT)
    page = new_page(context)
    arrive(page, stack, join_url, name, email)
    if journey:
        Journey(page, "studio-teams").accessible()
        page.screenshot(path=journey.artifacts / "join.png", full_page=True)
    tab_to(page, "main button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#upload:not([hidden])")
    order_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert "Team order" in page.inner_text("h1") and page.get_attribute("#order", "data-team-id")
    tab_to(page, "#photo-input")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(DEMO_PHOTOS)
    expect(page.locator("#photos li.accepted")).to_have_count(len(DEMO_PHOTOS), timeout=120_000)
    assert 0 < int(page.inner_text("#readiness-score")) <= 100
    if journey:
        Journey(page, "studio-teams").accessible()
        page.screenshot(path=journey.artifacts / "member-photos.png", full_page=True)
    tab_to(page, "#submit-order")
    page.keyboard.press("Enter")
    page.wait_for_selector("#progress:not([hidden])")
    return page, order_id


def reopen_dashboard(page) -> None:
    """The admin goes back to the dashboard from the menu: My teams, then the team."""
    tab_to(page, "nav a[href='/studio/teams']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/studio/teams$"))
    tab_to(page, "main a[href^='/studio/teams/']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/studio/teams/[0-9a-f-]{36}$"))
