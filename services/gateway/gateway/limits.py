"""Bounds on every request, enforced before and while it is read; over one: the error envelope, nothing stored.

- `RequestLimitsMiddleware` (first in the chain): a header longer than MAX_HEADER_BYTES is 431
  `header_too_large`; a NUL in the path or query (no database stores one) is 400 `invalid_argument`; a body
  whose Content-Length is over its kind's cap is 413 `request_too_large`, refused unread (a direct upload's: the
  per-photo cap).
- `CappedUploadHandler` (first upload handler): counts a multipart upload's files and bytes while it streams
  in and stops it at `max_upload_files` (413 `too_many_files`) or `max_upload_bytes` (413
  `upload_too_large`); a single file over `max_photo_bytes` is skipped unread and reported as that photo's
  rejection (`file_too_large`), as any other bad photo.
- `JSONParser`: JSON nested deeper than Python can parse is 400 `malformed_request`, not a crash.

The same caps bound gRPC uploads (`partner_grpc.service`); gunicorn's own limits (`gateway.gunicorn_conf`)
sit above these, so the gateway's envelope answers first.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import JsonResponse
from rest_framework import exceptions, parsers

from gateway.config import CONFIG, MAX_HEADER_BYTES, MAX_JSON_BODY_BYTES, MULTIPART_OVERHEAD_BYTES
from gateway.errors import PayloadTooLarge
from gateway.rest_errors import envelope

# Direct uploads' receiver (gateway.upload_urls): one photo's bytes as the body.
DIRECT_UPLOAD_PATH = "/v1/uploads/"


def max_body_bytes(content_type: str, path: str = "") -> int:
    if path.startswith(DIRECT_UPLOAD_PATH):
        return CONFIG.max_photo_bytes
    if content_type.startswith("multipart/"):
        return CONFIG.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    return MAX_JSON_BODY_BYTES


class RequestLimitsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refusal = self._refusal(request)
        return refusal if refusal is not None else self.get_response(request)

    @staticmethod
    def _refusal(request) -> JsonResponse | None:
        for name, value in request.META.items():
            if name.startswith("HTTP_") and len(value) > MAX_HEADER_BYTES:
                header = name[5:].replace("_", "-").title()
                return JsonResponse(
                    envelope(
                        "header_too_large",
                        f"the {header} header is longer than {MAX_HEADER_BYTES} bytes",
                        {"header": header, "limit_bytes": MAX_HEADER_BYTES},
                    ),
                    status=431,
                )
        if "\x00" in request.path or "\x00" in request.META.get("QUERY_STRING", "") or "\x00" in str(request.GET):
            return JsonResponse(envelope("invalid_argument", "the URL contains a NUL character"), status=400)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(envelope("malformed_request", "Content-Length is not a number"), status=400)
        limit = max_body_bytes(request.META.get("CONTENT_TYPE", ""), request.path)
        if length > limit:
            return JsonResponse(
                envelope(
                    "request_too_large",
                    f"the request body is larger than {limit} bytes",
                    {"limit_bytes": limit, "content_length": length},
                ),
                status=413,
            )
        return None


class CappedUploadHandler(FileUploadHandler):
    """Runs before Django's own handlers, so every byte of an upload passes its counters first."""

    def __init__(self, request=None):
        super().__init__(request)
        self.files = self.total_bytes = self.file_bytes = 0
        if request is not None:
            request.skipped_uploads = []  # names of files over the per-photo cap, skipped unread

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        self.files, self.file_bytes = self.files + 1, 0
        if self.files > CONFIG.max_upload_files:
            raise PayloadTooLarge(
                "too_many_files",
                f"one upload carries at most {CONFIG.max_upload_files} photos",
                details={"limit": CONFIG.max_upload_files},
            )

    def receive_data_chunk(self, raw_data, start):
        self.total_bytes += len(raw_data)
        self.file_bytes += len(raw_data)
        if self.total_bytes > CONFIG.max_upload_bytes:
            raise PayloadTooLarge(
                "upload_too_large",
                f"one upload carries at most {CONFIG.max_upload_bytes // (1024 * 1024)} MB",
                details={"limit_bytes": CONFIG.max_upload_bytes},
            )
        if self.file_bytes > CONFIG.max_photo_bytes:
            if self.request is not None:
                self.request.skipped_uploads.append(self.file_name)
            raise SkipFile()
        return raw_data  # on to Django's handlers, which keep the file

    def file_complete(self, file_size):
        return None  # Django's handlers make the file


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None
