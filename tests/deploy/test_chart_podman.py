"""The chart's pods, tried: `podman kube play` of its plain workloads, rendered with values-podman.yaml.

The migrations Job's pod runs first (as a Pod: podman plays no Job), then the gateway's Deployments (web,
gRPC, worker) start from the image `make images` built, with the chart's security contexts, probes and
volumes, against a scratch PostgreSQL database and a broker on the host (every pod on the host's network).
Each probe the chart gives them must answer: the web's HTTP probes, the gRPC server's gRPC health probe, the
worker's exec probe. values-podman.yaml says which kinds podman does not run and what covers them.

Marked `images` (tests/conftest.py): the default run leaves it out; .ci/run runs it in its images stage.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import CHART_DIR, one, preset, render

from headshots_tools import podman
from headshots_tools.localstack import grpc_serving, http_ok, scratch_database
from headshots_tools.ports import free_port

pytestmark = pytest.mark.images

GATEWAY_DEPLOYMENTS = ("headshots-gateway-web", "headshots-gateway-grpc", "headshots-gateway-worker")
READY_TIMEOUT_S = 180


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in override.items():
        result[key] = merged(result.get(key, {}), value) if isinstance(value, dict) else value
    return result


def create_secret(name: str, data: dict[str, str], folder: Path) -> None:
    """A podman secret for the pods' secretKeyRef: podman 4 reads it as a JSON map of base64 values (a Secret
    object in the played YAML is stored in a form its own lookup then refuses)."""
    path = folder / f"{name}.json"
    path.write_text(json.dumps({key: base64.b64encode(value.encode()).decode() for key, value in data.items()}))
    podman.podman("secret", "rm", name, check=False)
    podman.podman("secret", "create", name, str(path))
    path.unlink()


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def on_host_network(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as podman plays it on the host's network: a container's ports are the host's there, and podman
    refuses port mappings, so the ports lists go, and a probe names its port by number."""
    obj = copy.deepcopy(clean(obj))
    spec = obj["spec"]["template"]["spec"] if obj["kind"] == "Deployment" else obj["spec"]
    for container in spec.get("initContainers", []) + spec["containers"]:
        numbers = {port["name"]: port["containerPort"] for port in container.pop("ports", []) if "name" in port}
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            for action in ("httpGet", "grpc", "tcpSocket"):
                probe = container.get(kind, {}).get(action)
                if probe and probe.get("port") in numbers:
                    probe["port"] = numbers[probe["port"]]
    return obj


def play(path: Path, documents: list[dict[str, Any]]) -> None:
    path.write_text(yaml.safe_dump_all([on_host_network(d) for d in documents], sort_keys=False))
    podman.podman("kube", "play", "--network=host", str(path), timeout=300)


def pod_of(workload: str) -> str:
    """The pod podman made for a workload: `<name>-pod` for a Pod's, `<name>-pod-<n>` for a Deployment's."""
    pods = json.loads(podman.podman("pod", "ps", "--format=json").stdout or "[]")
    names = [pod["Name"] for pod in pods if pod["Name"] == workload or pod["Name"].startswith(f"{workload}-pod")]
    assert names, f"no pod for {workload}: {[pod['Name'] for pod in pods]}"
    return sorted(names)[0]


def pod_containers(pod: str) -> list[dict[str, Any]]:
    listed = podman.podman("ps", "--all", f"--filter=pod={pod}", "--format=json").stdout
    return [c for c in json.loads(listed or "[]") if not c.get("IsInfra")]


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("http", "web_metrics", "grpc", "grpc_metrics", "worker_metrics")}


