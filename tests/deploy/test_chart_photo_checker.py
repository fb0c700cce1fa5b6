"""The photo checker in the chart: its own Deployment from the gateway image, two replicas at least, a whole core
each (CPU request = limit), scaled by KEDA on its consumer lag, never past the photos topic's partitions."""

from __future__ import annotations

import helm_python as helm
import pytest
from deploy_support import containers, env_of, find, one, render

NAME = "headshots-photo-checker"


def _container(objects):
    return one(objects, "Deployment", NAME)["spec"]["template"]["spec"]["containers"][0]


def test_the_checker_is_a_deployment_of_the_gateway_image_with_a_whole_core_each(default_objects):
    deployment = one(default_objects, "Deployment", NAME)
    assert deployment["spec"]["replicas"] >= 2
    container = _container(default_objects)
    web = one(default_objects, "Deployment", "headshots-gateway-web")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == web["image"]
    resources = container["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"]
    assert resources["requests"]["memory"] == resources["limits"]["memory"]
    assert container["livenessProbe"]["exec"]["command"][-1] == "photo_checker_healthcheck"
    # The web answers uploads from the same settings the checker and the backlog bounds follow.
    env = env_of(container)
    for variable in ("HEADSHOTS_CHECK_BACKLOG_MAX_AGE_S", "HEADSHOTS_VERDICT_WAIT_S", "HEADSHOTS_KAFKA_BOOTSTRAP"):
        assert env[variable] == env_of(web)[variable], variable


def test_keda_scales_it_on_the_photos_topics_lag_and_owns_its_replicas():
    objects = render({"gateway": {"checker": {"keda": {"enabled": True, "maxReplicaCount": 6}}}})
    scaled = one(objects, "ScaledObject", NAME)["spec"]
    assert scaled["scaleTargetRef"]["name"] == NAME and scaled["minReplicaCount"] >= 2
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "kafka" and trigger["metadata"]["topic"] == "headshots.photos.v1"
    assert trigger["metadata"]["consumerGroup"] == "headshots-photo-checker"
    assert "replicas" not in one(objects, "Deployment", NAME)["spec"]


def test_more_replicas_than_partitions_fail_rendering():
    values = {"gateway": {"checker": {"keda": {"enabled": True, "maxReplicaCount": 30}}}}
    with pytest.raises(helm.HelmRenderError) as error:
        render(values)
    assert "kafka.topics.photos.partitions (24) must be at least the photo checker's replicas (30)" in str(error.value)
    values["kafka"] = {"topics": {"photos": {"partitions": 30}}}
    assert one(render(values), "ScaledObject", NAME)


@pytest.mark.parametrize("replicas", [0, 1])
def test_fewer_than_two_replicas_are_refused(replicas):
    with pytest.raises(helm.HelmValuesError):
        render({"gateway": {"checker": {"replicaCount": replicas}}})


def test_it_takes_no_traffic_and_reaches_only_the_backends(all_objects):
    own = one(all_objects, "NetworkPolicy", NAME)["spec"]
    assert own["ingress"] == [] and own["policyTypes"] == ["Ingress"]
    backends = one(all_objects, "NetworkPolicy", "headshots-allow-backends")["spec"]
    assert "photo-checker" in backends["podSelector"]["matchExpressions"][0]["values"]
    assert [w for w, _ in containers(all_objects) if NAME in w]
    assert find(all_objects, "PodMonitor", NAME)
