"""Offline tests of the Helm chart in deploy/helm/headshots.

No cluster and no helm binary: the chart is linted and rendered with the
Helm Go SDK through the `helm-python-sdk` package (import name helm_python),
built-in Kubernetes objects are validated with `kubernetes-validate` (strict:
unknown fields are errors) against a pinned Kubernetes version, and the
custom resources (RayService, Kafka, KafkaNodePool, KafkaTopic, ScaledObject)
get structural checks of their apiVersion, kind and required fields.

Pinned test dependencies: requirements/deploy-test.txt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "deploy" / "helm" / "headshots"
RELEASE = "headshots"
NAMESPACE = "headshots"
# kubernetes-validate ships the schemas of several Kubernetes releases; the
# chart is validated against this one (Chart.yaml requires >=1.29).
KUBE_VERSION = "1.31.0"

TOPICS = {"headshots.orders.v1", "headshots.training.v1", "headshots.rendering.v1"}
SHARED_ENV = {
    "DATABASE_URL",
    "DJANGO_SECRET_KEY",
    "HEADSHOTS_KAFKA_BOOTSTRAP",
    "HEADSHOTS_BLOB_URL",
    "HEADSHOTS_BASE_MODEL",
    "HEADSHOTS_BASE_MODEL_ARCH",
}
GPU = "nvidia.com/gpu"

# Custom resources the chart renders and the API groups they belong to.
CRD_KINDS = {
    ("ray.io/v1", "RayService"),
    ("kafka.strimzi.io/v1beta2", "Kafka"),
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"),
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
    ("keda.sh/v1alpha1", "ScaledObject"),
}
CRD_GROUPS = {api_version.split("/")[0] for api_version, _ in CRD_KINDS}

# Every optional feature switched on, plus non-default shared settings.
ALL_FEATURES: dict[str, Any] = {
    "global": {"imagePullSecrets": ["registry-credentials"]},
    "commonLabels": {"team": "headshots"},
    "commonAnnotations": {"headshots.io/owner": "platform"},
    "config": {
        "blob": {"s3": {"endpointUrl": "http://minio.storage:9000", "region": "eu-west-1"}},
        "extraEnvVars": [{"name": "LOG_LEVEL", "value": "debug"}],
    },
    "gateway": {
        "config": {"cache": {"url": "redis://redis-master.cache:6379/0"}, "rateLimit": "600/min"},
        "web": {"podAnnotations": {"prometheus.io/scrape": "true"}},
        "retention": {"timeZone": "Europe/Paris", "podAnnotations": {"sidecar.istio.io/inject": "false"}},
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
            "hosts": [{"host": "headshots.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
            "tls": [{"secretName": "headshots-tls", "hosts": ["headshots.example.com"]}],
        },
    },
    "trainer": {"keda": {"enabled": True}, "nodeSelector": {"nvidia.com/gpu.present": "true"}},
    "renderer": {"worker": {"rayStartParams": {"num-gpus": "1"}}},
    "kafka": {"strimzi": {"enabled": True, "storage": {"storageClass": "fast-ssd"}}},
    "networkPolicy": {"rayOperatorPeers": [{"namespaceSelector": {"matchLabels": {"name": "kuberay"}}}]},
}

# Every optional feature switched off.
FEATURES_OFF: dict[str, Any] = {
    "serviceAccount": {"create": False, "name": "headshots-runner"},
    "config": {"blob": {"s3": {"existingSecret": ""}}},
    "gateway": {
        "web": {"autoscaling": {"enabled": False}, "pdb": {"create": False}},
        "migrations": {"enabled": False},
        "retention": {"enabled": False},
    },
    "renderer": {"autoscaling": {"enabled": False}},
    "kafka": {"topics": {"strimzi": {"enabled": False}}},
    "networkPolicy": {"enabled": False},
}

SCENARIOS = {"default": None, "all-features": ALL_FEATURES, "features-off": FEATURES_OFF}


# --------------------------------------------------------------------------
# Rendering helpers
# --------------------------------------------------------------------------


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Render the chart like `helm template` and return its objects."""
    with helm.Chart.load(CHART_DIR) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                document.setdefault("_template", path)
                objects.append(document)
    return objects


