"""Kafka (external or Strimzi), the KubeRay RayService, KEDA and the renderer dispatcher in the chart.

Structural checks of the custom resources (RayService, Kafka, KafkaNodePool, KafkaTopic, ScaledObject):
apiVersion, kind and required fields. Their validation against the vendored CRD schemas is in
test_crd_schemas.py. The Ray Serve replicas of the `Renderer` deployment (renderer.replica.*: their
ray_actor_options, and autoscaling bounds derived from the GPU worker group) and the checks that make
rendering fail when the worker pods cannot hold them. Helpers: deploy_support.py; fixtures: conftest.py.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import helm_python as helm
import pytest
import yaml
from deploy_support import CHART_DIR, CRD_KINDS, GPU, PRESETS, TOPICS, containers, env_of, find, one, preset, render

# --------------------------------------------------------------------------
# Custom resources
# --------------------------------------------------------------------------


def test_custom_resources_have_required_fields(all_objects):
    kinds = {(obj["apiVersion"], obj["kind"]) for obj in all_objects}
    assert kinds >= CRD_KINDS

    rayservice = one(all_objects, "RayService", "headshots-renderer")
    assert rayservice["apiVersion"] == "ray.io/v1"
    spec = rayservice["spec"]
    assert spec["upgradeStrategy"]["type"] == "NewCluster"
    serve_config = yaml.safe_load(spec["serveConfigV2"])
    (application,) = serve_config["applications"]
    assert {key: value for key, value in application.items() if key != "deployments"} == {
        "name": "renderer",
        "import_path": "renderer.app:app",
        "route_prefix": "/",
    }
    assert [deployment["name"] for deployment in application["deployments"]] == ["Renderer"]
    assert serve_config["grpc_options"] == {
        "port": 9000,
        "grpc_servicer_functions": ["headshots.v1.renderer_service_pb2_grpc.add_RendererServiceServicer_to_server"],
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
# Kafka
# --------------------------------------------------------------------------


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
    objects = render(
        {
            "kafka": {
                "strimzi": {"enabled": True},
                "topics": {"orders": {"partitions": 24, "replicas": 2, "retentionMs": 2592000000}},
            }
        }
    )
    orders = [t for t in find(objects, "KafkaTopic") if t["spec"]["topicName"] == "headshots.orders.v1"][0]
    assert orders["spec"]["partitions"] == 24
    assert orders["spec"]["replicas"] == 2
    assert orders["spec"]["config"]["retention.ms"] == 2592000000


# --------------------------------------------------------------------------
# Renderer
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Renderer: the Ray Serve replicas of the Renderer deployment
# --------------------------------------------------------------------------

GIB = 1024**3


def serve_deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The `Renderer` entry of the Serve application's deployments in serveConfigV2."""
    serve_config = yaml.safe_load(one(objects, "RayService", "headshots-renderer")["spec"]["serveConfigV2"])
    (application,) = serve_config["applications"]
    (deployment,) = application["deployments"]
    assert deployment["name"] == "Renderer"  # services/renderer/renderer/app.py
    return deployment


