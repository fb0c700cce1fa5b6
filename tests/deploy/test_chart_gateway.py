"""The gateway in the chart: web, partner gRPC, worker, migrations hook, retention CronJob, settings, HPA, Ingress.

Helpers: deploy_support.py; fixtures: conftest.py.
"""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest
from deploy_support import CHART_DIR, PROCESS_ENV, containers, env_of, find, one, pod_templates, render

# --------------------------------------------------------------------------
# Probes and the migrations hook
# --------------------------------------------------------------------------


def test_gateway_probes(default_objects):
    web = one(default_objects, "Deployment", "headshots-gateway-web")["spec"]["template"]["spec"]
    (container,) = web["containers"]
    assert container["ports"] == [
        {"name": "http", "containerPort": 8000, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},  # test_chart_observability.py
    ]
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
        "python",
        "manage.py",
        "worker_healthcheck",
    ]


def test_migrations_run_as_pre_install_and_pre_upgrade_hook(default_objects):
    job = one(default_objects, "Job", "headshots-migrations")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    # The chart's ServiceAccount does not exist yet when a pre-install hook runs.
    assert "serviceAccountName" not in pod


# --------------------------------------------------------------------------
# The retention CronJob
# --------------------------------------------------------------------------


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
    assert {item["name"] for item in container["env"]} - PROCESS_ENV == {
        item["name"] for item in web["env"]
    } - PROCESS_ENV
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    # Same labels as every pod: the default deny selects it, allow-backends opens PostgreSQL and S3.
    labels = job["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "gateway-retention"
    backends = one(default_objects, "NetworkPolicy", "headshots-allow-backends")["spec"]["podSelector"]
    assert "gateway-retention" in backends["matchExpressions"][0]["values"]


def test_retention_cronjob_settings_are_values():
    objects = render(
        {
            "gateway": {
                "retention": {
                    "schedule": "*/15 * * * *",
                    "timeZone": "Europe/Paris",
                    "startingDeadlineSeconds": 120,
                    "successfulJobsHistoryLimit": 1,
                    "failedJobsHistoryLimit": 5,
                }
            }
        }
    )
    spec = one(objects, "CronJob", "headshots-gateway-retention")["spec"]
    assert spec["schedule"] == "*/15 * * * *" and spec["timeZone"] == "Europe/Paris"
    assert (spec["startingDeadlineSeconds"], spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (
        120,
        1,
        5,
    )
    assert not find(render({"gateway": {"retention": {"enabled": False}}}), "CronJob")


# --------------------------------------------------------------------------
# Gateway settings
# --------------------------------------------------------------------------

GATEWAY_PODS = {
    ("Deployment", "headshots-gateway-web"),
    ("Deployment", "headshots-gateway-grpc"),
    ("Deployment", "headshots-gateway-worker"),
    ("Deployment", "headshots-photo-checker"),
    ("Job", "headshots-migrations"),
    ("CronJob", "headshots-gateway-retention"),
}
GATEWAY_ENV_DEFAULTS = {
    "HEADSHOTS_RATE_LIMIT": "1200/min",
    "HEADSHOTS_ORDER_RATE_LIMIT": "120/min",
    "HEADSHOTS_AUTH_RATE_LIMIT": "20/min",
    "HEADSHOTS_WEBHOOK_MAX_ATTEMPTS": "10",
    "HEADSHOTS_WEBHOOK_BASE_DELAY_S": "30",
    "HEADSHOTS_AUTH_CACHE_S": "30",
    "HEADSHOTS_TOKEN_TTL_HOURS": "720",
    "HEADSHOTS_STALL_S": "300",
    "HEADSHOTS_MAX_UPLOAD_FILES": "40",
    "HEADSHOTS_MAX_UPLOAD_BYTES": "125829120",
    "HEADSHOTS_GRPC_MAX_STREAMS": "64",
    "HEADSHOTS_GRPC_MAX_STREAMS_PER_TENANT": "8",
    "HEADSHOTS_WEBHOOK_SENDERS": "16",
    "HEADSHOTS_WEBHOOK_PER_HOST": "4",
    "HEADSHOTS_WEBHOOK_PER_TENANT": "8",
    "HEADSHOTS_WORKER_STALE_S": "120",
}


def gateway_envs(objects: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    templates = dict(pod_templates(objects))
    return {
        name: {
            key: value
            for key, value in env_of(templates[f"{kind}/{name}"]["spec"]["containers"][0]).items()
            if key not in PROCESS_ENV
        }
        for kind, name in GATEWAY_PODS
    }


def test_gateway_settings_defaults_reach_every_gateway_pod(default_objects):
    for name, env in gateway_envs(default_objects).items():
        for variable, value in GATEWAY_ENV_DEFAULTS.items():
            assert env[variable] == {"name": variable, "value": value}, name
        # Empty cache URL: no entry at all, the gateway falls back to per-process memory.
        assert "HEADSHOTS_CACHE_URL" not in env, name
        assert "HEADSHOTS_WEBHOOK_ALLOW_NETWORKS" not in env, name  # webhooks reach public addresses only
        assert "HEADSHOTS_TRUSTED_PROXIES" not in env, name  # no proxy is believed about the client's address
    # Only gateway pods get them.
    for where, container in containers(default_objects):
        if not where.split("/")[1].startswith(("headshots-gateway", "headshots-migrations", "headshots-photo-checker")):
            assert not set(GATEWAY_ENV_DEFAULTS) & set(env_of(container)), where
    assert not find(default_objects, "NetworkPolicy", "headshots-gateway-cache")


def test_gateway_settings_are_values():
    objects = render(
        {
            "gateway": {
                "config": {
                    "cache": {"url": "redis://redis-master.cache:6379/1"},
                    "rateLimit": "300/min",
                    "orderRateLimit": "",
                    "webhookMaxAttempts": 1000000,
                    "webhookBaseDelaySeconds": 2.5,
                    "authCacheSeconds": 0,
                    "webhookAllowNetworks": ["10.20.0.0/16", "fd00::/8"],
                    "trustedProxies": ["10.42.0.0/16", "fd00:42::/64"],
                    "authRateLimit": "5/min",
                    "grpcMaxStreams": 256,
                }
            }
        }
    )
    web = one(objects, "Deployment", "headshots-gateway-web")["spec"]["template"]["spec"]["containers"][0]
    env = env_of(web)
    assert env["HEADSHOTS_CACHE_URL"] == {"name": "HEADSHOTS_CACHE_URL", "value": "redis://redis-master.cache:6379/1"}
    assert env["HEADSHOTS_RATE_LIMIT"]["value"] == "300/min"
    assert "HEADSHOTS_ORDER_RATE_LIMIT" not in env  # empty: not rendered, the gateway default applies
    assert env["HEADSHOTS_WEBHOOK_MAX_ATTEMPTS"]["value"] == "1000000"  # not 1e+06
    assert env["HEADSHOTS_WEBHOOK_BASE_DELAY_S"]["value"] == "2.5"
    assert env["HEADSHOTS_AUTH_CACHE_S"]["value"] == "0"  # 0 is a value, not empty
    assert env["HEADSHOTS_WEBHOOK_ALLOW_NETWORKS"]["value"] == "10.20.0.0/16,fd00::/8"
    assert env["HEADSHOTS_TRUSTED_PROXIES"]["value"] == "10.42.0.0/16,fd00:42::/64"
    assert env["HEADSHOTS_AUTH_RATE_LIMIT"]["value"] == "5/min"
    assert env["HEADSHOTS_GRPC_MAX_STREAMS"]["value"] == "256"
    shared = {key: value for key, value in env.items() if key not in PROCESS_ENV}
    assert all(e == shared for e in gateway_envs(objects).values())
    # The gateway pods may reach the cache; nothing else gets that egress.
    policy = one(objects, "NetworkPolicy", "headshots-gateway-cache")["spec"]
    assert [p["port"] for p in policy["egress"][0]["ports"]] == [6379]
    assert "trainer" not in policy["podSelector"]["matchExpressions"][0]["values"]


def test_gateway_cache_url_from_an_existing_secret():
    objects = render(
        {"gateway": {"config": {"cache": {"existingSecret": "headshots-cache", "url": "redis://ignored"}}}}
    )
    for name, env in gateway_envs(objects).items():
        assert env["HEADSHOTS_CACHE_URL"] == {
            "name": "HEADSHOTS_CACHE_URL",
            "valueFrom": {"secretKeyRef": {"name": "headshots-cache", "key": "cache-url"}},
        }, name


def test_studio_cookies_are_https_only_and_smtp_is_a_value(default_objects):
    for name, env in gateway_envs(default_objects).items():
        assert env["HEADSHOTS_SECURE_COOKIES"]["value"] == "true", name
        assert "HEADSHOTS_EMAIL_BACKEND" not in env and "HEADSHOTS_PUBLIC_URL" not in env, name
    objects = render(
        {
            "gateway": {
                "studio": {
                    "publicUrl": "https://headshots.example.com",
                    "email": {"host": "smtp.example.com", "user": "studio", "existingSecret": "smtp"},
                }
            }
        }
    )
    for name, env in gateway_envs(objects).items():
        values = {k: v.get("value") for k, v in env.items()}
        assert values["HEADSHOTS_PUBLIC_URL"] == "https://headshots.example.com", name
        assert values["HEADSHOTS_EMAIL_BACKEND"] == "smtp" and values["HEADSHOTS_EMAIL_HOST"] == "smtp.example.com"
        assert values["HEADSHOTS_EMAIL_PORT"] == "587" and values["HEADSHOTS_EMAIL_USE_TLS"] == "true"
        assert env["HEADSHOTS_EMAIL_PASSWORD"]["valueFrom"] == {
            "secretKeyRef": {"name": "smtp", "key": "smtp-password"}
        }, name


@pytest.mark.parametrize(
    "config",
    [
        {"rateLimit": "lots"},
        {"webhookMaxAttempts": 0},
        {"authCacheSeconds": -1},
        {"cache": {"url": "memcached://x"}},
        {"webhookAllowNetworks": ["the office"]},
        {"webhookAllowNetworks": "10.0.0.0/8"},
        {"trustedProxies": ["the ingress"]},
        {"authRateLimit": "few"},
    ],
)
def test_schema_rejects_invalid_gateway_settings(config):
    with helm.Chart.load(CHART_DIR) as chart:
        with pytest.raises(helm.HelmValuesError) as error:
            chart.validate_schema(chart.merge_values({"gateway": {"config": config}}))
    assert "/gateway/config/" in str(error.value)


# --------------------------------------------------------------------------
# Scaling and exposure
# --------------------------------------------------------------------------


def test_hpa_owns_gateway_web_replicas(default_objects):
    web = one(default_objects, "Deployment", "headshots-gateway-web")
    assert "replicas" not in web["spec"]
    hpa = one(default_objects, "HorizontalPodAutoscaler", "headshots-gateway-web")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "headshots-gateway-web",
    }
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
    # The proxy lets an upload at the gateway's cap through (the gateway answers over-cap ones with its 413).
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "122m"
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"


def test_the_ingress_body_limit_follows_the_upload_cap():
    values = {"gateway": {"config": {"maxUploadBytes": 50 * 1024 * 1024}, "ingress": {"enabled": True}}}
    ingress = one(render(values), "Ingress", "headshots-gateway-web")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "52m"
    web = one(render(values), "Deployment", "headshots-gateway-web")["spec"]["template"]["spec"]["containers"][0]
    assert web["command"][:3] == ["gunicorn", "--config", "python:gateway.gunicorn_conf"]


def test_the_chart_defaults_are_the_gateways_own(monkeypatch):
    """Setting every variable to the chart's default changes nothing: the chart restates, never redefines."""
    from gateway.config import load

    for variable in GATEWAY_ENV_DEFAULTS:
        monkeypatch.delenv(variable, raising=False)
    own = load()
    for variable, value in GATEWAY_ENV_DEFAULTS.items():
        monkeypatch.setenv(variable, value)
    assert load() == own