def strip(obj: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if key != "_template"}


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        obj
        for obj in objects
        if obj["kind"] == kind and (name is None or obj["metadata"]["name"] == name)
    ]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_templates(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod template the chart defines, including the Ray pods' templates."""
    for obj in objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] in {"Deployment", "Job"}:
            yield name, obj["spec"]["template"]
        elif obj["kind"] == "CronJob":
            yield name, obj["spec"]["jobTemplate"]["spec"]["template"]
        elif obj["kind"] == "RayService":
            cluster = obj["spec"]["rayClusterConfig"]
            yield f"{name}/head", cluster["headGroupSpec"]["template"]
            for group in cluster["workerGroupSpecs"]:
                yield f"{name}/{group['groupName']}", group["template"]


def containers(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, template in pod_templates(objects):
        for container in template["spec"]["containers"]:
            yield f"{name}/{container['name']}", container


def image_tag(image: str) -> str:
    return image.rsplit(":", 1)[1]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


@pytest.fixture(scope="module")
def default_objects() -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="module")
def all_objects() -> list[dict[str, Any]]:
    return render(ALL_FEATURES)


# --------------------------------------------------------------------------
# Lint, render, validate
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


def test_custom_resources_have_required_fields(all_objects):
    kinds = {(obj["apiVersion"], obj["kind"]) for obj in all_objects}
    assert CRD_KINDS <= kinds

    rayservice = one(all_objects, "RayService", "headshots-renderer")
    assert rayservice["apiVersion"] == "ray.io/v1"
    spec = rayservice["spec"]
    assert spec["upgradeStrategy"]["type"] == "NewCluster"
    serve_config = yaml.safe_load(spec["serveConfigV2"])
    assert serve_config["applications"] == [
        {"name": "renderer", "import_path": "renderer.app:app", "route_prefix": "/"}
    ]
    assert serve_config["grpc_options"] == {
        "port": 9000,
        "grpc_servicer_functions": [
            "headshots.v1.renderer_service_pb2_grpc.add_RendererServiceServicer_to_server"
        ],
    }
    cluster = spec["rayClusterConfig"]
    assert cluster["rayVersion"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    head_resources = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]
    assert GPU not in head_resources.get("limits", {}), "the Ray head gets no GPU"
    (worker,) = cluster["workerGroupSpecs"]
    assert {"groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams", "template"} <= set(worker)
    assert worker["minReplicas"] <= worker["replicas"] <= worker["maxReplicas"]
    assert worker["template"]["spec"]["containers"][0]["resources"]["limits"][GPU] == 1

    kafka = one(all_objects, "Kafka", "headshots-kafka")
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1beta2"
    assert kafka["metadata"]["annotations"]["strimzi.io/node-pools"] == "enabled"
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    assert kafka["spec"]["kafka"]["listeners"][0]["port"] == 9092
    assert "topicOperator" in kafka["spec"]["entityOperator"]

    (pool,) = find(all_objects, "KafkaNodePool")
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "headshots-kafka"
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    assert pool["spec"]["replicas"] >= 1
    assert pool["spec"]["storage"]["volumes"][0]["class"] == "fast-ssd"

    topics = find(all_objects, "KafkaTopic")
    assert {topic["spec"]["topicName"] for topic in topics} == TOPICS
    for topic in topics:
        assert topic["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "headshots-kafka"
        assert topic["spec"]["partitions"] >= 1
        assert topic["spec"]["replicas"] >= 1
        assert isinstance(topic["spec"]["config"]["retention.ms"], int)

    scaled = one(all_objects, "ScaledObject", "headshots-trainer")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == "headshots-trainer"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["topic"] == "headshots.orders.v1"
    assert trigger["metadata"]["consumerGroup"] == "headshots-trainer"
    assert trigger["metadata"]["bootstrapServers"] == "headshots-kafka-kafka-bootstrap:9092"


# --------------------------------------------------------------------------
# Intent
# --------------------------------------------------------------------------

EXPECTED_COMMANDS = {
    "headshots-gateway-web": [
        "gunicorn", "gateway.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4",
    ],
    "headshots-gateway-grpc": ["python", "manage.py", "run_partner_grpc", "--host", "0.0.0.0", "--port", "50051"],
    "headshots-gateway-worker": ["python", "manage.py", "run_worker"],
    "headshots-trainer": ["python", "-m", "trainer"],
    "headshots-renderer-dispatcher": ["python", "-m", "renderer.dispatcher"],
}


def test_deployments_run_the_expected_processes(default_objects):
    deployments = find(default_objects, "Deployment")
    assert {d["metadata"]["name"] for d in deployments} == set(EXPECTED_COMMANDS)
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == EXPECTED_COMMANDS[deployment["metadata"]["name"]]


def test_gateway_probes(default_objects):
    web = one(default_objects, "Deployment", "headshots-gateway-web")["spec"]["template"]["spec"]
    (container,) = web["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"

    grpc = one(default_objects, "Deployment", "headshots-gateway-grpc")["spec"]["template"]["spec"]
    (container,) = grpc["containers"]
    assert container["ports"][0]["containerPort"] == 50051
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"] == {"port": 50051}

    worker = one(default_objects, "Deployment", "headshots-gateway-worker")["spec"]["template"]["spec"]
    (container,) = worker["containers"]
    assert container["livenessProbe"]["exec"]["command"] == [
        "python", "manage.py", "worker_healthcheck",
    ]


def test_every_deployment_container_has_probes_and_resources(all_objects):
    for deployment in find(all_objects, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            where = f"{deployment['metadata']['name']}/{container['name']}"
            liveness = container.get("livenessProbe")
            assert liveness, f"{where} has no liveness probe"
            has_port = bool(container.get("ports"))
            if has_port:
                assert container.get("readinessProbe"), f"{where} serves a port without readiness probe"
            else:
                assert "exec" in liveness, f"{where} has no port: its liveness must be an exec check"
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), where


def test_every_container_has_resources(all_objects):
    for where, container in containers(all_objects):
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), where
        assert {"cpu", "memory"} <= set(resources["limits"]), where
    rayservice = one(all_objects, "RayService", "headshots-renderer")
    autoscaler = rayservice["spec"]["rayClusterConfig"]["autoscalerOptions"]
    assert {"requests", "limits"} <= set(autoscaler["resources"])
    for kind, name in [("Kafka", "headshots-kafka")]:
        operator = one(all_objects, kind, name)["spec"]["entityOperator"]["topicOperator"]
        assert {"requests", "limits"} <= set(operator["resources"])
    (pool,) = find(all_objects, "KafkaNodePool")
    assert {"requests", "limits"} <= set(pool["spec"]["resources"])


def test_trainer_requests_a_gpu_and_tolerates_the_gpu_taint(all_objects):
    deployment = one(all_objects, "Deployment", "headshots-trainer")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"][GPU] >= 1
    assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["terminationGracePeriodSeconds"] == 600
    assert container["livenessProbe"]["exec"]["command"] == ["python", "-m", "trainer.healthcheck"]
    # KEDA owns the replica count when it is enabled.
    assert "replicas" not in deployment["spec"]


def test_gpu_count_is_a_value():
    objects = render({"trainer": {"gpu": {"count": 2}}, "renderer": {"worker": {"gpu": {"count": 4}}}})
    trainer = one(objects, "Deployment", "headshots-trainer")
    assert trainer["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"][GPU] == 2
    rayservice = one(objects, "RayService", "headshots-renderer")
    worker = rayservice["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    assert worker["template"]["spec"]["containers"][0]["resources"]["limits"][GPU] == 4
    assert worker["template"]["spec"]["tolerations"] == [
        {"key": GPU, "operator": "Exists", "effect": "NoSchedule"}
    ]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_pod_or_container_can_run_as_root(scenario):
    objects = render(SCENARIOS[scenario])
    ray_autoscaler = (SCENARIOS[scenario] or {}).get("renderer", {}).get("autoscaling", {}).get("enabled", True)
    templates = list(pod_templates(objects))
    assert len(templates) >= 6
    for name, template in templates:
        pod = template["spec"]
        pod_security = pod["securityContext"]
        assert pod_security["runAsNonRoot"] is True, name
        assert pod_security["runAsUser"] != 0, name
        assert pod_security["seccompProfile"]["type"] == "RuntimeDefault", name
        if name.endswith("/head") and ray_autoscaler:
            # KubeRay's autoscaler sidecar needs its (KubeRay-created) token.
            assert "serviceAccountName" not in pod, name
        else:
            assert pod["automountServiceAccountToken"] is False, name
        tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod["containers"]:
            where = f"{name}/{container['name']}"
            security = container["securityContext"]
            assert security.get("runAsNonRoot", pod_security["runAsNonRoot"]) is True, where
            assert security.get("runAsUser", pod_security["runAsUser"]) != 0, where
            assert security.get("privileged", False) is False, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert "ALL" in security["capabilities"]["drop"], where
            assert not security["capabilities"].get("add"), where
            assert security["seccompProfile"]["type"] == "RuntimeDefault", where
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in tmp_volumes, f"{where}: /tmp must be an emptyDir"
    for rayservice in find(objects, "RayService"):
        autoscaler = rayservice["spec"]["rayClusterConfig"].get("autoscalerOptions")
        if autoscaler:
            assert autoscaler["securityContext"]["runAsNonRoot"] is True
            assert autoscaler["securityContext"]["allowPrivilegeEscalation"] is False


def test_strimzi_pods_are_locked_down_too(all_objects):
    kafka = one(all_objects, "Kafka", "headshots-kafka")
    (pool,) = find(all_objects, "KafkaNodePool")
    templates = [
        (kafka["spec"]["entityOperator"]["template"], "topicOperatorContainer"),
        (pool["spec"]["template"], "kafkaContainer"),
    ]
    for template, container in templates:
        assert template["pod"]["securityContext"]["runAsNonRoot"] is True
        assert template["pod"]["securityContext"]["runAsUser"] != 0
        security = template[container]["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert "ALL" in security["capabilities"]["drop"]


def test_service_account_token_not_mounted(default_objects):
    account = one(default_objects, "ServiceAccount", "headshots")
    assert account["automountServiceAccountToken"] is False


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_secrets_only_through_existing_secret_references(scenario):
    objects = render(SCENARIOS[scenario])
    assert not find(objects, "Secret"), "the chart must never create Secret objects"
    for where, container in containers(objects):
        for item in container.get("env", []):
            if item["name"] in {"DATABASE_URL", "DJANGO_SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"}:
                assert "value" not in item, f"{where}: {item['name']} must come from a Secret"
                assert item["valueFrom"]["secretKeyRef"]["name"], where


def test_shared_configuration_is_identical_everywhere(all_objects):
    seen: dict[str, Any] = {}
    count = 0
    for where, container in containers(all_objects):
        env = env_of(container)
        assert SHARED_ENV <= set(env), f"{where} lacks {SHARED_ENV - set(env)}"
        for name in SHARED_ENV | {"AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "LOG_LEVEL"}:
            assert name in env, f"{where} lacks {name}"
            assert seen.setdefault(name, env[name]) == env[name], f"{where}: {name} differs"
        count += 1
    assert count == 9  # 5 Deployments, the migrations Job, the retention CronJob, the Ray head and the Ray workers
    assert seen["HEADSHOTS_KAFKA_BOOTSTRAP"]["value"] == "headshots-kafka-kafka-bootstrap:9092"
    assert seen["HEADSHOTS_BASE_MODEL"]["value"] == "stabilityai/stable-diffusion-xl-base-1.0"
    assert seen["HEADSHOTS_BASE_MODEL_ARCH"]["value"] == "sdxl"
    assert seen["HEADSHOTS_BLOB_URL"]["value"].startswith("s3://")
    assert seen["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "headshots-database", "key": "database-url"}
    assert seen["DJANGO_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "headshots-django", "key": "secret-key"}
    assert seen["AWS_ENDPOINT_URL"]["value"] == "http://minio.storage:9000"


def test_external_kafka_by_default(default_objects):
    for where, container in containers(default_objects):
        assert env_of(container)["HEADSHOTS_KAFKA_BOOTSTRAP"]["value"] == "kafka:9092", where


def test_strimzi_topics_for_an_existing_strimzi_cluster():
    objects = render({"kafka": {"topics": {"strimzi": {"clusterName": "shared-kafka"}}}})
    topics = find(objects, "KafkaTopic")
    assert {topic["spec"]["topicName"] for topic in topics} == TOPICS
    assert {topic["metadata"]["labels"]["strimzi.io/cluster"] for topic in topics} == {"shared-kafka"}
    assert not find(objects, "Kafka")


def test_topic_settings_are_values():
    objects = render({
        "kafka": {
            "strimzi": {"enabled": True},
            "topics": {"orders": {"partitions": 24, "replicas": 2, "retentionMs": 2592000000}},
        }
    })
    orders = [t for t in find(objects, "KafkaTopic") if t["spec"]["topicName"] == "headshots.orders.v1"][0]
    assert orders["spec"]["partitions"] == 24
    assert orders["spec"]["replicas"] == 2
    assert orders["spec"]["config"]["retention.ms"] == 2592000000


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


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_default_deny_network_policy_covers_every_pod(scenario):
    objects = render(SCENARIOS[scenario])
    policies = find(objects, "NetworkPolicy")
    if (SCENARIOS[scenario] or {}).get("networkPolicy", {}).get("enabled", True) is False:
        assert policies == []
        return
    deny = one(objects, "NetworkPolicy", "headshots-default-deny")
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    selector = deny["spec"]["podSelector"]["matchLabels"]
    for name, template in pod_templates(objects):
        labels = template["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"{name} escapes the default deny"


def test_network_policies_open_only_what_is_needed(default_objects):
    policies = {p["metadata"]["name"]: p["spec"] for p in find(default_objects, "NetworkPolicy")}

    def ports(rules):
        return {port["port"] for rule in rules for port in rule.get("ports", [])}

    web = policies["headshots-gateway-web"]
    assert web["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway-web"
    assert ports(web["ingress"]) == {8000}
    grpc = policies["headshots-gateway-grpc"]
    assert ports(grpc["ingress"]) == {50051}

    dns = policies["headshots-allow-dns"]
    assert ports(dns["egress"]) == {53}

    backends = policies["headshots-allow-backends"]
    assert ports(backends["egress"]) == {5432, 9092, 443}

    dispatcher = policies["headshots-renderer-dispatcher"]
    (rule,) = dispatcher["egress"]
    assert ports([rule]) == {9000}
    target = rule["to"][0]["podSelector"]["matchLabels"]
    assert target["app.kubernetes.io/component"] == "renderer"

    renderer = policies["headshots-renderer"]
    from_dispatcher = [
        rule for rule in renderer["ingress"]
        if rule.get("from", [{}])[0].get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
        == "renderer-dispatcher"
    ]
    assert ports(from_dispatcher) == {9000}


def test_dispatcher_targets_the_rayservice_serve_grpc_port(default_objects):
    dispatcher = one(default_objects, "Deployment", "headshots-renderer-dispatcher")
    env = env_of(dispatcher["spec"]["template"]["spec"]["containers"][0])
    rayservice = one(default_objects, "RayService", "headshots-renderer")
    serve_service = f"{rayservice['metadata']['name']}-serve-svc"
    assert env["HEADSHOTS_RENDERER_GRPC_TARGET"]["value"] == f"{serve_service}:9000"
    # KubeRay puts the head's `serve` and `serve-*` ports on <name>-serve-svc;
    # `serve` stays the HTTP port its health checks use.
    head = rayservice["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head_ports = {port["name"]: port["containerPort"] for port in head["ports"]}
    assert head_ports["serve"] == 8000
    assert head_ports["serve-grpc"] == 9000


def test_fullname_prefixes_every_name():
    objects = render({"fullnameOverride": "studio"})
    for obj in objects:
        assert obj["metadata"]["name"].startswith("studio"), obj["_template"]
    dispatcher = one(objects, "Deployment", "studio-renderer-dispatcher")
    env = env_of(dispatcher["spec"]["template"]["spec"]["containers"][0])
    assert env["HEADSHOTS_RENDERER_GRPC_TARGET"]["value"] == "studio-renderer-serve-svc:9000"


def test_migrations_run_as_pre_install_and_pre_upgrade_hook(default_objects):
    job = one(default_objects, "Job", "headshots-migrations")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    # The chart's ServiceAccount does not exist yet when a pre-install hook runs.
    assert "serviceAccountName" not in pod


GATEWAY_PODS = {
    ("Deployment", "headshots-gateway-web"),
    ("Deployment", "headshots-gateway-grpc"),
    ("Deployment", "headshots-gateway-worker"),
    ("Job", "headshots-migrations"),
    ("CronJob", "headshots-gateway-retention"),
}
GATEWAY_ENV_DEFAULTS = {
    "HEADSHOTS_RATE_LIMIT": "1200/min",
    "HEADSHOTS_ORDER_RATE_LIMIT": "120/min",
    "HEADSHOTS_WEBHOOK_MAX_ATTEMPTS": "10",
    "HEADSHOTS_WEBHOOK_BASE_DELAY_S": "30",
    "HEADSHOTS_AUTH_CACHE_S": "30",
}


def gateway_envs(objects: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    templates = dict(pod_templates(objects))
    return {
        name: env_of(templates[f"{kind}/{name}"]["spec"]["containers"][0]) for kind, name in GATEWAY_PODS
    }


def test_retention_cronjob_purges_on_a_schedule(default_objects):
    cronjob = one(default_objects, "CronJob", "headshots-gateway-retention")
    assert cronjob["apiVersion"] == "batch/v1"
    spec = cronjob["spec"]
    assert spec["schedule"] == "0 * * * *"  # hourly
    assert spec["concurrencyPolicy"] == "Forbid"
    assert "timeZone" not in spec
    assert spec["startingDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] >= 0 and job["activeDeadlineSeconds"] > 0
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "headshots" and pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["command"] == ["python", "manage.py", "purge_expired"]
    web = one(default_objects, "Deployment", "headshots-gateway-web")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == web["image"]
    assert container["securityContext"] == web["securityContext"]
    assert {item["name"] for item in container["env"]} == {item["name"] for item in web["env"]}
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    # Same labels as every pod: the default deny selects it, allow-backends opens PostgreSQL and S3.
    labels = job["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "gateway-retention"
    backends = one(default_objects, "NetworkPolicy", "headshots-allow-backends")["spec"]["podSelector"]
    assert "gateway-retention" in backends["matchExpressions"][0]["values"]


def test_retention_cronjob_settings_are_values():
    objects = render({"gateway": {"retention": {
        "schedule": "*/15 * * * *", "timeZone": "Europe/Paris", "startingDeadlineSeconds": 120,
        "successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 5,
    }}})
    spec = one(objects, "CronJob", "headshots-gateway-retention")["spec"]
    assert spec["schedule"] == "*/15 * * * *" and spec["timeZone"] == "Europe/Paris"
    assert (spec["startingDeadlineSeconds"], spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (
        120, 1, 5)
    assert not find(render({"gateway": {"retention": {"enabled": False}}}), "CronJob")


def test_gateway_settings_defaults_reach_every_gateway_pod(default_objects):
    for name, env in gateway_envs(default_objects).items():
        for variable, value in GATEWAY_ENV_DEFAULTS.items():
            assert env[variable] == {"name": variable, "value": value}, name
        # Empty cache URL: no entry at all, the gateway falls back to per-process memory.
        assert "HEADSHOTS_CACHE_URL" not in env, name
        assert "HEADSHOTS_WEBHOOK_ALLOW_NETWORKS" not in env, name  # webhooks reach public addresses only
    # Only gateway pods get them.
    for where, container in containers(default_objects):
        if not where.split("/")[1].startswith(("headshots-gateway", "headshots-migrations")):
            assert not set(GATEWAY_ENV_DEFAULTS) & set(env_of(container)), where
    assert not find(default_objects, "NetworkPolicy", "headshots-gateway-cache")


def test_gateway_settings_are_values():
    objects = render({"gateway": {"config": {
        "cache": {"url": "redis://redis-master.cache:6379/1"},
        "rateLimit": "300/min", "orderRateLimit": "", "webhookMaxAttempts": 1000000,
        "webhookBaseDelaySeconds": 2.5, "authCacheSeconds": 0, "webhookAllowNetworks": ["10.20.0.0/16", "fd00::/8"],
    }}})
    web = one(objects, "Deployment", "headshots-gateway-web")["spec"]["template"]["spec"]["containers"][0]
    env = env_of(web)
    assert env["HEADSHOTS_CACHE_URL"] == {"name": "HEADSHOTS_CACHE_URL", "value": "redis://redis-master.cache:6379/1"}
    assert env["HEADSHOTS_RATE_LIMIT"]["value"] == "300/min"
    assert "HEADSHOTS_ORDER_RATE_LIMIT" not in env  # empty: not rendered, the gateway default applies
    assert env["HEADSHOTS_WEBHOOK_MAX_ATTEMPTS"]["value"] == "1000000"  # not 1e+06
    assert env["HEADSHOTS_WEBHOOK_BASE_DELAY_S"]["value"] == "2.5"
    assert env["HEADSHOTS_AUTH_CACHE_S"]["value"] == "0"  # 0 is a value, not empty
    assert env["HEADSHOTS_WEBHOOK_ALLOW_NETWORKS"]["value"] == "10.20.0.0/16,fd00::/8"
    assert all(e == env for e in gateway_envs(objects).values())
    # The gateway pods may reach the cache; nothing else gets that egress.
    policy = one(objects, "NetworkPolicy", "headshots-gateway-cache")["spec"]
    assert [p["port"] for p in policy["egress"][0]["ports"]] == [6379]
    assert "trainer" not in policy["podSelector"]["matchExpressions"][0]["values"]


def test_gateway_cache_url_from_an_existing_secret():
    objects = render({"gateway": {"config": {"cache": {"existingSecret": "headshots-cache", "url": "redis://ignored"}}}})
    for name, env in gateway_envs(objects).items():
        assert env["HEADSHOTS_CACHE_URL"] == {
            "name": "HEADSHOTS_CACHE_URL",
            "valueFrom": {"secretKeyRef": {"name": "headshots-cache", "key": "cache-url"}},
        }, name


@pytest.mark.parametrize(
    "config",
    [{"rateLimit": "lots"}, {"webhookMaxAttempts": 0}, {"authCacheSeconds": -1}, {"cache": {"url": "memcached://x"}},
     {"webhookAllowNetworks": ["the office"]}, {"webhookAllowNetworks": "10.0.0.0/8"}],
)
def test_schema_rejects_invalid_gateway_settings(config):
    with helm.Chart.load(CHART_DIR) as chart:
        with pytest.raises(helm.HelmValuesError) as error:
            chart.validate_schema(chart.merge_values({"gateway": {"config": config}}))
    assert "/gateway/config/" in str(error.value)

def test_hpa_owns_gateway_web_replicas(default_objects):
    web = one(default_objects, "Deployment", "headshots-gateway-web")
    assert "replicas" not in web["spec"]
    hpa = one(default_objects, "HorizontalPodAutoscaler", "headshots-gateway-web")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "headshots-gateway-web"}
    assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"

    pdb = one(default_objects, "PodDisruptionBudget", "headshots-gateway-web")
    assert pdb["spec"]["selector"]["matchLabels"] == web["spec"]["selector"]["matchLabels"]

    objects = render({"gateway": {"web": {"autoscaling": {"enabled": False}, "replicaCount": 3}}})
    assert one(objects, "Deployment", "headshots-gateway-web")["spec"]["replicas"] == 3
    assert not find(objects, "HorizontalPodAutoscaler")


def test_ingress_routes_to_gateway_web(all_objects):
    ingress = one(all_objects, "Ingress", "headshots-gateway-web")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "headshots-tls", "hosts": ["headshots.example.com"]}]
    (rule,) = ingress["spec"]["rules"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "headshots-gateway-web", "port": {"name": "http"}}


# --------------------------------------------------------------------------
# values.yaml and values.schema.json
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
