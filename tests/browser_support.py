"""The keyboard-only browser journeys' helpers (tests/test_studio.py, tests/test_studio_teams.py): Debian's
Chromium driven by Playwright (the `browser` fixture of tests/conftest.py), numbered screenshots with an axe-core
pass on each page, and moving through a page as a keyboard user does."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from headshots_tools.localstack import REPO_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("HEADSHOTS_VAR_DIR", REPO_ROOT / "var")) / "artifacts"
PASSWORD = "correct horse battery"


class Journey:
    """Screenshots numbered in order under var/artifacts/<name>/, and an accessibility pass on each page."""

    def __init__(self, page, name: str = "studio"):
        self.page, self.step = page, 0
        self.artifacts = ARTIFACTS / name
        self.artifacts.mkdir(parents=True, exist_ok=True)

    def shot(self, name: str) -> None:
        self.step += 1
        self.page.screenshot(path=self.artifacts / f"{self.step:02d}-{name}.png", full_page=True)

    def accessible(self) -> None:
        """No serious or critical axe-core violation on the page as it is now."""
        from axe_playwright_python.sync_playwright import Axe

        violations = Axe().run(self.page).response["violations"]
        serious = [
            f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], f"{self.page.url}: {serious}"


def new_page(context):
    """A page of `context` that catches the file picker from the start: Playwright turns catching it on when a page
    first listens for it, without waiting for the browser, so a Space pressed at once could open the browser's own
    picker instead (and no `filechooser` event comes)."""
    page = context.new_page()
    page.on("filechooser", lambda _chooser: None)
    return page


def tab_to(page, selector: str, limit: int = 120) -> None:
    """Press Tab until `selector` has the focus, as a keyboard user moves through the page (from where the focus
    is, round the page once at most); fails when the element cannot be reached by Tab."""
    target = page.locator(selector).first
    for _ in range(limit):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} cannot be reached with the Tab key on {page.url}")


def arrow_to(page, selector: str, key: str, value: str | None = None, limit: int = 12) -> None:
    """Press an arrow key in the focused radio group or list until `selector` is checked (a radio) or has
    `value` (a select): how a keyboard user changes a choice."""
    target = page.locator(selector)
    for _ in range(limit):
        done = target.is_checked() if value is None else target.input_value() == value
        if done:
            return
        page.keyboard.press(key)
    raise AssertionError(f"{key} never reached {selector} {value or ''}")


def sign_in(page, email: str, password: str) -> None:
    tab_to(page, "#email")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