def worker_group(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (group,) = one(objects, "RayService", "headshots-renderer")["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    return group


def gpus_per_worker_pod(group: dict[str, Any]) -> int:
    return group["template"]["spec"]["containers"][0]["resources"]["limits"][GPU]


def test_renderer_replica_defaults(default_objects):
    deployment = serve_deployment(default_objects)
    assert deployment["ray_actor_options"] == {"num_gpus": 1, "num_cpus": 4}
    assert deployment["max_ongoing_requests"] == 256
    assert "num_replicas" not in deployment
    group = worker_group(default_objects)
    assert deployment["autoscaling_config"] == {
        "min_replicas": group["minReplicas"],
        "max_replicas": group["maxReplicas"],
        "target_ongoing_requests": 32,
        "upscale_delay_s": 30,
        "downscale_delay_s": 600,
    }


@pytest.mark.parametrize("gpu_count", [1, 2])
def test_production_preset_runs_one_replica_per_gpu(gpu_count):
    values = preset("values-production.example.yaml")
    worker = values["renderer"]["worker"]
    worker["gpu"]["count"] = gpu_count
    # A pod with more GPUs holds more replicas: its requests grow with them.
    replica = values["renderer"]["replica"]
    worker["resources"]["requests"]["cpu"] = str(max(6, gpu_count * replica["cpus"]))
    worker["resources"]["requests"]["memory"] = f"{max(48, gpu_count * replica['memoryGiB'])}Gi"
    objects = render(values)
    deployment = serve_deployment(objects)
    options = deployment["ray_actor_options"]
    assert options["num_gpus"] == 1, "one GPU per Renderer replica"
    assert options["num_cpus"] == replica["cpus"]
    assert options["memory"] == replica["memoryGiB"] * GIB
    group = worker_group(objects)
    assert gpus_per_worker_pod(group) == gpu_count
    autoscaling = deployment["autoscaling_config"]
    assert autoscaling["min_replicas"] == group["minReplicas"] * gpu_count == worker["minReplicas"] * gpu_count
    assert autoscaling["max_replicas"] == group["maxReplicas"] * gpu_count == worker["maxReplicas"] * gpu_count
    assert 1 <= autoscaling["min_replicas"] < autoscaling["max_replicas"]
    assert "num_replicas" not in deployment


def test_dev_preset_runs_one_fixed_replica():
    objects = render(preset("values-dev.yaml"))
    deployment = serve_deployment(objects)
    assert deployment["num_replicas"] == 1
    assert "autoscaling_config" not in deployment
    assert deployment["ray_actor_options"]["num_gpus"] == 1
    assert gpus_per_worker_pod(worker_group(objects)) == 1


@pytest.mark.parametrize("name", PRESETS)
def test_presets_pass_the_values_schema(name):
    values = preset(name)
    assert "replica" in values["renderer"], f"{name} sets the Renderer replicas' resources"
    render(values)  # Helm validates the merged values against values.schema.json first
    with helm.Chart.load(CHART_DIR) as chart:
        merged = chart.merge_values(values)
        chart.validate_schema(merged)
    if importlib.util.find_spec("jsonschema") is not None:
        import jsonschema

        schema = json.loads((CHART_DIR / "values.schema.json").read_text())
        jsonschema.Draft7Validator(schema).validate(merged)


def test_fixed_replicas_without_autoscaling():
    objects = render(
        {"renderer": {"replica": {"replicas": 2, "autoscaling": {"enabled": False}}, "worker": {"replicas": 2}}}
    )
    deployment = serve_deployment(objects)
    assert deployment["num_replicas"] == 2
    assert "autoscaling_config" not in deployment


def test_cpu_only_replicas_ask_for_no_gpu():
    objects = render({"renderer": {"replica": {"gpus": 0}, "worker": {"gpu": {"count": 0}, "minReplicas": 2}}})
    deployment = serve_deployment(objects)
    assert "num_gpus" not in deployment["ray_actor_options"]
    assert deployment["ray_actor_options"]["num_cpus"] == 4
    assert GPU not in worker_group(objects)["template"]["spec"]["containers"][0]["resources"]["limits"]
    # One replica per worker pod.
    assert deployment["autoscaling_config"]["min_replicas"] == 2
    assert deployment["autoscaling_config"]["max_replicas"] == 4


def test_replica_settings_are_values():
    objects = render(
        {
            "renderer": {
                # Half a GPU each: a one-GPU worker pod holds two replicas.
                "replica": {
                    "gpus": 0.5,
                    "cpus": 2,
                    "memoryGiB": 1.5,
                    "maxOngoingRequests": 64,
                    "autoscaling": {"targetOngoingRequests": 8, "upscaleDelaySeconds": 5, "downscaleDelaySeconds": 120},
                },
                "worker": {"minReplicas": 0, "maxReplicas": 3, "resources": {"requests": {"memory": "3Gi"}}},
            }
        }
    )
    deployment = serve_deployment(objects)
    assert deployment["ray_actor_options"] == {"num_gpus": 0.5, "num_cpus": 2, "memory": 3 * GIB // 2}
    assert deployment["max_ongoing_requests"] == 64
    assert deployment["autoscaling_config"] == {
        "min_replicas": 0,
        "max_replicas": 6,
        "target_ongoing_requests": 8,
        "upscale_delay_s": 5,
        "downscale_delay_s": 120,
    }


@pytest.mark.parametrize("memory", [0, "", None])
def test_memory_is_not_set_when_empty(memory):
    deployment = serve_deployment(render({"renderer": {"replica": {"memoryGiB": memory}}}))
    assert "memory" not in deployment["ray_actor_options"]


@pytest.mark.parametrize("cpu", ["4", 4, "4000m", "4.5"])
def test_worker_cpu_request_forms_that_hold_a_replica(cpu):
    render({"renderer": {"worker": {"resources": {"requests": {"cpu": cpu}}}}})


@pytest.mark.parametrize("memory", ["32Gi", "32768Mi", "34359738368", "35G"])
def test_worker_memory_request_forms_that_hold_two_replicas(memory):
    worker = {"gpu": {"count": 2}, "resources": {"requests": {"cpu": "8", "memory": memory}}}
    deployment = serve_deployment(render({"renderer": {"replica": {"memoryGiB": 16}, "worker": worker}}))
    assert deployment["ray_actor_options"]["memory"] == 16 * GIB


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(
            {"worker": {"gpu": {"count": 3}}, "replica": {"gpus": 2}},
            "renderer.worker.gpu.count (3) is not a multiple of renderer.replica.gpus (2)",
            id="gpus-not-a-multiple",
        ),
        pytest.param(
            {"replica": {"gpus": 2}},
            "renderer.worker.gpu.count (1) is not a multiple of renderer.replica.gpus (2)",
            id="replica-larger-than-pod",
        ),
        pytest.param(
            {"worker": {"gpu": {"count": 0}}},
            "renderer.replica.gpus is 1 but renderer.worker.gpu.count is 0",
            id="gpu-replicas-on-cpu-workers",
        ),
        pytest.param(
            {"replica": {"replicas": 3, "autoscaling": {"enabled": False}}, "worker": {"replicas": 2}},
            "renderer.replica.replicas (3) exceeds what the GPU worker group holds",
            id="not-enough-gpus",
        ),
        pytest.param(
            {"worker": {"resources": {"requests": {"cpu": "3"}}}},
            "renderer.worker.resources.requests.cpu (3) cannot hold 1 Renderer replica(s)",
            id="cpu-request-in-cores",
        ),
        pytest.param(
            {"worker": {"resources": {"requests": {"cpu": "3500m"}}}},
            "renderer.worker.resources.requests.cpu (3500m) cannot hold 1 Renderer replica(s)",
            id="cpu-request-in-millicores",
        ),
        pytest.param(
            {"worker": {"gpu": {"count": 2}, "resources": {"requests": {"cpu": "6"}}}},
            "renderer.worker.resources.requests.cpu (6) cannot hold 2 Renderer replica(s) per Ray worker pod",
            id="cpu-request-for-two-replicas",
        ),
        pytest.param(
            {"replica": {"memoryGiB": 17}, "worker": {"gpu": {"count": 2}, "resources": {"requests": {"cpu": "8"}}}},
            "renderer.worker.resources.requests.memory (32Gi) cannot hold 2 Renderer replica(s)",
            id="memory-request",
        ),
        pytest.param(
            {"worker": {"minReplicas": 5, "maxReplicas": 4}},
            "renderer.worker.minReplicas (5) is greater than renderer.worker.maxReplicas (4)",
            id="min-above-max",
        ),
    ],
)
def test_replicas_the_worker_group_cannot_hold_fail_rendering(values, message):
    with pytest.raises(helm.HelmRenderError) as error:
        render({"renderer": values})
    assert message in str(error.value)


def test_enough_gpus_for_fixed_replicas_renders():
    objects = render(
        {
            "renderer": {
                "replica": {"cpus": 2, "replicas": 4, "autoscaling": {"enabled": False}},
                "worker": {"replicas": 2, "gpu": {"count": 2}},
            }
        }
    )
    assert serve_deployment(objects)["num_replicas"] == 4


def test_replica_values_are_checked_by_the_schema():
    for values, fragment in (
        ({"gpus": -1}, "/renderer/replica/gpus"),
        ({"cpus": "four"}, "/renderer/replica/cpus"),
        ({"memoryGiB": "8Gi"}, "/renderer/replica/memoryGiB"),
        ({"maxOngoingRequests": 0}, "/renderer/replica/maxOngoingRequests"),
        ({"replicas": 0}, "/renderer/replica/replicas"),
        ({"autoscaling": {"targetOngoingRequests": 0}}, "/renderer/replica/autoscaling/targetOngoingRequests"),
        ({"minReplicas": 1}, "/renderer/replica"),  # bounds come from the worker group, not values
    ):
        with pytest.raises(helm.HelmValuesError) as error:
            render({"renderer": {"replica": values}})
        assert fragment in str(error.value), values


def test_serve_deployments_is_no_longer_a_value():
    with pytest.raises(helm.HelmValuesError) as error:
        render({"renderer": {"serve": {"deployments": [{"name": "Renderer", "num_replicas": 2}]}}})
    assert "deployments" in str(error.value)
