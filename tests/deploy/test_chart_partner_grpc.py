"""The partner gRPC API in the chart: TLS in the pods from an existing Secret, and a TLS gRPC Ingress.

Helpers: deploy_support.py; fixtures: conftest.py.
"""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest
from deploy_support import CHART_DIR, env_of, find, one, preset, render

HOSTS = [{"host": "grpc.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}]
INGRESS_TLS = [{"secretName": "grpc-ingress-tls", "hosts": ["grpc.example.com"]}]


def _grpc_pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return one(objects, "Deployment", "headshots-gateway-grpc")["spec"]["template"]["spec"]


def test_by_default_the_pods_speak_plaintext_with_grpc_probes_and_no_grpc_ingress(default_objects):
    pod = _grpc_pod(default_objects)
    (container,) = pod["containers"]
    assert not [name for name in env_of(container) if name.startswith("HEADSHOTS_GRPC_TLS_")]
    assert all(container[probe]["grpc"] == {"port": 50051} for probe in ("startupProbe", "readinessProbe"))
    assert {volume["name"] for volume in pod["volumes"]} == {"tmp"}
    assert not find(default_objects, "Ingress")


def test_tls_in_the_pods_mounts_the_secret_and_points_the_server_at_it():
    tls = {"enabled": True, "existingSecret": "grpc-server-tls", "clientCaKey": "ca.crt"}
    pod = _grpc_pod(render({"gateway": {"grpc": {"tls": tls}}}))
    (container,) = pod["containers"]
    env = {name: item["value"] for name, item in env_of(container).items() if name.startswith("HEADSHOTS_GRPC_TLS_")}
    assert env == {
        "HEADSHOTS_GRPC_TLS_CERT_FILE": "/etc/headshots/grpc-tls/tls.crt",
        "HEADSHOTS_GRPC_TLS_KEY_FILE": "/etc/headshots/grpc-tls/tls.key",
        "HEADSHOTS_GRPC_TLS_CLIENT_CA_FILE": "/etc/headshots/grpc-tls/ca.crt",
    }
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "grpc-tls"]
    # The whole Secret as a folder: a subPath mount would never see a renewed certificate.
    assert mount == {"name": "grpc-tls", "mountPath": "/etc/headshots/grpc-tls", "readOnly": True}
    (volume,) = [v for v in pod["volumes"] if v["name"] == "grpc-tls"]
    assert volume["secret"] == {"secretName": "grpc-server-tls", "defaultMode": 0o440}
    # The kubelet's gRPC probe speaks no TLS: the probes connect to the port instead.
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["tcpSocket"] == {"port": "grpc"} and "grpc" not in container[probe], probe
    # Only the gRPC pods get the certificate.
    web = one(render({"gateway": {"grpc": {"tls": tls}}}), "Deployment", "headshots-gateway-web")
    assert not [n for n in env_of(web["spec"]["template"]["spec"]["containers"][0]) if "GRPC_TLS" in n]


def test_the_grpc_ingress_speaks_http2_to_the_grpc_service_behind_tls():
    values = {
        "gateway": {
            "grpc": {
                "ingress": {
                    "enabled": True,
                    "className": "nginx",
                    "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
                    "hosts": HOSTS,
                    "tls": INGRESS_TLS,
                }
            }
        }
    }
    ingress = one(render(values), "Ingress", "headshots-gateway-grpc")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPC"  # plaintext pods by default
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"
    # An upload stream at the gateway's cap gets through, as on the REST ingress; a watch stays open an hour.
    rest = one(render({"gateway": {"ingress": {"enabled": True}}}), "Ingress", "headshots-gateway-web")
    body_limit = "nginx.ingress.kubernetes.io/proxy-body-size"
    assert annotations[body_limit] == rest["metadata"]["annotations"][body_limit] == "122m"
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert ingress["spec"]["ingressClassName"] == "nginx" and ingress["spec"]["tls"] == INGRESS_TLS
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "grpc.example.com"
    assert rule["http"]["paths"][0]["backend"]["service"] == {
        "name": "headshots-gateway-grpc",
        "port": {"name": "grpc"},
    }

    values["gateway"]["grpc"]["tls"] = {"enabled": True, "existingSecret": "grpc-server-tls"}
    ingress = one(render(values), "Ingress", "headshots-gateway-grpc")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPCS"


def test_the_production_preset_exposes_grpc_behind_tls():
    objects = render(preset("values-production.example.yaml"))
    ingress = one(objects, "Ingress", "headshots-gateway-grpc")
    (tls,) = ingress["spec"]["tls"]
    assert {rule["host"] for rule in ingress["spec"]["rules"]} <= set(tls["hosts"])
    assert tls["secretName"] != one(objects, "Ingress", "headshots-gateway-web")["spec"]["tls"][0]["secretName"]


@pytest.mark.parametrize(
    ("grpc", "where"),
    [
        ({"tls": {"enabled": True}}, "/gateway/grpc/tls/existingSecret"),  # TLS needs its Secret
        ({"tls": {"enabled": True, "existingSecret": "Not A Name"}}, "/gateway/grpc/tls/existingSecret"),
        ({"tls": {"certKey": "a/b"}}, "/gateway/grpc/tls/certKey"),
        ({"ingress": {"enabled": True, "hosts": HOSTS}}, "/gateway/grpc/ingress/tls"),  # gRPC clients need TLS
        ({"ingress": {"hosts": [{"host": "", "paths": []}]}}, "/gateway/grpc/ingress/hosts"),
        ({"ingress": {"streamTimeoutSeconds": 0}}, "/gateway/grpc/ingress/streamTimeoutSeconds"),
    ],
)
def test_schema_rejects_half_configured_grpc_tls_and_ingress(grpc, where):
    with helm.Chart.load(CHART_DIR) as chart:
        with pytest.raises(helm.HelmValuesError) as error:
            chart.validate_schema(chart.merge_values({"gateway": {"grpc": grpc}}))
    assert where in str(error.value)
