"""Post-processing of the OpenAPI document: what DRF validates that drf-spectacular does not write down."""

from __future__ import annotations

from typing import Any

# DRF's CharField refuses NUL characters (no database stores one); the document says so for every text field.
NO_NUL = "^[^\\u0000]*$"


def document_no_nul_characters(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS entry: a `pattern` on every plain string property of a request body."""
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):  # COMPONENT_SPLIT_REQUEST: the input shapes
            _mark(schema)
    return result


def _mark(schema: dict[str, Any]) -> None:
    for prop in schema.get("properties", {}).values():
        if prop.get("type") == "string" and "enum" not in prop and prop.get("format") != "binary":
            prop.setdefault("pattern", NO_NUL)
        if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
            _mark({"properties": {"item": prop["items"]}})
