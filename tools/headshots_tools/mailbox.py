"""The e-mails the gateway sent, read as a person reads their inbox: tests and tools follow the links in them
(verify an address, reset a password) instead of any back door.

Locally the gateway writes each e-mail to a file under its var dir (`gateway.settings`: Django's file backend,
messages separated by a line of 79 dashes); in-process tests get the same messages from Django's outbox.
"""

from __future__ import annotations

import email
import email.policy
import re
import time
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlparse

SEPARATOR = "\n" + "-" * 79 + "\n"
URL = re.compile(r"https?://[^\s<>\"]+")


def mail_dir(var_dir: Path) -> Path:
    """Where a gateway running with HEADSHOTS_VAR_DIR=`var_dir` writes its e-mails (the local default)."""
    return Path(var_dir) / "mail"


def messages(directory: Path) -> list[EmailMessage]:
    """Every e-mail written under `directory`, oldest first."""
    found: list[EmailMessage] = []
    for path in sorted(Path(directory).glob("*.log"), key=lambda p: p.stat().st_mtime_ns):
        # Each message ends with the separator: what follows the last one is a message still being written.
        for raw in path.read_text(errors="replace").split(SEPARATOR)[:-1]:
            found.append(email.message_from_string(raw, policy=email.policy.default))
    return found


def text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    return body.get_content() if body is not None else ""


def link_in(body: str, path: str) -> str | None:
    """The first link in `body` to the studio page `path` (e.g. "/studio/verify")."""
    return next((url for url in URL.findall(body) if urlparse(url).path == path), None)


def token_of(link: str) -> str:
    """The `token` a link of an account e-mail carries (what `POST /v1/auth/verify` and the reset take)."""
    return parse_qs(urlparse(link).query)["token"][0]


def wait_for_link(directory: Path, to: str, path: str, *, count: int = 1, timeout_s: float = 30) -> str:
    """The newest link to `path` in the e-mails to `to`, once there are at least `count` of them."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [
            link
            for message in messages(directory)
            if to.lower() in str(message["To"]).lower() and (link := link_in(text(message), path))
        ]
        if len(found) >= count:
            return found[-1]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no e-mail to {to} with a link to {path} under {directory} after {timeout_s:.0f} s")
        time.sleep(0.2)
