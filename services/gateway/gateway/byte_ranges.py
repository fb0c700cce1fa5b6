"""Downloads that resume and verify (RFC 9110 ranges, RFC 9530 digests) for files served from memory.

The answer names the whole file's SHA-256 twice: as its strong `ETag` (what `If-Range` compares, so a resumed
download never splices two versions of a file) and as `Repr-Digest` (what a client checks the whole file against).
One range `bytes=N-` or `bytes=N-M` answers 206 with that part; any other Range header gets the whole file (a server
may ignore Range), and a range starting past the end answers 416 (`range_not_satisfiable`).
"""

from __future__ import annotations

import base64
import hashlib
import re

from django.http import HttpRequest, HttpResponse, JsonResponse

from gateway.rest_errors import envelope

_SINGLE_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


def _requested_range(request: HttpRequest, etag: str, total: int) -> tuple[int, int] | None:
    """The inclusive byte range asked for, or None for the whole file."""
    match = _SINGLE_RANGE.fullmatch(request.headers.get("Range", "").strip())
    if match is None:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        return None  # the file changed since the first part: the whole new one
    start = int(match.group(1))
    end = min(int(match.group(2)), total - 1) if match.group(2) else total - 1
    if match.group(2) and int(match.group(2)) < start:
        return None  # not a valid range: ignored
    return start, end


def file_response(request: HttpRequest, data: bytes, content_type: str, filename: str) -> HttpResponse:
    digest = hashlib.sha256(data).digest()
    etag = f'"{digest.hex()}"'
    total = len(data)
    span = _requested_range(request, etag, total)
    if span is not None and span[0] >= total:
        response = JsonResponse(
            envelope("range_not_satisfiable", f"the range starts past the file's end ({total} bytes)", {"size": total}),
            status=416,
        )
        response["Content-Range"] = f"bytes */{total}"
    elif span is not None:
        start, end = span
        response = HttpResponse(data[start : end + 1], status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{total}"
    else:
        response = HttpResponse(data, content_type=content_type)
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Repr-Digest"] = f"sha-256=:{base64.b64encode(digest).decode()}:"
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response
