"""The published JSON Schemas of the webhooks (docs/partners/webhooks/<event type>.schema.json), as a check.

`problems(body)` says what in one webhook's body breaks its event type's schema; the tests' webhook receiver
(`webhook_endpoint.WebhookEndpoint`) runs it on every webhook it receives, so the suite fails when the gateway
sends what the schemas partners read do not describe.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "partners" / "webhooks"
COMMON = "common"


@functools.cache
def validators() -> dict[str, Draft202012Validator]:
    """A validator per event type, each resolving the shared definitions (`common.schema.json`)."""
    documents = {
        path.name.removesuffix(".schema.json"): json.loads(path.read_text()) for path in SCHEMAS.glob("*.json")
    }
    registry: Registry = Registry().with_resources(
        (document["$id"], Resource.from_contents(document)) for document in documents.values()
    )
    return {
        event_type: Draft202012Validator(document, registry=registry, format_checker=FormatChecker())
        for event_type, document in documents.items()
        if event_type != COMMON
    }


def problems(body: str) -> list[str]:
    """What is wrong with a webhook's body against its schema; empty when it validates."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        return [f"not JSON: {exc}"]
    event_type = payload.get("type") if isinstance(payload, dict) else None
    validator = validators().get(str(event_type))
    if validator is None:
        return [f"no published schema for event type {event_type!r} (docs/partners/webhooks/)"]
    return [
        f"{event_type}: {'/'.join(map(str, error.absolute_path)) or '(body)'}: {error.message}"
        for error in validator.iter_errors(payload)
    ]
