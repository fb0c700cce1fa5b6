"""tests/deploy: shared fixtures.

The rendered chart: default_objects and all_objects (rendered once per test module, with the helpers
of deploy_support.py; test modules never import each other).

The built images (built_images, for the tests marked `images`) are a fixture of tests/conftest.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from deploy_support import ALL_FEATURES, render

# --------------------------------------------------------------------------
# The rendered chart
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_objects() -> list[dict[str, Any]]:
    """The chart rendered with its default values (per module: some tests edit what they get)."""
    return render()


@pytest.fixture(scope="module")
def all_objects() -> list[dict[str, Any]]:
    """The chart rendered with every optional feature on (deploy_support.ALL_FEATURES)."""
    return render(ALL_FEATURES)
