"""Kafka (external or Strimzi), the KubeRay RayService, KEDA and the renderer dispatcher in the chart.

Structural checks of the custom resources (RayService, Kafka, KafkaNodePool, KafkaTopic, ScaledObject):
apiVersion, kind and required fields. Their validation against the vendored CRD schemas is in
test_crd_schemas.py. Helpers: deploy_support.py; fixtures: conftest.py.
"""

from __future__ import annotations

import yaml
from deploy_support import CRD_KINDS, GPU, TOPICS, containers, env_of, find, one, render

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
    assert serve_config["applications"] == [
        {"name": "renderer", "import_path": "renderer.app:app", "route_prefix": "/"}
    ]
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
