"""Resource names of the partner API (AIP-122): `orders/{order}`, `orders/{order}/headshots/{headshot}`,
`orders/{order}/photos/{photo}`, `apiKeys/{prefix}`, `teams/{team}` and what lies under it.

A malformed name is the caller's mistake (INVALID_ARGUMENT, `invalid_name`); a well-formed name of
nothing, or of another partner's order, is NOT_FOUND, as in REST.
"""

from __future__ import annotations

import re
import uuid

from gateway.errors import InvalidArgument

_UUID = r"[0-9a-fA-F-]{36}"
_ORDER = re.compile(rf"orders/({_UUID})")
_HEADSHOT = re.compile(rf"orders/({_UUID})/headshots/({_UUID})")
_PHOTO = re.compile(rf"orders/({_UUID})/photos/({_UUID})")
_OPERATION = re.compile(rf"operations/({_UUID})")
# A key's prefix: the hex part after `hs_` (`accounts.services.issue_api_key`).
_TEAM = re.compile(rf"teams/({_UUID})")
_TEAM_MEMBER = re.compile(rf"teams/({_UUID})/members/({_UUID})")
_TEAM_PICK = re.compile(rf"teams/({_UUID})/picks/({_UUID})")
_TEAM_INVITATION = re.compile(rf"teams/({_UUID})/invitations/({_UUID})")
_API_KEY = re.compile(r"apiKeys/([0-9a-f]{1,16})")


def order_name(order_id) -> str:
    return f"orders/{order_id}"


def headshot_name(order_id, headshot_id) -> str:
    return f"orders/{order_id}/headshots/{headshot_id}"


def photo_name(order_id, photo_id) -> str:
    return f"orders/{order_id}/photos/{photo_id}"


def operation_name(order_id) -> str:
    return f"operations/{order_id}"


def api_key_name(prefix: str) -> str:
    return f"apiKeys/{prefix}"


def _ids(pattern: re.Pattern, name: str) -> tuple[str, ...]:
    match = pattern.fullmatch(name)
    try:
        return tuple(str(uuid.UUID(group)) for group in match.groups()) if match else ()
    except ValueError:
        return ()


def _invalid(field: str, shape: str, name: str) -> InvalidArgument:
    problem = "required" if not name else f"must look like {shape}"
    return InvalidArgument("invalid_name", f"{field} {problem}", details={"fields": {field: [problem]}})


def order_id_in(name: str) -> str:
    """The order a resource name is or lies under (`orders/{order}`, `orders/{order}/headshots/...`); "" for none."""
    match = _ORDER.match(name)
    return _ids(_ORDER, match.group(0))[0] if match else ""


def parse_order_name(name: str, field: str = "name") -> str:
    """The order id in `orders/{order}`."""
    ids = _ids(_ORDER, name)
    if not ids:
        raise _invalid(field, "orders/{order}", name)
    return ids[0]


def parse_headshot_name(name: str, field: str = "name") -> tuple[str, str]:
    """(order id, headshot id) in `orders/{order}/headshots/{headshot}`."""
    ids = _ids(_HEADSHOT, name)
    if not ids:
        raise _invalid(field, "orders/{order}/headshots/{headshot}", name)
    return ids[0], ids[1]


def parse_photo_name(name: str, field: str = "name") -> tuple[str, str]:
    """(order id, photo id) in `orders/{order}/photos/{photo}`."""
    ids = _ids(_PHOTO, name)
    if not ids:
        raise _invalid(field, "orders/{order}/photos/{photo}", name)
    return ids[0], ids[1]


def parse_operation_name(name: str, field: str = "name") -> str:
    """The order id in `operations/{order}`: an order's training and rendering is its operation."""
    ids = _ids(_OPERATION, name)
    if not ids:
        raise _invalid(field, "operations/{order}", name)
    return ids[0]


def parse_api_key_name(name: str, field: str = "name") -> str:
    """The key's prefix in `apiKeys/{prefix}`."""
    match = _API_KEY.fullmatch(name)
    if not match:
        raise _invalid(field, "apiKeys/{prefix}", name)
    return match.group(1)


def team_name(team_id) -> str:
    return f"teams/{team_id}"


def team_member_name(team_id, membership_id) -> str:
    return f"teams/{team_id}/members/{membership_id}"


def team_invitation_name(team_id, invitation_id) -> str:
    return f"teams/{team_id}/invitations/{invitation_id}"


def parse_team_name(name: str, field: str = "name") -> str:
    """The team id in `teams/{team}`."""
    ids = _ids(_TEAM, name)
    if not ids:
        raise _invalid(field, "teams/{team}", name)
    return ids[0]


def parse_team_member_name(name: str, field: str = "name") -> tuple[str, str]:
    """(team id, member id) in `teams/{team}/members/{member}`."""
    ids = _ids(_TEAM_MEMBER, name)
    if not ids:
        raise _invalid(field, "teams/{team}/members/{member}", name)
    return ids[0], ids[1]


def team_pick_name(team_id, pick_id) -> str:
    return f"teams/{team_id}/picks/{pick_id}"


def parse_team_pick_name(name: str, field: str = "name") -> tuple[str, str]:
    """(team id, pick id) in `teams/{team}/picks/{pick}`."""
    ids = _ids(_TEAM_PICK, name)
    if not ids:
        raise _invalid(field, "teams/{team}/picks/{pick}", name)
    return ids[0], ids[1]


def parse_team_invitation_name(name: str, field: str = "name") -> tuple[str, str]:
    """(team id, invitation id) in `teams/{team}/invitations/{invitation}`."""
    ids = _ids(_TEAM_INVITATION, name)
    if not ids:
        raise _invalid(field, "teams/{team}/invitations/{invitation}", name)
    return ids[0], ids[1]
