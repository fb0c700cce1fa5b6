"""The partner API over REST (`/v1/...`, JSON), with requests.

Photos go straight to the store by the upload URLs the API hands out (`POST /v1/orders/{id}/uploads`), never
through the API's own workers. Downloads resume where a broken one stopped (`Range` with `If-Range`, so two versions
of a file are never spliced) and are checked against the file's SHA-256 (`Repr-Digest`) before they are kept.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import requests

from headshots_client import errors
from headshots_client.base import (
    HeadshotsClient,
    PhotoInput,
    deadline_of,
    last_id,
    order_id,
    read_photos,
    target_path,
    team_id,
)
from headshots_client.models import (
    DeletionReceipt,
    Headshot,
    Order,
    PhotoResult,
    Render,
    Report,
    Style,
    Team,
    TeamInvitation,
    TeamMember,
    TeamPick,
    TeamUsage,
    UploadResult,
)
from headshots_client.retry import RetryPolicy, with_retries
from headshots_client.transport import KEY_ENV, LOCAL_REST_URL, URL_ENV, Transport, rest_base_url

USER_AGENT = "headshots-client-python/1 (rest)"
CHUNK = 64 * 1024
UNDECIDED = ("uploading", "checking")


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def api_error(response: requests.Response) -> errors.ApiError:
    """The API's error envelope ({"error": {"code", "message", "details"}}) as its exception."""
    try:
        body = response.json()["error"]
        code, message, details = body["code"], body["message"], body.get("details") or {}
    except (ValueError, KeyError, TypeError):
        code, message, details = "http_" + str(response.status_code), response.text[:200] or response.reason, {}
    kind = errors.BY_HTTP_STATUS.get(response.status_code, errors.InternalError)
    return kind(code, message, details=details, http_status=response.status_code, retry_after_s=_retry_after(response))


