"""Idempotent creation, with Stripe's semantics, for REST's Idempotency-Key and gRPC's request_id (AIP-155).

The first successful result for a key is stored with a fingerprint of the request; a retry with the same
key and request gets that result again, the same key with a different request is refused
(`idempotency_key_reused`, REST 409, gRPC FAILED_PRECONDITION). The record is written in the same
transaction as the work, so a crash leaves neither or both. REST and gRPC share one key space per partner.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from rest_framework.response import Response

from gateway.errors import Conflict, InvalidArgument
from orders.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def run_once(
    tenant, key: str, fingerprint: str, handler: Callable[[], tuple[int, Any]], key_name: str = HEADER
) -> tuple[int, Any, bool]:
    """(status, body, replayed): `handler`'s (status, JSON-able body), run at most once per key and request."""
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument(
            "invalid_idempotency_key",
            f"{key_name} is longer than {MAX_KEY_LENGTH} characters",
            details={"fields": {key_name: [f"at most {MAX_KEY_LENGTH} characters"]}},
        )
    record = IdempotencyRecord.objects.filter(tenant=tenant, key=key).first()
    if record is not None:
        return _replay(record, fingerprint, key_name)
    try:
        with transaction.atomic():
            status, body = handler()
            IdempotencyRecord.objects.create(
                tenant=tenant, key=key, request_fingerprint=fingerprint, response_status=status, response_body=body
            )
        return status, body, False
    except IntegrityError:  # a concurrent request with the same key won; ours was rolled back whole
        return _replay(IdempotencyRecord.objects.get(tenant=tenant, key=key), fingerprint, key_name)


def _replay(record: IdempotencyRecord, fingerprint: str, key_name: str) -> tuple[int, Any, bool]:
    if record.request_fingerprint != fingerprint:
        raise Conflict("idempotency_key_reused", f"this {key_name} was used with a different request; use a new one")
    return record.response_status, record.response_body, True


def fingerprint(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\n")
    return digest.hexdigest()


def idempotent(request, tenant, handler: Callable[[], Response]) -> Response:
    """A REST view's POST under its Idempotency-Key header (none: simply run)."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return handler()
    body = json.dumps(request.data, sort_keys=True, default=str) if hasattr(request, "data") else ""

    def run() -> tuple[int, Any]:
        response = handler()
        return response.status_code, response.data

    status, data, replayed = run_once(tenant, key, fingerprint(request.method, request.path, body), run)
    return Response(data, status=status, headers={"Idempotent-Replayed": "true"} if replayed else {})
