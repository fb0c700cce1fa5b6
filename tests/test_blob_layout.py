"""The blob layout has one definition (headshots_common.blob_layout): keys nest as documented, and no code
outside it builds a key by hand."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from headshots_common import blob_layout
from headshots_common.adapter_format import ADAPTER_FILE_NAME

REPO = Path(__file__).resolve().parents[1]
LAYOUT_MODULES = {
    REPO / "libs/common/headshots_common/blob_layout.py",
    REPO / "libs/common/headshots_common/adapter_format.py",
}
# What only a blob key contains: the layout's top-level prefixes, per-order folders and file names.
KEY_FRAGMENTS = (
    blob_layout.ORDERS_PREFIX,
    blob_layout.PRIORS_PREFIX,
    blob_layout.TRAINING_REQUESTS_PREFIX,
    "photos/",
    "training/",
    "adapter/",
    "headshots/",
    "job.json",
    "checkpoint.pt",
    "manifest.json",
    ADAPTER_FILE_NAME,
)
# URL routes name REST resources ("orders/<uuid:order_id>/photos"), not blobs.
ROUTE_MODULES = ("urls.py",)
# The partner API's resource names (AIP-122: orders/{order}/headshots/{headshot}) are routes too, not blob keys.
RESOURCE_NAME_MODULES = (REPO / "services/gateway/partner_grpc/names.py",)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _url_parts(tree: ast.AST) -> set[int]:
    """The literal parts of f-strings that build a REST path ("/v1/...")."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and node.values:
            first = node.values[0]
            if isinstance(first, ast.Constant) and str(first.value).startswith("/v1/"):
                ids.update(id(part) for part in node.values)
    return ids


def hand_built_keys(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string literal or f-string part that holds a blob-key fragment."""
    tree = ast.parse(source)
    skip = _docstrings(tree) | _url_parts(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
            if not text.startswith(("/v1/", "/studio/")) and any(fragment in text for fragment in KEY_FRAGMENTS):
                found.append((node.lineno, text))
    return found


def runtime_modules() -> list[Path]:
    roots = [
        REPO / "libs/common/headshots_common",
        REPO / "tools/headshots_tools",
        *(REPO / "services" / name for name in ("gateway", "trainer", "renderer")),
    ]
    return sorted(
        path
        for root in roots
        for path in root.rglob("*.py")
        if "tests" not in path.parts
        and "migrations" not in path.parts
        and path not in LAYOUT_MODULES
        and path not in RESOURCE_NAME_MODULES
        and path.name not in ROUTE_MODULES
    )


def test_no_service_builds_a_blob_key_by_hand():
    offenders = {
        str(path.relative_to(REPO)): found for path in runtime_modules() if (found := hand_built_keys(path.read_text()))
    }
    assert not offenders, f"build these keys with headshots_common.blob_layout: {offenders}"


@pytest.mark.parametrize(
    "source",
    [
        'key = f"orders/{order_id}/photos/{photo_id}.jpg"',
        'key = order_prefix(order_id) + "adapter/" + name',
        'key = f"{base}/headshots/{render_id}/manifest.json"',
        'key = "priors/" + model',
    ],
)
def test_the_check_catches_a_key_built_by_hand(source):
    assert hand_built_keys(source)


def test_the_check_leaves_urls_and_docstrings_alone():
    source = '"""Keys look like orders/{id}/photos/x.jpg."""\nurl = f"/v1/orders/{order_id}/headshots/{h}.png"\n'
    assert hand_built_keys(source) == []


def test_every_key_of_an_order_lies_under_its_prefix_and_nothing_else_does():
    order = "0b6f1a5e-6c7d-4e0f-9a51-7c2d9d1e2f30"
    prefix = blob_layout.order_prefix(order)
    keys = [
        blob_layout.photo_key(order, "p1"),
        blob_layout.photo_analysis_key(blob_layout.photo_key(order, "p1")),
        blob_layout.training_record_key(order),
        blob_layout.checkpoint_key(order, 1, 4),
        blob_layout.cancel_request_key(order),
        blob_layout.adapter_key(order, 1),
        blob_layout.adapter_manifest_key(order, 1),
        blob_layout.headshot_key(order, "pack", "tech-grey", 3),
        blob_layout.render_manifest_key(order, "pack"),
    ]
    assert all(key.startswith(prefix) for key in keys) and len(set(keys)) == len(keys)
    assert blob_layout.adapter_key(order, 1).endswith("/" + ADAPTER_FILE_NAME)
    assert blob_layout.is_headshot_key(order, blob_layout.headshot_key(order, "r1", "tech-grey", 0))
    assert not blob_layout.is_headshot_key(order, blob_layout.photo_key(order, "p1"))
    photo = blob_layout.photo_key(order, "p1")
    assert blob_layout.is_photo_key(photo) and not blob_layout.is_photo_key(blob_layout.photo_analysis_key(photo))
    assert not blob_layout.is_photo_key(blob_layout.headshot_key(order, "pack", "tech-grey", 0))
    # Another order whose id shares a prefix is not inside this order's prefix.
    assert not blob_layout.photo_key(order + "0", "p1").startswith(prefix)
    shared = [blob_layout.class_images_prefix("m", "Woman ", 128), blob_layout.training_request_key("req-1")]
    assert not any(key.startswith(blob_layout.ORDERS_PREFIX) for key in shared)
    assert shared[0] == "priors/m/woman/128/" and blob_layout.class_image_key(shared[0], 7).endswith("/007.png")
