"""Resource names of the partner API (AIP-122): `orders/{order}`, `orders/{order}/headshots/{headshot}`.

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
_OPERATION = re.compile(rf"operations/({_UUID})")


def order_name(order_id) -> str:
    return f"orders/{order_id}"


def headshot_name(order_id, headshot_id) -> str:
    return f"orders/{order_id}/headshots/{headshot_id}"


def operation_name(order_id) -> str:
    return f"operations/{order_id}"


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


def parse_operation_name(name: str, field: str = "name") -> str:
    """The order id in `operations/{order}`: an order's training and rendering is its operation."""
    ids = _ids(_OPERATION, name)
    if not ids:
        raise _invalid(field, "operations/{order}", name)
    return ids[0]
