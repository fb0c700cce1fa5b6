"""checkov scans the rendered manifests, from its own virtualenv (deploy/scan.sh).

The accepted findings are listed, each with its reason, in deploy/checkov-skips.yaml; a failed check
not listed there fails the test, and so does a listed one that no longer fails. Helpers: deploy_support.py.
"""

from __future__ import annotations

import json
import subprocess

import helm_python as helm
import yaml
from deploy_support import ALL_FEATURES, CHART_DIR, NAMESPACE, REPO_ROOT, preset

SKIPS_FILE = REPO_ROOT / "deploy" / "checkov-skips.yaml"


def test_checkov_finds_nothing_unexpected(tmp_path):
    manifests = tmp_path / "manifests"
    for scenario, values in {
        "default": None,
        "all-features": ALL_FEATURES,
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
        capture_output=True,
        text=True,
        timeout=600,
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
            unexpected.append(
                f"{failed['check_id']} {failed['check_name']}: {failed['resource']} ({failed['file_path']})"
            )
    assert not unexpected, "\n".join(sorted(set(unexpected)))
    assert set(skips) == used, f"stale entries in deploy/checkov-skips.yaml: {sorted(set(skips) - used)}"
