"""The gateway's dependency closure excludes torch; the ML services' include it.

Computed from the installed distributions' metadata (importlib.metadata) of the current environment
and from the pyproject.toml files. test_service_images.py installs the images' environments for real.
"""

from __future__ import annotations

import importlib.metadata
import tomllib

from deploy_support import REPO_ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def closure(name: str, extras: frozenset[str] = frozenset()) -> set[str]:
    """Names of every distribution `name[extras]` needs, from installed metadata."""
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    todo = [(canonicalize_name(name), extras)]
    while todo:
        current, current_extras = todo.pop()
        if (current, current_extras) in seen:
            continue
        seen.add((current, current_extras))
        names.add(current)
        distribution = importlib.metadata.distribution(current)
        for line in distribution.requires or []:
            requirement = Requirement(line)
            environments = [{"extra": extra} for extra in current_extras] or [{"extra": ""}]
            if requirement.marker and not any(requirement.marker.evaluate(env) for env in environments):
                continue
            todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return names


def test_gateway_dependency_closure_excludes_torch():
    gateway = closure("headshots-gateway")
    assert "headshots-common" in gateway and "django" in gateway
    heavy = {"torch", "diffusers", "transformers", "peft", "accelerate", "ray"}
    assert not gateway & heavy, sorted(gateway & heavy)


def test_ml_service_closures_include_torch():
    """The closure walk honours extras: the same code finds torch where it belongs."""
    assert "torch" in closure("headshots-trainer")
    assert {"torch", "ray"} <= closure("headshots-renderer")


def test_pyprojects_keep_torch_in_the_ml_extra():
    common = tomllib.loads((REPO_ROOT / "libs/common/pyproject.toml").read_text())["project"]
    assert not any(Requirement(r).name == "torch" for r in common["dependencies"])
    assert "torch" in common["optional-dependencies"]["ml"]
    gateway = tomllib.loads((REPO_ROOT / "services/gateway/pyproject.toml").read_text())["project"]
    for line in gateway["dependencies"]:
        requirement = Requirement(line)
        assert requirement.name != "torch"
        if requirement.name == "headshots-common":
            assert not requirement.extras, "gateway must not pull headshots-common extras"
