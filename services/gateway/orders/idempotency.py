"""Idempotency-Key for POST requests, with Stripe's semantics.

The first successful response to a key is stored with a fingerprint of the
request; a retry with the same key and body gets that response again, the same
key with a different body is refused. The record is written in the same
transaction as the work, so a crash leaves neither or both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from rest_framework.response import Response

from gateway.errors import Conflict, InvalidArgument
from orders.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str) if hasattr(request, "data") else ""
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.request_fingerprint != fingerprint:
        raise Conflict("idempotency_key_reused", f"this {HEADER} was used with a different request; use a new key")
    return Response(record.response_body, status=record.response_status, headers={"Idempotent-Replayed": "true"})


def idempotent(request, tenant, handler: Callable[[], Response]) -> Response:
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return handler()
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument("invalid_idempotency_key", f"{HEADER} is longer than {MAX_KEY_LENGTH} characters")
    fingerprint = _fingerprint(request)
    record = IdempotencyRecord.objects.filter(tenant=tenant, key=key).first()
    if record is not None:
        return _replay(record, fingerprint)
    try:
        with transaction.atomic():
            response = handler()
            IdempotencyRecord.objects.create(
                tenant=tenant,
                key=key,
                request_fingerprint=fingerprint,
                response_status=response.status_code,
                response_body=response.data,
            )
        return response
    except IntegrityError:  # a concurrent request with the same key won; ours was rolled back whole
        return _replay(IdempotencyRecord.objects.get(tenant=tenant, key=key), fingerprint)
