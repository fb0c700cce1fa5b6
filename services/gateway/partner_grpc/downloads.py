"""Files streamed to the partner: a file in messages of CHUNK_BYTES, the first saying its type and whole size;
one a partner may resume (`read_offset`) also names its SHA-256, so that a resumed download can be checked whole."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from gateway.errors import InvalidArgument

CHUNK_BYTES = 256 * 1024


def chunks(data: bytes, content_type: str, message_type, offset: int = 0, **first_only) -> Iterator:
    """`data` from `offset` in messages of CHUNK_BYTES; the first also says the type, the whole size and
    `first_only`."""
    for start in range(offset, max(len(data), offset + 1), CHUNK_BYTES):
        first = start == offset
        yield message_type(
            content_type=content_type if first else "",
            total_bytes=len(data) if first else 0,
            data=data[start : start + CHUNK_BYTES],
            **(first_only if first else {}),
        )


def resumable(data: bytes, content_type: str, message_type, read_offset: int) -> Iterator:
    """`data` from the request's `read_offset`, the first message naming the whole file's SHA-256; an offset past
    the file is INVALID_ARGUMENT (`invalid_read_offset`)."""
    if not 0 <= read_offset <= len(data):
        raise InvalidArgument(
            "invalid_read_offset",
            f"read_offset must be between 0 and the file's size, {len(data)}",
            details={"fields": {"read_offset": [f"must be between 0 and {len(data)}"]}},
        )
    return chunks(data, content_type, message_type, read_offset, sha256=hashlib.sha256(data).hexdigest())
