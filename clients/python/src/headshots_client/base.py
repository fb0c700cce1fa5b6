"""The one set of methods both clients offer (`HeadshotsClient`), and what they build from each other's primitives:
waiting for an order, downloading every headshot, reading photos from paths."""

from __future__ import annotations

import abc
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from headshots_client.models import (
    DeletionReceipt,
    Headshot,
    Order,
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

# What upload_photos takes: a path, or a (file name, bytes) pair.
PhotoInput = str | Path | tuple[str, bytes]


def order_id(value: str) -> str:
    """An order's id from its id or its resource name (`orders/{id}`)."""
    return value.removeprefix("orders/")


def team_id(value: str | Team) -> str:
    """A team's id from its id, its resource name (`teams/{id}`) or the Team."""
    return value.id if isinstance(value, Team) else value.removeprefix("teams/")


def last_id(value: str | TeamInvitation | TeamMember | TeamPick) -> str:
    """The id of a team's invitation, member or pick, from the id, its resource name or the object."""
    if isinstance(value, str):
        return value.rsplit("/", 1)[-1]
    if value.id is None:
        raise ValueError("an e-mail invitation not taken up yet is no member: revoke the invitation instead")
    return value.id


def archive_path(team: str, to: str | Path) -> Path:
    """`to` itself when it names a .zip file, else `team-<id>.zip` in the folder `to` (made if missing)."""
    to = Path(to)
    if to.suffix.lower() == ".zip":
        to.parent.mkdir(parents=True, exist_ok=True)
        return to
    to.mkdir(parents=True, exist_ok=True)
    return to / f"team-{team}.zip"


def read_photos(photos: Iterable[PhotoInput]) -> list[tuple[str, bytes]]:
    files = []
    for photo in photos:
        if isinstance(photo, tuple):
            files.append(photo)
        else:
            path = Path(photo)
            files.append((path.name, path.read_bytes()))
    return files


class HeadshotsClient(abc.ABC):
    """The partner API: the same methods, arguments and results over REST (`RestClient`) and gRPC (`GrpcClient`).

    Every call that creates something takes an `idempotency_key` (one is made per call when none is given), so the
    client's retries never create twice; pass your own to make retries of your own safe too.
    """

    # -- orders ----------------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_order(
        self,
        package: str,
        styles: list[str],
        *,
        subject_class: str | None = None,
        retention_hours: int | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Order: ...

    @abc.abstractmethod
    def get_order(self, order: str) -> Order: ...

    @abc.abstractmethod
    def list_orders(self, *, page_size: int = 50) -> Iterator[Order]:
        """Every order of this key, newest first, fetched a page at a time as the iterator is consumed."""

    @abc.abstractmethod
    def upload_photos(self, order: str, photos: Iterable[PhotoInput], *, wait_s: float = 60.0) -> UploadResult:
        """Upload selfies (paths or (name, bytes)) and wait up to `wait_s` for the photo checker's verdicts."""

    @abc.abstractmethod
    def submit_order(self, order: str) -> Order:
        """Queue the order for training (submitting twice is harmless)."""

    @abc.abstractmethod
    def watch_order(self, order: str, *, timeout_s: float | None = None) -> Iterator[Order]:
        """The order each time it changes (state, stage, percent), ending with it final (completed, failed,
        deleted); TimeoutError after `timeout_s`."""

    @abc.abstractmethod
    def accept_order(self, order: str) -> Order:
        """Take a delivery short of its headshots as it is (the retention clock starts)."""

    @abc.abstractmethod
    def delete_order(self, order: str) -> DeletionReceipt:
        """Purge the order everywhere now; the receipt says what went (deleting again shows it again)."""

    @abc.abstractmethod
    def get_report(self, order: str) -> Report: ...

    # -- headshots -------------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def list_headshots(self, order: str, *, style_id: str | None = None, page_size: int = 50) -> Iterator[Headshot]:
        """The order's headshots, oldest first, a page at a time."""

    @abc.abstractmethod
    def download_headshot(self, headshot: Headshot, to: str | Path) -> Path:
        """The headshot's PNG into `to` (a folder: `<id>.png` in it, or a .png path), resuming a download that broke
        off and keeping it only when its SHA-256 matches the API's (ChecksumMismatch otherwise)."""

    @abc.abstractmethod
    def create_render(self, order: str, style_id: str, count: int, *, idempotency_key: str | None = None) -> Render:
        """`count` more headshots in a style from the order's adapter, without retraining."""

    @abc.abstractmethod
    def list_styles(self) -> list[Style]: ...

    # -- teams (the admin's calls; `team` is an id, `teams/{id}` or a Team) -----------------------------------------
    @abc.abstractmethod
    def create_team(self, name: str, seats: int, *, retention_hours: int | None = None) -> Team:
        """A team of `seats` seats (1 to 1000); `retention_hours` is its retention policy (default 24)."""

    @abc.abstractmethod
    def get_team(self, team: str | Team) -> Team: ...

    @abc.abstractmethod
    def list_teams(self, *, page_size: int = 50) -> Iterator[Team]:
        """The teams of this key, newest first."""

    @abc.abstractmethod
    def delete_team(self, team: str | Team) -> list[DeletionReceipt]:
        """Delete the team and every member's team order: a receipt per deleted order."""

    @abc.abstractmethod
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
        """Fix the team's look: a catalogue style, or a brand variant of it (its own backdrop "#rrggbb", attire,
        lighting, framing). Orders members start from now on render with it."""

    @abc.abstractmethod
    def set_team_retention(self, team: str | Team, retention_hours: int) -> Team:
        """The retention policy (1 hour to 35 days) for orders members start from now on."""

    @abc.abstractmethod
    def invite_team_member(self, team: str | Team, email: str, *, valid_days: int = 14) -> TeamInvitation:
        """E-mail one person an invitation that works for their address only."""

    @abc.abstractmethod
    def create_team_invite_link(
        self, team: str | Team, max_uses: int, *, valid_days: int = 14, email_domain: str | None = None
    ) -> TeamInvitation:
        """A shared link (its `token` and `join_url` shown only here); with `email_domain`, only people whose verified
        e-mail address is at that domain may join with it."""

    @abc.abstractmethod
    def revoke_team_invitation(self, team: str | Team, invitation: str | TeamInvitation) -> TeamInvitation:
        """Withdraw an e-mail invitation or a link (revoking again answers the same)."""

    @abc.abstractmethod
    def list_team_members(self, team: str | Team, *, page_size: int = 50) -> Iterator[TeamMember]:
        """Each member (and each open e-mail invitation, state "invited") with the picks they shared."""

    @abc.abstractmethod
    def set_team_pick_state(self, team: str | Team, pick: str | TeamPick, state: str) -> TeamPick:
        """Approve ("approved") or hide ("hidden") a member's shared pick."""

    @abc.abstractmethod
    def team_picks_archive(self, team: str | Team) -> bytes:
        """The approved picks as one ZIP with `manifest.csv` (name, email, file, style)."""

    @abc.abstractmethod
    def download_team_pick(self, team: str | Team, pick: str | TeamPick, to: str | Path) -> Path:
        """One shared pick's PNG, whatever its state, into `<to>/<pick id>.png` (or `to` itself when it ends .png):
        resumed and checked against the API's SHA-256 as `download_headshot` is."""

    @abc.abstractmethod
    def remove_team_member(self, team: str | Team, member: str | TeamMember) -> list[DeletionReceipt]:
        """Remove a member: their team order is deleted (its receipt) and their seat frees."""

    @abc.abstractmethod
    def remind_team_members(self, team: str | Team) -> int:
        """E-mail each member who has not started their team order; how many were. Once an hour at most
        (ResourceExhausted `reminders_rate_limited` sooner, with `retry_after_s`)."""

    @abc.abstractmethod
    def team_usage(self, team: str | Team) -> TeamUsage: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    # -- built from the above --------------------------------------------------------------------------------------
    def wait_for_order(self, order: str, *, timeout_s: float | None = None) -> Order:
        """The order once it is final (completed, failed or deleted)."""
        updates = list(self.watch_order(order, timeout_s=timeout_s))  # it ends with the order final
        return updates[-1]

    def download_headshots(self, order: str, to: str | Path) -> list[Path]:
        """Every headshot of the order into the folder `to`, one file each (`<headshot id>.png`)."""
        return [self.download_headshot(headshot, to) for headshot in self.list_headshots(order)]

    def approve_team_pick(self, team: str | Team, pick: str | TeamPick) -> TeamPick:
        return self.set_team_pick_state(team, pick, "approved")

    def hide_team_pick(self, team: str | Team, pick: str | TeamPick) -> TeamPick:
        return self.set_team_pick_state(team, pick, "hidden")

    def download_team_picks(self, team: str | Team, to: str | Path) -> Path:
        """The approved picks' ZIP into `to` (a folder: `team-<id>.zip` in it, or a .zip path)."""
        path = archive_path(team_id(team), to)
        path.write_bytes(self.team_picks_archive(team))
        return path

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def deadline_of(timeout_s: float | None) -> float:
    return time.monotonic() + timeout_s if timeout_s is not None else float("inf")


def target_path(file_id: str, to: str | Path) -> Path:
    """`to` itself when it names a .png file, else `<file_id>.png` in the folder `to` (made if missing)."""
    to = Path(to)
    if to.suffix.lower() == ".png":
        to.parent.mkdir(parents=True, exist_ok=True)
        return to
    to.mkdir(parents=True, exist_ok=True)
    return to / f"{file_id}.png"
