"""Rebuild advisories.jsonl, the dated offline snapshot of the PyPA advisory database the dependency audit reads.

The machines that run the suite reach the package registries only: neither OSV's API nor PyPI's per-release
JSON (the data pip-audit's services ask for) answers there, so the audit serves pip-audit this snapshot
from 127.0.0.1 (tests/test_dependency_audit.py). Refresh it from a checkout of the PyPA advisory database
(OSV records, one YAML file per advisory under vulns/, CC-BY-4.0):

    python requirements/audit/refresh_advisories.py /path/to/advisory-database-checkout

The first line records the checkout's commit and date; the audit states that date and warns when it is old.
Every PyPI package is kept (not only today's pins), so a new dependency is audited without a refresh.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml
from packaging.version import InvalidVersion, Version

SNAPSHOT = Path(__file__).with_name("advisories.jsonl")
SUMMARY_CHARS = 200


def _pep440(text: str) -> str | None:
    """The version itself, or the release number it starts with; None when it has none."""
    try:
        Version(text)
        return text
    except InvalidVersion:
        # A few importer-made versions are not PEP 440 ("2.6.0-NA", "2.6.0-cu124"): they mean that release.
        leading = re.match(r"\d+(\.\d+)*", text)
        return leading.group() if leading else None


def _events(events: list[dict]) -> list[dict]:
    """Every event with a PEP 440 version; an unreadable one errs towards "affected"."""
    kept = []
    for event in events:
        ((kind, value),) = event.items()
        version = "0" if value == "0" else _pep440(value)
        if version is not None:
            kept.append({kind: version})
        elif kind == "introduced":
            kept.append({"introduced": "0"})
        # else: an unreadable fix (or last affected) leaves the range open
    return kept


def compact(record: dict) -> dict | None:
    """The OSV fields pip-audit reads (id, aliases, summary, affected PyPI ranges); None when withdrawn."""
    if record.get("withdrawn"):
        return None
    affected = []
    for entry in record.get("affected", []):
        package = entry.get("package", {})
        if package.get("ecosystem") != "PyPI":
            continue
        ranges = [r for r in entry.get("ranges", []) if r.get("type") == "ECOSYSTEM"]
        kept: dict = {"package": {"name": package["name"], "ecosystem": "PyPI"}}
        if ranges:
            kept["ranges"] = [{"type": "ECOSYSTEM", "events": _events(r["events"])} for r in ranges]
        else:  # only a GIT range or none: the enumerated versions are all there is
            kept["versions"] = list(entry.get("versions", []))
        affected.append(kept)
    if not affected:
        return None
    summary = (record.get("summary") or record.get("details") or "").strip().replace("\n", " ")
    return {
        "id": record["id"],
        "aliases": sorted(record.get("aliases") or []),
        "summary": summary[:SUMMARY_CHARS],
        "modified": record.get("modified", ""),
        "affected": affected,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkout", type=Path, help="a git checkout of the PyPA advisory database")
    parser.add_argument("--source", default="pypa/advisory-database", help="where the checkout came from")
    args = parser.parse_args()
    commit, date = subprocess.run(
        ["git", "-C", str(args.checkout), "log", "-1", "--format=%H %cs"], check=True, capture_output=True, text=True
    ).stdout.split()
    records = []
    for path in sorted((args.checkout / "vulns").glob("*/*.yaml")):
        # BaseLoader keeps every scalar a string: an unquoted version such as 1.10 must not become 1.1.
        record = yaml.load(path.read_text(), Loader=yaml.BaseLoader)
        kept = compact(record)
        if kept:
            records.append(kept)
    records.sort(key=lambda r: (r["affected"][0]["package"]["name"].lower(), r["id"]))
    header = {
        "source": args.source,
        "license": "CC-BY-4.0",
        "commit": commit,
        "snapshot_date": date,
        "advisories": len(records),
    }
    # One advisory a line: a refresh's diff shows which advisories changed.
    lines = [json.dumps(header, sort_keys=True)] + [json.dumps(r, sort_keys=True) for r in records]
    SNAPSHOT.write_text("\n".join(lines) + "\n")
    print(f"{SNAPSHOT}: {len(records)} advisories, {args.source} at {commit[:12]} ({date})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
