"""Page tokens (AIP-158): opaque to the partner, signed by us, bound to the request that issued them.

A token carries the next offset and a digest of the request's other fields; Django's signing makes it
tamper-proof. A token that was edited, made up, or sent with different other fields is INVALID_ARGUMENT
(`invalid_page_token`), never a crash or a silently wrong page.
"""

from __future__ import annotations

import hashlib

from django.core import signing

from gateway.errors import InvalidArgument

SALT = "headshots.partner.page-token"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def page_size(requested: int) -> int:
    """AIP-158: 0 means the default; above the maximum is capped; negative is an error."""
    if requested < 0:
        raise InvalidArgument(
            "invalid_argument", "page_size must not be negative", details={"fields": {"page_size": ["negative"]}}
        )
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _digest(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()[:16]


def next_page_token(offset: int, query: str) -> str:
    """`query` names the request's other fields (parent, filter) the token may be used with."""
    return signing.dumps({"offset": offset, "query": _digest(query)}, salt=SALT)


def page(rows, requested_size: int, token: str, query: str) -> tuple[list, str]:
    """One page of `rows` (an ordered queryset or list) for a List call: the page's rows and the next page's token
    ("" on the last page). One row more than the page is read, to know whether another page follows."""
    size = page_size(requested_size)
    offset = offset_of(token, query)
    found = list(rows[offset : offset + size + 1])
    return found[:size], next_page_token(offset + size, query) if len(found) > size else ""


def offset_of(token: str, query: str) -> int:
    """The offset a token from `next_page_token` carries; 0 for no token."""
    if not token:
        return 0
    try:
        payload = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        payload = None
    valid = (
        isinstance(payload, dict)
        and payload.get("query") == _digest(query)
        and isinstance(payload.get("offset"), int)
        and payload["offset"] >= 0
    )
    if not valid:
        raise InvalidArgument(
            "invalid_page_token",
            "page_token is not one this API issued for this request: pass next_page_token unchanged, with the "
            "same other fields",
            details={"fields": {"page_token": ["invalid"]}},
        )
    return payload["offset"]
