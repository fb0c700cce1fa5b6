"""Webhook verification: one function, `verify_webhook`, for the Standard Webhooks signatures the API sends
(https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, an
HMAC-SHA256 of `id.timestamp.body` under the partner's `whsec_` secret.

Written here on the standard library (the spec is a few lines) so that the package needs no more dependencies;
the tests check it against the reference implementation the gateway signs with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from headshots_client.errors import WebhookVerificationError

SECRET_PREFIX = "whsec_"
# How far a webhook's timestamp may be from now: a replayed one is refused past this (the spec's default).
DEFAULT_TOLERANCE_S = 300


def verify_webhook(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> dict[str, Any]:
    """The webhook's event (`{"type", "timestamp", "data"}`) when `body` is what the API signed with `secret`
    within `tolerance_s` of now; WebhookVerificationError otherwise. Pass the raw body, as received (not
    re-serialised JSON), and the request's headers (any case)."""
    lower = {key.lower(): value for key, value in headers.items()}
    try:
        message_id, timestamp, signatures = (
            lower["webhook-id"],
            lower["webhook-timestamp"],
            lower["webhook-signature"],
        )
    except KeyError as missing:
        raise WebhookVerificationError(f"not a signed webhook: no {missing.args[0]} header") from None
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError(f"webhook-timestamp {timestamp!r} is not a Unix time") from None
    if abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        raise WebhookVerificationError(f"webhook-timestamp {sent_at} is more than {tolerance_s}s from now")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise WebhookVerificationError("the secret is not a whsec_ secret (base64 after the prefix)") from None
    payload = body.encode() if isinstance(body, str) else body
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + payload
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for signature in signatures.split():
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return json.loads(payload)
    raise WebhookVerificationError("no signature matches: a different secret, or the body was changed")
