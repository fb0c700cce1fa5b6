"""Rendered custom resources against the vendored CRD schemas (tests/deploy/crds/, see its README).

Helpers: deploy_support.py.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml
from deploy_support import ALL_FEATURES, CRD_KINDS, CRDS_DIR, find, one, preset, render, strip

# CRDs whose schema is not vendored (yet): (apiVersion, kind) -> reason. Their
# validation is skipped with that reason, visible in `pytest -ra`. Every kind
# the chart renders is vendored now (see tests/deploy/crds/README.md).
CRD_NOT_VENDORED: dict[tuple[str, str], str] = {}


def structural(schema: Any) -> Any:
    """OpenAPI v3 CRD schema -> JSON Schema that rejects unknown fields like the API server.

    An object schema with `properties` gets additionalProperties: false unless
    it says x-kubernetes-preserve-unknown-fields; int-or-string becomes a type union.
    """
    if isinstance(schema, list):
        return [structural(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: structural(value) for key, value in schema.items() if not key.startswith("x-kubernetes-")}
    if schema.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if (
        schema.get("type") == "object"
        and "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


def crd_schema(api_version: str, kind: str) -> dict[str, Any] | None:
    group, version = api_version.split("/")
    path = CRDS_DIR / f"{group}_{version}_{kind.lower()}.yaml"
    if not path.exists():
        return None
    return structural(yaml.safe_load(path.read_text()))


def test_vendored_crd_files_are_documented():
    readme = (CRDS_DIR / "README.md").read_text()
    files = sorted(CRDS_DIR.glob("*.yaml"))
    assert files
    for path in files:
        assert f"`{path.name}`" in readme, f"{path.name} needs a source/licence row in crds/README.md"
    vendored = {(a, k) for a, k in CRD_KINDS if crd_schema(a, k) is not None}
    assert vendored | set(CRD_NOT_VENDORED) == CRD_KINDS
    assert not vendored & set(CRD_NOT_VENDORED)


CR_SCENARIOS = {
    "all-features": None,  # deploy_support.ALL_FEATURES
    "values-dev": "values-dev.yaml",
    "values-production": "values-production.example.yaml",
}


@pytest.mark.parametrize("api_version,kind", sorted(CRD_KINDS))
def test_custom_resources_match_their_crd_schema(api_version, kind):
    if (api_version, kind) in CRD_NOT_VENDORED:
        pytest.skip(f"{kind} CRD schema not vendored: {CRD_NOT_VENDORED[(api_version, kind)]}")
    schema = crd_schema(api_version, kind)
    validator = jsonschema.Draft7Validator(schema)
    checked = 0
    for scenario, source in CR_SCENARIOS.items():
        values = ALL_FEATURES if source is None else preset(source)
        for obj in render(values):
            if (obj["apiVersion"], obj["kind"]) != (api_version, kind):
                continue
            errors = sorted(validator.iter_errors(strip(obj)), key=lambda e: list(e.absolute_path))
            assert not errors, f"{scenario} {obj['_template']}: " + "; ".join(
                f"{list(e.absolute_path)}: {e.message}" for e in errors
            )
            checked += 1
    assert checked, f"no {kind} rendered"


def test_crd_validation_rejects_unknown_and_invalid_fields():
    """Guard against a schema that accepts anything."""
    schema = crd_schema("kafka.strimzi.io/v1beta2", "KafkaTopic")
    topic = strip(find(render(ALL_FEATURES), "KafkaTopic")[0])
    validator = jsonschema.Draft7Validator(schema)
    assert not list(validator.iter_errors(topic))
    unknown = json.loads(json.dumps(topic))
    unknown["spec"]["partitionz"] = 3
    assert any("partitionz" in e.message for e in validator.iter_errors(unknown))
    invalid = json.loads(json.dumps(topic))
    invalid["spec"]["replicas"] = 0
    assert list(validator.iter_errors(invalid))
    # config preserves unknown fields (any Kafka topic setting).
    preserved = json.loads(json.dumps(topic))
    preserved["spec"]["config"]["cleanup.policy"] = "compact"
    assert not list(validator.iter_errors(preserved))


def test_new_crd_schemas_reject_typos():
    """The vendored ScaledObject and KafkaNodePool schemas are strict where it matters."""
    objects = render(ALL_FEATURES)
    scaled = strip(one(objects, "ScaledObject", "headshots-trainer"))
    keda = jsonschema.Draft7Validator(crd_schema("keda.sh/v1alpha1", "ScaledObject"))
    assert not list(keda.iter_errors(scaled))
    typo = json.loads(json.dumps(scaled))
    typo["spec"]["minReplicas"] = typo["spec"].pop("minReplicaCount")
    assert any("minReplicas" in e.message for e in keda.iter_errors(typo))
    no_triggers = json.loads(json.dumps(scaled))
    del no_triggers["spec"]["triggers"]
    assert list(keda.iter_errors(no_triggers))
    # Trigger metadata is a map of strings: an unquoted number is rejected.
    unquoted = json.loads(json.dumps(scaled))
    unquoted["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 1
    assert list(keda.iter_errors(unquoted))

    (pool,) = find(objects, "KafkaNodePool")
    pool = strip(pool)
    strimzi = jsonschema.Draft7Validator(crd_schema("kafka.strimzi.io/v1beta2", "KafkaNodePool"))
    assert not list(strimzi.iter_errors(pool))
    bad_role = json.loads(json.dumps(pool))
    bad_role["spec"]["roles"] = ["broker", "zookeeper"]
    assert list(strimzi.iter_errors(bad_role))
    bad_metadata = json.loads(json.dumps(pool))
    bad_metadata["spec"]["storage"]["volumes"][0]["kraftMetadata"] = "dedicated"
    assert list(strimzi.iter_errors(bad_metadata))
    unknown = json.loads(json.dumps(pool))
    unknown["spec"]["template"]["kafkaContainer"]["securityContext"]["runAsUsr"] = 1
    assert any("runAsUsr" in e.message for e in strimzi.iter_errors(unknown))


def test_rayservice_and_kafka_schemas_reject_typos():
    """The vendored RayService and Kafka schemas are strict down to the pod templates."""
    objects = render(ALL_FEATURES)
    (service,) = find(objects, "RayService")
    service = strip(service)
    ray = jsonschema.Draft7Validator(crd_schema("ray.io/v1", "RayService"))
    assert not list(ray.iter_errors(service))
    typo = json.loads(json.dumps(service))
    typo["spec"]["upgradeStrategy"]["typ"] = typo["spec"]["upgradeStrategy"].pop("type")
    assert any("typ" in e.message for e in ray.iter_errors(typo))
    worker = json.loads(json.dumps(service))
    container = worker["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    container["securityContext"]["runAsUsr"] = 1
    assert any("runAsUsr" in e.message for e in ray.iter_errors(worker))
    replicas = json.loads(json.dumps(service))
    replicas["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["minReplicas"] = "1"
    assert list(ray.iter_errors(replicas))

    (kafka,) = find(objects, "Kafka")
    kafka = strip(kafka)
    strimzi = jsonschema.Draft7Validator(crd_schema("kafka.strimzi.io/v1beta2", "Kafka"))
    assert not list(strimzi.iter_errors(kafka))
    listener = json.loads(json.dumps(kafka))
    listener["spec"]["kafka"]["listeners"][0]["type"] = "clusterip"
    assert list(strimzi.iter_errors(listener))
    unknown = json.loads(json.dumps(kafka))
    unknown["spec"]["entityOperator"]["template"]["topicOperatorContainer"]["securityContext"]["runAsUsr"] = 1
    assert any("runAsUsr" in e.message for e in strimzi.iter_errors(unknown))
    # Broker config preserves unknown fields (any Kafka setting).
    config = json.loads(json.dumps(kafka))
    config["spec"]["kafka"]["config"]["log.retention.hours"] = 24
    assert not list(strimzi.iter_errors(config))
