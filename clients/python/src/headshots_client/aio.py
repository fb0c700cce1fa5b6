"""The async clients: `AsyncRestClient` and `AsyncGrpcClient`, the same methods as the sync ones, awaited.

Each call runs the sync client's call on a worker thread (`asyncio.to_thread`), so an event loop never blocks on
the network, and both protocols keep exactly the behaviour of the sync clients (retries, idempotency keys, errors,
resumable downloads) with no second HTTP library. Iterators (`watch_order`, `list_orders`, `list_headshots`)
become async iterators that fetch each next item on a worker thread. Tasks that run calls at the same time should
each have a client of their own (a REST client's connection pool is shared by its calls).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from headshots_client.base import HeadshotsClient, PhotoInput
from headshots_client.grpc_api import GrpcClient
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
from headshots_client.rest import RestClient

T = TypeVar("T")
_DONE = object()


async def _aiter(iterator: Iterator[T]) -> AsyncIterator[T]:
    while True:
        item = await asyncio.to_thread(next, iterator, _DONE)
        if item is _DONE:
            return
        yield item  # type: ignore[misc]


class AsyncClient:
    """The awaitable face of a sync `HeadshotsClient`; use `AsyncRestClient` or `AsyncGrpcClient`."""

    def __init__(self, client: HeadshotsClient):
        self.sync = client

    async def create_order(
        self,
        package: str,
        styles: list[str],
        *,
        subject_class: str | None = None,
        retention_hours: int | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Order:
        return await asyncio.to_thread(
            self.sync.create_order,
            package,
            styles,
            subject_class=subject_class,
            retention_hours=retention_hours,
            webhook_url=webhook_url,
            idempotency_key=idempotency_key,
        )

    async def get_order(self, order: str) -> Order:
        return await asyncio.to_thread(self.sync.get_order, order)

    def list_orders(self, *, page_size: int = 50) -> AsyncIterator[Order]:
        return _aiter(self.sync.list_orders(page_size=page_size))

    async def upload_photos(self, order: str, photos: Iterable[PhotoInput], *, wait_s: float = 60.0) -> UploadResult:
        return await asyncio.to_thread(self.sync.upload_photos, order, list(photos), wait_s=wait_s)

    async def submit_order(self, order: str) -> Order:
        return await asyncio.to_thread(self.sync.submit_order, order)

    def watch_order(self, order: str, *, timeout_s: float | None = None) -> AsyncIterator[Order]:
        return _aiter(self.sync.watch_order(order, timeout_s=timeout_s))

    async def wait_for_order(self, order: str, *, timeout_s: float | None = None) -> Order:
        return await asyncio.to_thread(self.sync.wait_for_order, order, timeout_s=timeout_s)

    async def accept_order(self, order: str) -> Order:
        return await asyncio.to_thread(self.sync.accept_order, order)

    async def delete_order(self, order: str) -> DeletionReceipt:
        return await asyncio.to_thread(self.sync.delete_order, order)

    async def get_report(self, order: str) -> Report:
        return await asyncio.to_thread(self.sync.get_report, order)

    def list_headshots(
        self, order: str, *, style_id: str | None = None, page_size: int = 50
    ) -> AsyncIterator[Headshot]:
        return _aiter(self.sync.list_headshots(order, style_id=style_id, page_size=page_size))

    async def download_headshot(self, headshot: Headshot, to: str | Path) -> Path:
        return await asyncio.to_thread(self.sync.download_headshot, headshot, to)

    async def download_headshots(self, order: str, to: str | Path) -> list[Path]:
        return await asyncio.to_thread(self.sync.download_headshots, order, to)

    async def create_render(
        self, order: str, style_id: str, count: int, *, idempotency_key: str | None = None
    ) -> Render:
        return await asyncio.to_thread(self.sync.create_render, order, style_id, count, idempotency_key=idempotency_key)

    async def list_styles(self) -> list[Style]:
        return await asyncio.to_thread(self.sync.list_styles)

    # -- teams -----------------------------------------------------------------------------------------------------
    async def create_team(self, name: str, seats: int, *, retention_hours: int | None = None) -> Team:
        return await asyncio.to_thread(self.sync.create_team, name, seats, retention_hours=retention_hours)

    async def get_team(self, team: str | Team) -> Team:
        return await asyncio.to_thread(self.sync.get_team, team)

    def list_teams(self, *, page_size: int = 50) -> AsyncIterator[Team]:
        return _aiter(self.sync.list_teams(page_size=page_size))

    async def delete_team(self, team: str | Team) -> list[DeletionReceipt]:
        return await asyncio.to_thread(self.sync.delete_team, team)

    async def set_team_look(
        self,
        team: str | Team,
        style_id: str,
        *,
        backdrop_hex: str | None = None,
        attire: str | None = None,
        lighting: str | None = None,
        framing: str | None = None,
    ) -> Team:
        return await asyncio.to_thread(
            self.sync.set_team_look,
            team,
            style_id,
            backdrop_hex=backdrop_hex,
            attire=attire,
            lighting=lighting,
            framing=framing,
        )

    async def set_team_retention(self, team: str | Team, retention_hours: int) -> Team:
        return await asyncio.to_thread(self.sync.set_team_retention, team, retention_hours)

    async def invite_team_member(self, team: str | Team, email: str, *, valid_days: int = 14) -> TeamInvitation:
        return await asyncio.to_thread(self.sync.invite_team_member, team, email, valid_days=valid_days)

    async def create_team_invite_link(
        self, team: str | Team, max_uses: int, *, valid_days: int = 14, email_domain: str | None = None
    ) -> TeamInvitation:
        return await asyncio.to_thread(
            self.sync.create_team_invite_link, team, max_uses, valid_days=valid_days, email_domain=email_domain
        )

    async def revoke_team_invitation(self, team: str | Team, invitation: str | TeamInvitation) -> TeamInvitation:
        return await asyncio.to_thread(self.sync.revoke_team_invitation, team, invitation)

    def list_team_members(self, team: str | Team, *, page_size: int = 50) -> AsyncIterator[TeamMember]:
        return _aiter(self.sync.list_team_members(team, page_size=page_size))

    async def set_team_pick_state(self, team: str | Team, pick: str | TeamPick, state: str) -> TeamPick:
        return await asyncio.to_thread(self.sync.set_team_pick_state, team, pick, state)

    async def approve_team_pick(self, team: str | Team, pick: str | TeamPick) -> TeamPick:
        return await asyncio.to_thread(self.sync.approve_team_pick, team, pick)

    async def hide_team_pick(self, team: str | Team, pick: str | TeamPick) -> TeamPick:
        return await asyncio.to_thread(self.sync.hide_team_pick, team, pick)

    async def team_picks_archive(self, team: str | Team) -> bytes:
        return await asyncio.to_thread(self.sync.team_picks_archive, team)

    async def download_team_picks(self, team: str | Team, to: str | Path) -> Path:
        return await asyncio.to_thread(self.sync.download_team_picks, team, to)

    async def download_team_pick(self, team: str | Team, pick: str | TeamPick, to: str | Path) -> Path:
        return await asyncio.to_thread(self.sync.download_team_pick, team, pick, to)

    async def remove_team_member(self, team: str | Team, member: str | TeamMember) -> list[DeletionReceipt]:
        return await asyncio.to_thread(self.sync.remove_team_member, team, member)

    async def remind_team_members(self, team: str | Team) -> int:
        return await asyncio.to_thread(self.sync.remind_team_members, team)

    async def team_usage(self, team: str | Team) -> TeamUsage:
        return await asyncio.to_thread(self.sync.team_usage, team)

    async def close(self) -> None:
        await asyncio.to_thread(self.sync.close)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


class AsyncRestClient(AsyncClient):
    """`RestClient`'s arguments and methods, awaited."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(RestClient(*args, **kwargs))


class AsyncGrpcClient(AsyncClient):
    """`GrpcClient`'s arguments and methods, awaited."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(GrpcClient(*args, **kwargs))