class RestClient(HeadshotsClient):
    """`RestClient(api_key, base_url)`: the key from HEADSHOTS_API_KEY and the URL from HEADSHOTS_API_URL when not
    given (else the local stack). TLS for every host that is not this machine; `ca_file` trusts a private CA."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout_s: float = 60.0,
        retry: RetryPolicy = RetryPolicy(),
        ca_file: str = "",
        insecure: bool = False,
    ):
        key = api_key or os.environ.get(KEY_ENV)
        if not key:
            raise errors.TransportError(f"no API key: pass api_key or set {KEY_ENV}")
        transport = Transport(ca_file=ca_file, insecure=insecure)
        self.base_url = rest_base_url(base_url or os.environ.get(URL_ENV) or LOCAL_REST_URL, transport)
        self.timeout_s, self.retry = timeout_s, retry
        self._session = requests.Session()
        self._session.headers.update({"Authorization": f"Bearer {key}", "User-Agent": USER_AGENT})
        if ca_file:
            self._session.verify = ca_file

    # -- the wire --------------------------------------------------------------------------------------------------
    def _send(self, method: str, url: str, *, idempotent: bool, session: Any = None, **kwargs) -> requests.Response:
        """One logical call, retried as the policy allows; an answer of 400 or more raises its ApiError."""
        sender = session or self._session
        kwargs.setdefault("timeout", self.timeout_s)

        def attempt() -> requests.Response:
            try:
                response = sender.request(method, url, **kwargs)
            except requests.exceptions.SSLError as exc:
                raise errors.ConnectionFailed(f"no TLS connection to {url}: {exc}") from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise errors.ConnectionFailed(f"cannot reach {url}: {exc}") from None
            if response.status_code >= 400:
                raise api_error(response)
            return response

        return with_retries(attempt, self.retry, idempotent=idempotent)

    def _json(self, method: str, path: str, *, idempotent: bool = True, **kwargs) -> Any:
        return self._send(method, f"{self.base_url}{path}", idempotent=idempotent, **kwargs).json()

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        url: str | None = f"{self.base_url}{path}"
        while url:
            page = self._send("GET", url, idempotent=True, params=params).json()
            yield from page["results"]
            url, params = page["next"], {}  # `next` carries the query

    # -- orders ----------------------------------------------------------------------------------------------------
    def create_order(
        self,
        package: str,
        styles: list[str],
        *,
        subject_class: str | None = None,
        retention_hours: int | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Order:
        body: dict[str, Any] = {"package": package, "styles": list(styles)}
        optional = {"subject_class": subject_class, "retention_hours": retention_hours, "webhook_url": webhook_url}
        body |= {name: value for name, value in optional.items() if value is not None}
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        return Order.from_json(self._json("POST", "/v1/orders", json=body, headers=headers))

    def get_order(self, order: str) -> Order:
        return Order.from_json(self._json("GET", f"/v1/orders/{order_id(order)}"))

    def list_orders(self, *, page_size: int = 50) -> Iterator[Order]:
        for body in self._pages("/v1/orders", {"limit": min(page_size, 100)}):
            yield Order.from_json(body)

    def upload_photos(self, order: str, photos: Iterable[PhotoInput], *, wait_s: float = 60.0) -> UploadResult:
        oid, files = order_id(order), read_photos(photos)
        announced = [{"filename": name, "size": len(data)} for name, data in files]
        # Not idempotent (each call reserves slots): retried only when the API answered that it did nothing.
        slots = self._json("POST", f"/v1/orders/{oid}/uploads", idempotent=False, json={"files": announced})["uploads"]
        results: dict[str, PhotoResult] = {}
        for (name, data), slot in zip(files, slots):
            if slot["url"] is None:  # refused before any byte went: the order's cap
                results[name] = PhotoResult(name, False, "rejected", None, slot["reason_code"], slot["message"])
                continue
            self._put_bytes(slot, name, data)
            self._send("POST", f"{self.base_url}{slot['complete_url']}", idempotent=True)
            results[name] = PhotoResult(name, False, "checking", slot["photo_id"])
        return UploadResult(tuple(self._await_verdicts(oid, results, wait_s).values()))

    def _put_bytes(self, slot: dict[str, Any], name: str, data: bytes) -> None:
        """The bytes to the slot's URL: the URL is the credential, so the API key never goes with them."""
        plain = requests.Session()
        plain.headers["User-Agent"] = USER_AGENT
        plain.verify = self._session.verify
        try:
            if slot["method"] == "PUT":
                self._send("PUT", slot["url"], idempotent=True, session=plain, data=data)
            else:  # an S3 form POST: its fields first, the file last
                files = {"file": (name, data)}
                self._send("POST", slot["url"], idempotent=True, session=plain, data=slot["fields"], files=files)
        finally:
            plain.close()

    def _await_verdicts(self, oid: str, results: dict[str, PhotoResult], wait_s: float) -> dict[str, PhotoResult]:
        """The photo checker's verdict on each uploaded photo, polled from the order until `wait_s` has passed."""
        deadline = time.monotonic() + wait_s
        pending = {r.photo_id: name for name, r in results.items() if r.state == "checking"}
        while pending:
            for photo in self.get_order(oid).photos:
                name = pending.get(photo.id)
                if name is not None and photo.state not in UNDECIDED:
                    accepted = photo.state == "accepted"
                    results[name] = PhotoResult(name, accepted, photo.state, photo.id, photo.reason_code, photo.message)
                    del pending[photo.id]
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        return results

    def submit_order(self, order: str) -> Order:
        return Order.from_json(self._json("POST", f"/v1/orders/{order_id(order)}/submit"))

    def watch_order(self, order: str, *, timeout_s: float | None = None, poll_s: float = 1.0) -> Iterator[Order]:
        """Polls the order's status (one cheap read) every `poll_s`, yielding it when it changed."""
        deadline, last = deadline_of(timeout_s), None
        while True:
            current = self.get_order(order)
            seen = (current.state, current.progress, current.headshots_ready, current.photos)
            if seen != last:
                last = seen
                yield current
            if current.final:
                return
            if time.monotonic() + poll_s > deadline:
                raise TimeoutError(f"order {current.id} is still {current.state} after {timeout_s}s")
            time.sleep(poll_s)

    def accept_order(self, order: str) -> Order:
        return Order.from_json(self._json("POST", f"/v1/orders/{order_id(order)}/accept"))

    def delete_order(self, order: str) -> DeletionReceipt:
        return DeletionReceipt.from_json(self._json("DELETE", f"/v1/orders/{order_id(order)}"))

    def get_report(self, order: str) -> Report:
        return Report.from_json(self._json("GET", f"/v1/orders/{order_id(order)}/report"))

    # -- headshots -------------------------------------------------------------------------------------------------
    def list_headshots(self, order: str, *, style_id: str | None = None, page_size: int = 50) -> Iterator[Headshot]:
        oid = order_id(order)
        params: dict[str, Any] = {"limit": min(page_size, 200)} | ({"style": style_id} if style_id else {})
        for body in self._pages(f"/v1/orders/{oid}/headshots", params):
            yield Headshot.from_json(oid, body)

    def download_headshot(self, headshot: Headshot, to: str | Path) -> Path:
        """Into `<to>/<id>.png` (or `to` itself when it ends .png) through `<file>.part`: a download that broke off
        resumes from the part's end the next time (also within the retries of this call), and the file is kept only
        when its SHA-256 matches the API's; otherwise ChecksumMismatch, and nothing is kept."""
        url = f"{self.base_url}/v1/orders/{headshot.order_id}/headshots/{headshot.id}.png"
        return self._download(url, target_path(headshot.id, to))

    def _download(self, url: str, path: Path) -> Path:
        """`url`'s file into `path` through `<path>.part`, resumed with Range and If-Range, kept only when its SHA-256
        matches the API's Repr-Digest."""
        part, etag_file = path.with_name(path.name + ".part"), path.with_name(path.name + ".part.etag")

        def attempt() -> str:
            headers = {}
            if part.exists() and etag_file.exists():
                headers = {"Range": f"bytes={part.stat().st_size}-", "If-Range": etag_file.read_text()}
            try:
                response = self._send("GET", url, idempotent=True, stream=True, headers=headers)
            except errors.ApiError as error:
                if error.http_status != 416:
                    raise
                # The part is whole already (it was not renamed yet) or longer than the file: fetch it all.
                part.unlink()
                response = self._send("GET", url, idempotent=True, stream=True)
            if response.status_code != 206:  # the whole file: start the part again
                part.unlink(missing_ok=True)
            etag_file.write_text(response.headers.get("ETag", ""))
            try:
                with open(part, "ab") as out:
                    for chunk in response.iter_content(CHUNK):
                        out.write(chunk)
            except requests.RequestException as exc:  # broke off: the next attempt resumes from here
                raise errors.ConnectionFailed(f"download of {url} broke off: {exc}") from None
            return response.headers.get("Repr-Digest", "")

        digest = with_retries(attempt, self.retry, idempotent=True)
        expected = digest.removeprefix("sha-256=:").removesuffix(":")
        actual = base64.b64encode(hashlib.sha256(part.read_bytes()).digest()).decode()
        if expected and actual != expected:
            part.unlink(missing_ok=True)
            etag_file.unlink(missing_ok=True)
            raise errors.ChecksumMismatch(f"{path.name}: SHA-256 {actual} is not the API's {expected}; not kept")
        part.replace(path)
        etag_file.unlink(missing_ok=True)
        return path

    def create_render(self, order: str, style_id: str, count: int, *, idempotency_key: str | None = None) -> Render:
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        body = {"style": style_id, "count": count}
        return Render.from_json(self._json("POST", f"/v1/orders/{order_id(order)}/renders", json=body, headers=headers))

    def list_styles(self) -> list[Style]:
        styles = self._json("GET", "/v1/styles")["results"]
        return [Style(s["id"], s["name"], s["backdrop"], s["attire"], s["lighting"]) for s in styles]

    # -- teams -----------------------------------------------------------------------------------------------------
    def create_team(self, name: str, seats: int, *, retention_hours: int | None = None) -> Team:
        body: dict[str, Any] = {"name": name, "seats": seats}
        if retention_hours is not None:
            body["retention_hours"] = retention_hours
        return Team.from_json(self._json("POST", "/v1/teams", idempotent=False, json=body))

    def get_team(self, team: str | Team) -> Team:
        return Team.from_json(self._json("GET", f"/v1/teams/{team_id(team)}"))

    def list_teams(self, *, page_size: int = 50) -> Iterator[Team]:
        """(REST answers every team at once; `page_size` is gRPC's.)"""
        for body in self._json("GET", "/v1/teams"):
            yield Team.from_json(body)

    def delete_team(self, team: str | Team) -> list[DeletionReceipt]:
        body = self._json("DELETE", f"/v1/teams/{team_id(team)}")
        return [DeletionReceipt.from_json(r) for r in body["receipts"]]

    def set_team_look(
        self,
        team: str | Team,
        style_id: str,
        *,
        backdrop_hex: str | None = None,
        attire: str | None = None,
        lighting: str | None = None,
        framing: str | None = None,
    ) -> Team:
        optional = {"backdrop_hex": backdrop_hex, "attire": attire, "lighting": lighting, "framing": framing}
        body = {"style": style_id} | {name: value for name, value in optional.items() if value}
        return Team.from_json(self._json("PUT", f"/v1/teams/{team_id(team)}/look", json=body))

    def set_team_retention(self, team: str | Team, retention_hours: int) -> Team:
        body = {"retention_hours": retention_hours}
        return Team.from_json(self._json("PUT", f"/v1/teams/{team_id(team)}/retention", json=body))

    def invite_team_member(self, team: str | Team, email: str, *, valid_days: int = 14) -> TeamInvitation:
        tid, body = team_id(team), {"email": email, "valid_days": valid_days}
        return TeamInvitation.from_json(
            tid, self._json("POST", f"/v1/teams/{tid}/invitations", idempotent=False, json=body)
        )

    def create_team_invite_link(
        self, team: str | Team, max_uses: int, *, valid_days: int = 14, email_domain: str | None = None
    ) -> TeamInvitation:
        tid = team_id(team)
        body: dict[str, Any] = {"max_uses": max_uses, "valid_days": valid_days}
        if email_domain:
            body["email_domain"] = email_domain
        return TeamInvitation.from_json(tid, self._json("POST", f"/v1/teams/{tid}/links", idempotent=False, json=body))

    def revoke_team_invitation(self, team: str | Team, invitation: str | TeamInvitation) -> TeamInvitation:
        tid = team_id(team)
        body = self._json("DELETE", f"/v1/teams/{tid}/invitations/{last_id(invitation)}")
        return TeamInvitation.from_json(tid, body)

    def list_team_members(self, team: str | Team, *, page_size: int = 50) -> Iterator[TeamMember]:
        """(REST answers every member at once; `page_size` is gRPC's.)"""
        for body in self._json("GET", f"/v1/teams/{team_id(team)}/members")["results"]:
            yield TeamMember.from_json(body)

    def set_team_pick_state(self, team: str | Team, pick: str | TeamPick, state: str) -> TeamPick:
        path = f"/v1/teams/{team_id(team)}/picks/{last_id(pick)}"
        return TeamPick.from_json(self._json("PATCH", path, json={"state": state}))

    def team_picks_archive(self, team: str | Team) -> bytes:
        return self._send("GET", f"{self.base_url}/v1/teams/{team_id(team)}/picks.zip", idempotent=True).content

    def download_team_pick(self, team: str | Team, pick: str | TeamPick, to: str | Path) -> Path:
        url = f"{self.base_url}/v1/teams/{team_id(team)}/picks/{last_id(pick)}.png"
        return self._download(url, target_path(last_id(pick), to))

    def remove_team_member(self, team: str | Team, member: str | TeamMember) -> list[DeletionReceipt]:
        body = self._json("DELETE", f"/v1/teams/{team_id(team)}/members/{last_id(member)}")
        return [DeletionReceipt.from_json(r) for r in body["receipts"]]

    def remind_team_members(self, team: str | Team) -> int:
        return self._json("POST", f"/v1/teams/{team_id(team)}/reminders", idempotent=False)["reminded"]

    def team_usage(self, team: str | Team) -> TeamUsage:
        body = self._json("GET", f"/v1/teams/{team_id(team)}/usage")
        return TeamUsage(body["seats"], body["seats_used"], body["headshots_delivered"])

    def close(self) -> None:
        self._session.close()
