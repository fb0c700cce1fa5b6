"""deploy/helm/headshots/README.md is what readme-generator-for-helm makes of values.yaml.

`python -m headshots_tools.chart_readme --check` (tools/headshots_tools/chart_readme/) runs Bitnami's
generator, pinned by the package.json and package-lock.json beside it and installed with npm into
var/node/ on first use, on a copy of values.yaml and README.md, and fails with a diff when the
committed README's "## Parameters" section differs. The other tests here show that the check fails
when it should, that regenerating fixes it, and that the generator rejects an undocumented value.
Needs Node.js and npm (and the npm registry, the first time).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_support import CHART_DIR, REPO_ROOT

TOOL_DIR = REPO_ROOT / "tools" / "headshots_tools" / "chart_readme"
GENERATOR = "@bitnami/readme-generator-for-helm"
STALE, FAILED = 1, 2


def chart_readme(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m headshots_tools.chart_readme ARGS` from the repository root."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.fail(
            "node and npm are needed to generate the chart README (Debian: apt-get install nodejs npm)", pytrace=False
        )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT / "tools"), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "headshots_tools.chart_readme", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit status {result.returncode}\n{result.stdout}{result.stderr}"


@pytest.fixture
def chart_copy(tmp_path) -> Path:
    """A scratch copy of the chart, README included."""
    return Path(shutil.copytree(CHART_DIR, tmp_path / "headshots"))


def test_generator_is_pinned_exactly():
    package = json.loads((TOOL_DIR / "package.json").read_text())
    version = package["dependencies"][GENERATOR]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{GENERATOR} must be pinned to one version, not {version!r}"
    lock = json.loads((TOOL_DIR / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"] == package["dependencies"], "package-lock.json is stale: npm install"
    assert lock["packages"][f"node_modules/{GENERATOR}"]["version"] == version
    assert all(entry.get("integrity") for path, entry in lock["packages"].items() if path)


def test_readme_is_up_to_date_with_values():
    result = chart_readme("--check")
    assert result.returncode == 0, (
        "deploy/helm/headshots/README.md is stale: run `python -m headshots_tools.chart_readme` "
        f"(make chart-readme)\n{output(result)}"
    )


def test_readme_keeps_its_introduction_above_the_parameters():
    readme = (CHART_DIR / "README.md").read_text()
    intro, heading, parameters = readme.partition("\n## Parameters\n")
    assert heading, "the generator fills the section under a `## Parameters` heading"
    for words in ("KubeRay", "Strimzi", "KEDA", "values-dev.yaml", "values-production.example.yaml", "helm install"):
        assert words in intro, words
    assert "### Global parameters" in parameters and "| `global.imageTag` |" in re.sub(r" +", " ", parameters)


def test_check_fails_on_a_changed_param_description_until_regenerated(chart_copy):
    values = chart_copy / "values.yaml"
    before = "## @param global.imageTag Image tag for every component"
    text = values.read_text()
    assert before in text
    values.write_text(text.replace(before, "## @param global.imageTag Changed description of the image tag, for"))

    stale = chart_readme("--check", "--chart", str(chart_copy))
    assert stale.returncode == STALE, output(stale)
    assert re.search(r"^\+\| `global\.imageTag` +\| Changed description of the image tag", stale.stdout, re.M), (
        stale.stdout
    )
    assert re.search(r"^-\| `global\.imageTag` +\| Image tag for every component", stale.stdout, re.M), stale.stdout
    assert (chart_copy / "README.md").read_text() == (CHART_DIR / "README.md").read_text(), "--check wrote the README"

    regenerated = chart_readme("--chart", str(chart_copy))
    assert regenerated.returncode == 0, output(regenerated)
    readme = (chart_copy / "README.md").read_text()
    assert "Changed description of the image tag" in readme
    assert (
        readme.partition("\n## Parameters\n")[0]
        == (CHART_DIR / "README.md").read_text().partition("\n## Parameters\n")[0]
    ), "regenerating changed the hand-written introduction"
    again = chart_readme("--check", "--chart", str(chart_copy))
    assert again.returncode == 0, output(again)


def test_generator_rejects_a_value_without_a_param(chart_copy):
    values = chart_copy / "values.yaml"
    values.write_text(
        values.read_text().replace("  imagePullSecrets: []\n", "  imagePullSecrets: []\n  undocumented: 1\n", 1)
    )
    result = chart_readme("--check", "--chart", str(chart_copy))
    assert result.returncode == FAILED, output(result)
    assert "Missing metadata for key: global.undocumented" in result.stderr, output(result)
