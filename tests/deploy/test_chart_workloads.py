"""What the chart runs: each workload's process, probes, resources and GPUs, and the configuration they share.

Helpers: deploy_support.py; fixtures: conftest.py.
"""

from __future__ import annotations

from typing import Any

from deploy_support import GPU, SHARED_ENV, containers, env_of, find, one, render

# --------------------------------------------------------------------------
# Processes and probes
# --------------------------------------------------------------------------

EXPECTED_COMMANDS = {
    "headshots-gateway-web": [
        "gunicorn",
        "--config",
        "python:gateway.gunicorn_conf",
        "gateway.wsgi:application",
        "--bind",
        "0.0.0.0:8000",
        "--workers",
        "4",
    ],
    "headshots-gateway-grpc": ["python", "manage.py", "run_partner_grpc", "--host", "0.0.0.0", "--port", "50051"],
    "headshots-gateway-worker": ["python", "manage.py", "run_worker"],
    "headshots-photo-checker": ["python", "manage.py", "run_photo_checker"],
    "headshots-trainer": ["python", "-m", "trainer"],
    "headshots-renderer-dispatcher": ["python", "-m", "renderer.dispatcher"],
}


def test_deployments_run_the_expected_processes(default_objects):
    deployments = find(default_objects, "Deployment")
    assert {d["metadata"]["name"] for d in deployments} == set(EXPECTED_COMMANDS)
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == EXPECTED_COMMANDS[deployment["metadata"]["name"]]


def test_every_deployment_container_has_probes_and_resources(all_objects):
    for deployment in find(all_objects, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            where = f"{deployment['metadata']['name']}/{container['name']}"
            liveness = container.get("livenessProbe")
            assert liveness, f"{where} has no liveness probe"
            # A worker without a port is available only while its loops run: rollouts and disruption budgets
            # count on readiness whether or not the pod takes traffic.
            assert container.get("readinessProbe"), f"{where} has no readiness probe"
            has_port = any(port["name"] != "metrics" for port in container.get("ports", []))
            if not has_port:
                assert "exec" in liveness, f"{where} has no port: its liveness must be an exec check"
                for probe in ("startupProbe", "readinessProbe"):
                    command = container[probe]["exec"]["command"]
                    assert command[-2] == "--max-age", f"{where}: its {probe} reads the heartbeat's age"
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), where


# --------------------------------------------------------------------------
# Resources and GPUs
# --------------------------------------------------------------------------


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
    # Four GPUs hold four one-GPU Renderer replicas: one CPU each fits in the worker's request.
    objects = render(
        {"trainer": {"gpu": {"count": 2}}, "renderer": {"replica": {"cpus": 1}, "worker": {"gpu": {"count": 4}}}}
    )
    trainer = one(objects, "Deployment", "headshots-trainer")
    assert trainer["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"][GPU] == 2
    rayservice = one(objects, "RayService", "headshots-renderer")
    worker = rayservice["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    assert worker["template"]["spec"]["containers"][0]["resources"]["limits"][GPU] == 4
    assert worker["template"]["spec"]["tolerations"] == [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}]


# --------------------------------------------------------------------------
# Shared configuration
# --------------------------------------------------------------------------


def test_shared_configuration_is_identical_everywhere(all_objects):
    seen: dict[str, Any] = {}
    count = 0
    for where, container in containers(all_objects):
        env = env_of(container)
        assert set(env) >= SHARED_ENV, f"{where} lacks {SHARED_ENV - set(env)}"
        for name in SHARED_ENV | {"AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "LOG_LEVEL"}:
            assert name in env, f"{where} lacks {name}"
            assert seen.setdefault(name, env[name]) == env[name], f"{where}: {name} differs"
        count += 1
    assert count == 10  # 6 Deployments, the migrations Job, the retention CronJob, the Ray head and the Ray workers
    assert seen["HEADSHOTS_KAFKA_BOOTSTRAP"]["value"] == "headshots-kafka-kafka-bootstrap:9092"
    assert seen["HEADSHOTS_BASE_MODEL"]["value"] == "stabilityai/stable-diffusion-xl-base-1.0"
    assert seen["HEADSHOTS_BASE_MODEL_ARCH"]["value"] == "sdxl"
    assert seen["HEADSHOTS_BLOB_URL"]["value"].startswith("s3://")
    assert seen["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "headshots-database", "key": "database-url"}
    assert seen["DJANGO_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "headshots-django", "key": "secret-key"}
    assert seen["AWS_ENDPOINT_URL"]["value"] == "http://minio.storage:9000"
