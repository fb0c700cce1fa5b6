"""The documentation holds together: the README is a front door that still names the two commands (CI's .ci/run
runs the README's test command), every link between the pages leads to a file and a heading that exist, and the
capacity plan names only figures the benchmarks measure."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a Markdown page's headings."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", page.read_text(), flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_the_readme_is_a_front_door_with_the_two_commands_and_a_way_in_for_each_audience():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert "make demo" in readme and "make test" in readme  # .ci/run runs the README's test command
    assert "```mermaid" in readme  # the one picture
    for audience in ("docs/consumers.md", "docs/partners/README.md", "docs/operators/README.md", "CONTRIBUTING.md"):
        assert f"]({audience})" in readme, audience


def test_every_link_between_the_pages_leads_somewhere():
    broken = []
    for page in DOCS:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)  # code blocks hold no links
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert broken == []


def test_the_capacity_plan_names_only_measured_figures():
    figures = json.loads((REPO / "docs" / "benchmarks.json").read_text())
    plan = (REPO / "docs" / "operators" / "capacity.md").read_text()
    prefixes = {key.split(".")[0] for key in figures if not key.startswith("_")}
    named = {
        key
        for key in re.findall(r"`([a-z0-9_]+(?:\.[a-z0-9_]+)+)`", plan)
        if key.split(".")[0] in prefixes and key not in {"kafka.topics.photos.partitions"}
    }
    assert named, "the plan names its figures by key"
    assert sorted(named - set(figures)) == []


def test_the_partners_quickstart_is_the_clients_tested_one():
    """clients/python's tests run its README's quickstart from the wheel against the stack: the partners' page shows
    that very code, not a copy that could drift."""

    def python_blocks(path: Path) -> list[str]:
        return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)

    page = python_blocks(REPO / "docs" / "partners" / "quickstart.md")
    tested = python_blocks(REPO / "clients" / "python" / "README.md")
    assert page == tested[:2]
