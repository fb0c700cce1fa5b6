"""The Helm chart in deploy/helm/headshots lints, renders and validates, offline.

No cluster and no helm binary: the chart is linted and rendered with the Helm Go SDK through the
`helm-python-sdk` package (import name helm_python), and built-in Kubernetes objects are validated
with `kubernetes-validate` (strict: unknown fields are errors) against a pinned Kubernetes version.
The custom resources get their checks in test_chart_kafka_and_renderer.py and test_crd_schemas.py.
Helpers: deploy_support.py; fixtures: conftest.py.
"""

from __future__ import annotations

import helm_python as helm
import kubernetes_validate
import pytest
from deploy_support import (
    CHART_DIR,
    CRD_GROUPS,
    CRD_KINDS,
    KUBE_VERSION,
    NAMESPACE,
    RELEASE,
    SCENARIOS,
    env_of,
    one,
    pod_templates,
    render,
    strip,
)

# --------------------------------------------------------------------------
# Lint
# --------------------------------------------------------------------------


def test_sdk_is_the_pinned_helm():
    """The tests talk to Helm v4 through the SDK's bundled native library."""
    assert helm.helm_sdk_version().startswith("v4."), helm.helm_sdk_version()


def test_chart_metadata():
    with helm.Chart.load(CHART_DIR) as chart:
        metadata = chart.metadata
        assert chart.schema is not None, "values.schema.json must ship with the chart"
    assert metadata["apiVersion"] == "v2"
    assert metadata["name"] == "headshots"
    assert metadata["appVersion"] == "0.1.0"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lint_strict(scenario):
    report = helm.lint(
        CHART_DIR,
        SCENARIOS[scenario],
        strict=True,
        namespace=NAMESPACE,
        kube_version=f"v{KUBE_VERSION}",
    )
    assert report["total_charts_linted"] == 1
    assert report["errors"] == []
    # Severity 2 = warning, 3 = error; strict treats warnings as failures.
    problems = [message for message in report["messages"] if message["severity"] >= 2]
    assert problems == []


# --------------------------------------------------------------------------
# Render
# --------------------------------------------------------------------------


def test_default_render_has_every_component(default_objects):
    names = {(obj["kind"], obj["metadata"]["name"]) for obj in default_objects}
    expected = {
        ("ServiceAccount", "headshots"),
        ("Deployment", "headshots-gateway-web"),
        ("Deployment", "headshots-gateway-grpc"),
        ("Deployment", "headshots-gateway-worker"),
        ("Deployment", "headshots-trainer"),
        ("Deployment", "headshots-renderer-dispatcher"),
        ("Service", "headshots-gateway-web"),
        ("Service", "headshots-gateway-grpc"),
        ("HorizontalPodAutoscaler", "headshots-gateway-web"),
        ("PodDisruptionBudget", "headshots-gateway-web"),
        ("Job", "headshots-migrations"),
        ("CronJob", "headshots-gateway-retention"),
        ("RayService", "headshots-renderer"),
        ("NetworkPolicy", "headshots-default-deny"),
    }
    assert expected <= names, expected - names
    # Optional resources are off by default; Strimzi topics need a Strimzi cluster.
    kinds = {obj["kind"] for obj in default_objects}
    assert not kinds & {"Ingress", "ScaledObject", "Kafka", "KafkaNodePool", "KafkaTopic"}


def test_every_object_is_namespaced_and_labelled(all_objects):
    for obj in all_objects:
        metadata = obj["metadata"]
        assert metadata["namespace"] == NAMESPACE, obj["_template"]
        labels = metadata["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/name"] == "headshots"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "headshots-0.1.0"
        assert labels["team"] == "headshots"  # commonLabels


def test_one_resource_per_template_file(all_objects):
    templates = [obj["_template"] for obj in all_objects]
    duplicated = {path for path in templates if templates.count(path) > 1}
    assert not duplicated


def test_fullname_prefixes_every_name():
    objects = render({"fullnameOverride": "studio"})
    for obj in objects:
        assert obj["metadata"]["name"].startswith("studio"), obj["_template"]
    dispatcher = one(objects, "Deployment", "studio-renderer-dispatcher")
    env = env_of(dispatcher["spec"]["template"]["spec"]["containers"][0])
    assert env["HEADSHOTS_RENDERER_GRPC_TARGET"]["value"] == "studio-renderer-serve-svc:9000"


# --------------------------------------------------------------------------
# Validate against the Kubernetes schemas
# --------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_builtin_objects_are_valid_kubernetes(scenario):
    """Strict schema validation: wrong types and unknown fields are errors."""
    validated = 0
    for obj in render(SCENARIOS[scenario]):
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
        if group in CRD_GROUPS:
            assert (obj["apiVersion"], obj["kind"]) in CRD_KINDS, obj["_template"]
            continue
        try:
            kubernetes_validate.validate(strip(obj), KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{obj['_template']}: {error.message} at {list(error.absolute_path)}")
        validated += 1
    assert validated >= 7


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_ray_pod_templates_are_valid_kubernetes(scenario):
    """The RayService embeds core/v1 pod templates: validate them as PodTemplates."""
    objects = render(SCENARIOS[scenario])
    templates = [(name, t) for name, t in pod_templates(objects) if name.startswith("RayService/")]
    assert len(templates) == 2
    for name, template in templates:
        pod_template = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": "ray"},
            "template": template,
        }
        try:
            kubernetes_validate.validate(pod_template, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name}: {error.message} at {list(error.absolute_path)}")


def test_strict_validation_catches_unknown_fields(default_objects):
    """Guard against a validator that accepts anything."""
    deployment = strip(one(default_objects, "Deployment", "headshots-gateway-web"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)
