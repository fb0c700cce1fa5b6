"""The presets beside the chart, values-dev.yaml and values-production.example.yaml.

Linted, rendered and validated like the chart's own scenarios, and checked for what each promises.
Helpers: deploy_support.py.
"""

from __future__ import annotations

import helm_python as helm
import kubernetes_validate
import pytest
from deploy_support import (
    CHART_DIR,
    CRD_KINDS,
    GPU,
    KUBE_VERSION,
    NAMESPACE,
    PRESETS,
    find,
    image_tag,
    one,
    pod_templates,
    preset,
    render,
    strip,
)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_lints_strict_and_validates(name):
    values = preset(name)
    report = helm.lint(CHART_DIR, values, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []
    crd_groups = {api.split("/")[0] for api, _ in CRD_KINDS}
    for obj in render(values):
        if obj["apiVersion"].split("/")[0] in crd_groups:
            continue
        try:
            kubernetes_validate.validate(strip(obj), KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name} {obj['_template']}: {error.message} at {list(error.absolute_path)}")


def test_dev_preset_is_one_small_cluster():
    objects = render(preset("values-dev.yaml"))
    for deployment in find(objects, "Deployment"):
        name = deployment["metadata"]["name"]
        # The photo checker runs two at least: uploads are checked while one restarts.
        assert deployment["spec"].get("replicas", 1) == (2 if name == "headshots-photo-checker" else 1), name
    assert not find(objects, "HorizontalPodAutoscaler") and not find(objects, "ScaledObject")
    assert not find(objects, "PodDisruptionBudget"), "a PDB on one replica blocks drains"
    (kafka,) = find(objects, "Kafka")
    (pool,) = find(objects, "KafkaNodePool")
    assert pool["spec"]["replicas"] == 1
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 1
    for topic in find(objects, "KafkaTopic"):
        assert topic["spec"]["replicas"] <= pool["spec"]["replicas"]
    worker = one(objects, "RayService", "headshots-renderer")["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    assert worker["maxReplicas"] == 1
    assert worker["template"]["spec"]["containers"][0]["resources"]["limits"][GPU] == 1


def test_production_preset():
    values = preset("values-production.example.yaml")
    objects = render(values)
    hpa = one(objects, "HorizontalPodAutoscaler", "headshots-gateway-web")
    assert 2 < hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    pdb = one(objects, "PodDisruptionBudget", "headshots-gateway-web")
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
    ingress = one(objects, "Ingress", "headshots-gateway-web")
    (tls,) = ingress["spec"]["tls"]
    assert {rule["host"] for rule in ingress["spec"]["rules"]} <= set(tls["hosts"])
    scaled = one(objects, "ScaledObject", "headshots-trainer")
    assert scaled["spec"]["maxReplicaCount"] > scaled["spec"].get("minReplicaCount", 0)
    (pool,) = find(objects, "KafkaNodePool")
    for topic in find(objects, "KafkaTopic"):
        assert 1 < topic["spec"]["replicas"] <= pool["spec"]["replicas"]
    # GPU pools: trainer and Ray workers on their own tainted node pools.
    trainer = one(objects, "Deployment", "headshots-trainer")["spec"]["template"]["spec"]
    worker = one(objects, "RayService", "headshots-renderer")["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    for spec, pool_name in ((trainer, "trainer"), (worker["template"]["spec"], "renderer")):
        assert spec["nodeSelector"] == {"headshots.io/pool": pool_name}
        assert any(t["key"] == GPU and t["effect"] == "NoSchedule" for t in spec["tolerations"])
        assert spec["containers"][0]["resources"]["limits"][GPU] >= 1
    assert worker["minReplicas"] >= 1 and worker["maxReplicas"] > worker["minReplicas"]
    # One tag everywhere, and the anti-affinity selects the web pods' labels.
    tags = {image_tag(c["image"]) for _, t in pod_templates(objects) for c in t["spec"]["containers"]}
    assert tags == {values["global"]["imageTag"]}
    web = one(objects, "Deployment", "headshots-gateway-web")["spec"]["template"]
    term = web["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= web["metadata"]["labels"].items()
    # Several gateway replicas share rate-limit counters and the API-key cache through Redis.
    for name in ("headshots-gateway-web", "headshots-gateway-grpc", "headshots-gateway-worker"):
        container = one(objects, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        cache_url = {e["name"]: e for e in container["env"]}["HEADSHOTS_CACHE_URL"]["value"]
        assert cache_url.startswith("redis://"), name
    assert one(objects, "NetworkPolicy", "headshots-gateway-cache")
    assert one(objects, "CronJob", "headshots-gateway-retention")["spec"]["concurrencyPolicy"] == "Forbid"


@pytest.mark.parametrize("name", PRESETS)
def test_presets_never_run_as_root(name):
    for where, template in pod_templates(render(preset(name))):
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["runAsUser"] != 0, where
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True and context.get("runAsUser") != 0, where
            assert context["allowPrivilegeEscalation"] is False, where
