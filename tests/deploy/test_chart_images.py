"""Image references the chart renders: one shared tag, per-component overrides, digests, registries.

The Dockerfiles themselves are checked in test_dockerfiles.py. Helpers: deploy_support.py; fixtures: conftest.py.
"""

from __future__ import annotations

import pytest
from deploy_support import containers, image_tag, render


def test_all_images_share_one_tag_by_default(default_objects):
    images = {where: c["image"] for where, c in containers(default_objects)}
    assert {image_tag(image) for image in images.values()} == {"0.1.0"}
    repositories = {image.rsplit(":", 1)[0] for image in images.values()}
    assert repositories == {
        "docker.io/headshots/gateway",
        "docker.io/headshots/trainer",
        "docker.io/headshots/renderer",
    }


def test_global_tag_changes_every_image():
    objects = render({"global": {"imageTag": "1.2.3"}})
    assert {image_tag(c["image"]) for _, c in containers(objects)} == {"1.2.3"}


@pytest.mark.parametrize(
    ("component", "repository"),
    [
        ("gateway", "headshots/gateway"),
        ("trainer", "headshots/trainer"),
        ("renderer", "headshots/renderer"),
    ],
)
def test_component_tag_overrides_only_that_component(component, repository):
    objects = render({"global": {"imageTag": "1.2.3"}, component: {"image": {"tag": "9.9.9"}}})
    images = [c["image"] for _, c in containers(objects)]
    for image in images:
        expected = "9.9.9" if image.rsplit(":", 1)[0].endswith(repository) else "1.2.3"
        assert image_tag(image) == expected, image
    assert any(image.endswith(f"{repository}:9.9.9") for image in images)


def test_digest_and_global_registry():
    digest = "sha256:" + "a" * 64
    objects = render({"global": {"imageRegistry": "registry.example.com"}, "trainer": {"image": {"digest": digest}}})
    images = {c["image"] for _, c in containers(objects)}
    assert f"registry.example.com/headshots/trainer@{digest}" in images
    assert all(image.startswith("registry.example.com/") for image in images)