@pytest.fixture(scope="module")
def played(built_images, kafka_bootstrap, ports, tmp_path_factory):
    """The gateway's pods, played; yields the rendered objects. Every pod is torn down afterwards."""
    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    folder = tmp_path_factory.mktemp("kube-play")
    with scratch_database(url) as database:
        values = merged(
            preset("values-podman.yaml"),
            {
                "kafka": {"bootstrapServers": kafka_bootstrap},
                "gateway": {
                    "web": {"containerPorts": {"http": ports["http"], "metrics": ports["web_metrics"]}},
                    "grpc": {"containerPorts": {"grpc": ports["grpc"], "metrics": ports["grpc_metrics"]}},
                    "worker": {"containerPorts": {"metrics": ports["worker_metrics"]}},
                },
            },
        )
        objects = render(values)
        secret_values = {
            "headshots-database": {"database-url": database["DATABASE_URL"]},
            "headshots-django": {"secret-key": secrets.token_urlsafe(32)},
        }
        job = one(objects, "Job", "headshots-migrations")
        migrations = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": job["metadata"]["name"], "labels": job["metadata"].get("labels", {})},
            "spec": job["spec"]["template"]["spec"],
        }
        files = [folder / "migrations.yaml", folder / "gateway.yaml"]
        try:
            for name, data in secret_values.items():
                create_secret(name, data, folder)
            play(files[0], [migrations])
            wait_for_exit(pod_of(migrations["metadata"]["name"]))
            deployments = [one(objects, "Deployment", name) for name in GATEWAY_DEPLOYMENTS]
            play(files[1], deployments)
            yield objects
        finally:
            for path in files:
                if path.exists():
                    podman.podman("kube", "down", str(path), check=False, timeout=120)
            for name in secret_values:
                podman.podman("secret", "rm", name, check=False)


def wait_for_exit(pod: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        containers = pod_containers(pod)
        if containers and all(c["State"] == "exited" for c in containers):
            codes = {c["Names"][0]: c["ExitCode"] for c in containers}
            logs = {name: podman.podman("logs", name, check=False).stderr[-3000:] for name in codes}
            assert set(codes.values()) == {0}, f"the migrations pod failed: {codes}\n{logs}"
            return
        time.sleep(1)
    pytest.fail(f"the migrations pod did not finish within {READY_TIMEOUT_S} s")


def eventually(check, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not answer within {READY_TIMEOUT_S} s")
        time.sleep(1)


def probes(objects: list[dict[str, Any]], deployment: str) -> list[dict[str, Any]]:
    (container,) = one(objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    return [container[kind] for kind in ("startupProbe", "readinessProbe", "livenessProbe") if kind in container]


def test_the_gateway_pods_run_as_the_chart_says(played):
    for name in GATEWAY_DEPLOYMENTS:
        containers = pod_containers(pod_of(name))
        assert containers, f"no containers in the pod of {name}"
        for container in containers:
            inspected = podman.podman("inspect", "--type=container", "--format=json", container["Id"]).stdout
            (config,) = json.loads(inspected)
            assert config["Config"]["User"] in ("10001", "10001:10001"), config["Config"]["User"]
            assert config["HostConfig"]["ReadonlyRootfs"] is True


def test_the_web_probes_answer(played, ports):
    for probe in probes(played, "headshots-gateway-web"):
        assert probe["httpGet"]["port"] == "http"
        url = f"http://127.0.0.1:{ports['http']}{probe['httpGet']['path']}"
        eventually(lambda url=url: http_ok(url), url)


def test_the_grpc_probes_answer(played, ports):
    for probe in probes(played, "headshots-gateway-grpc"):
        assert "grpc" in probe or "exec" in probe or "tcpSocket" in probe, probe
    eventually(lambda: grpc_serving(f"127.0.0.1:{ports['grpc']}"), "the partner API's gRPC health service")


def test_the_worker_probes_answer(played):
    (container,) = [c for c in pod_containers(pod_of("headshots-gateway-worker")) if c["State"] == "running"]
    for probe in probes(played, "headshots-gateway-worker"):
        command = probe["exec"]["command"]

        def passes(command=command) -> bool:
            return podman.podman("exec", container["Id"], *command, check=False).returncode == 0

        eventually(passes, " ".join(command))


def test_kinds_podman_does_not_play_are_named_in_the_preset():
    """Every kind the chart renders (Strimzi's too) is either played here or named in values-podman.yaml."""
    played_kinds = {"Deployment", "Job"}
    text = (CHART_DIR / "values-podman.yaml").read_text()
    with_strimzi = merged(preset("values-podman.yaml"), {"kafka": {"strimzi": {"enabled": True}}})
    for kind in sorted({obj["kind"] for obj in render(with_strimzi)} - played_kinds):
        named = kind in text or f"{kind}s" in text or f"{kind[:-1]}ies" in text
        assert named, f"values-podman.yaml does not say how {kind} is covered"
