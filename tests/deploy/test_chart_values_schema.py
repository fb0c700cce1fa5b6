"""values.yaml and values.schema.json: the schema rejects invalid values and types every value,
and every value is documented with a `## @param` line (deploy/helm/headshots/README.md is generated
from them: test_chart_readme.py).

Helpers: deploy_support.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import helm_python as helm
import jsonschema
import pytest
import yaml
from deploy_support import ALL_FEATURES, CHART_DIR, FEATURES_OFF, render

# --------------------------------------------------------------------------
# values.schema.json
# --------------------------------------------------------------------------


def test_schema_rejects_negative_replica_count_on_render():
    with pytest.raises(helm.HelmValuesError) as error:
        render({"gateway": {"web": {"replicaCount": -1}}})
    message = str(error.value)
    assert "/gateway/web/replicaCount" in message
    assert "minimum: got -1, want 0" in message


def test_schema_rejects_negative_replica_count_on_lint():
    report = helm.lint(CHART_DIR, {"gateway": {"web": {"replicaCount": -1}}}, strict=True)
    assert any("/gateway/web/replicaCount" in error for error in report["errors"]), report


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"trainer": {"replicaCount": -2}}, "/trainer/replicaCount"),
        ({"renderer": {"worker": {"maxReplicas": 0}}}, "/renderer/worker/maxReplicas"),
        ({"gateway": {"web": {"replicaCount": "two"}}}, "/gateway/web/replicaCount"),
        ({"gateway": {"web": {"replicas": 2}}}, "replicas"),  # typo of replicaCount
        ({"podSecurityContext": {"runAsNonRoot": False}}, "/podSecurityContext/runAsNonRoot"),
        ({"containerSecurityContext": {"allowPrivilegeEscalation": True}}, "allowPrivilegeEscalation"),
        ({"renderer": {"upgradeStrategy": "Rolling"}}, "/renderer/upgradeStrategy"),
        ({"kafka": {"topics": {"orders": {"partitions": 0}}}}, "/kafka/topics/orders/partitions"),
        ({"config": {"database": {"existingSecret": ""}}}, "/config/database/existingSecret"),
    ],
)
def test_schema_rejects_invalid_values(values, fragment):
    with helm.Chart.load(CHART_DIR) as chart:
        with pytest.raises(helm.HelmValuesError) as error:
            chart.validate_schema(chart.merge_values(values))
    assert fragment in str(error.value)


def test_schema_is_draft_07_and_accepts_the_defaults():
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(defaults)
    for values in (ALL_FEATURES, FEATURES_OFF):
        with helm.Chart.load(CHART_DIR) as chart:
            chart.validate_schema(chart.merge_values(values))


# --------------------------------------------------------------------------
# ## @param documentation
# --------------------------------------------------------------------------

PARAM = re.compile(r"^\s*## @param (?P<path>\S+)")


def documented_params() -> list[str]:
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    return [match["path"] for line in lines if (match := PARAM.match(line))]


def value_leaves(values: Any, documented: set[str], prefix: str = "") -> Iterator[str]:
    """Paths that need a @param: scalars, lists, empty maps, and maps documented as a whole."""
    if isinstance(values, dict) and values and prefix not in documented:
        for key, value in values.items():
            yield from value_leaves(value, documented, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix


def test_every_value_is_documented_with_a_param():
    params = documented_params()
    assert len(params) == len(set(params)), "a @param is documented twice"
    documented = set(params)
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    leaves = set(value_leaves(values, documented))
    assert leaves - documented == set(), "values without a ## @param line"
    assert documented - leaves == set(), "## @param lines for values that do not exist"


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_every_value_has_a_type_in_the_schema():
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    untyped = []
    for path in documented_params():
        node = schema
        for key in path.split("."):
            node = resolve(schema, node)
            properties = node.get("properties", {})
            if key in properties:
                node = properties[key]
            elif isinstance(node.get("additionalProperties"), dict):
                node = node["additionalProperties"]
            else:
                untyped.append(f"{path} (no schema for {key!r})")
                break
        else:
            if "type" not in resolve(schema, node):
                untyped.append(path)
    assert untyped == []
