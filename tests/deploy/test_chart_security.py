"""The chart's security: no pod or container runs as root, Secrets are only referenced, NetworkPolicies.

Helpers: deploy_support.py; fixtures: conftest.py.
"""

from __future__ import annotations

import pytest
from deploy_support import SCENARIOS, containers, find, one, pod_templates, render

# --------------------------------------------------------------------------
# Non-root, locked-down pods
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_secrets_only_through_existing_secret_references(scenario):
    objects = render(SCENARIOS[scenario])
    assert not find(objects, "Secret"), "the chart must never create Secret objects"
    for where, container in containers(objects):
        for item in container.get("env", []):
            if item["name"] in {"DATABASE_URL", "DJANGO_SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"}:
                assert "value" not in item, f"{where}: {item['name']} must come from a Secret"
                assert item["valueFrom"]["secretKeyRef"]["name"], where


# --------------------------------------------------------------------------
# NetworkPolicies
# --------------------------------------------------------------------------


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
        rule
        for rule in renderer["ingress"]
        if rule.get("from", [{}])[0].get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
        == "renderer-dispatcher"
    ]
    assert ports(from_dispatcher) == {9000}
