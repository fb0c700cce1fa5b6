"""Dependency audit: pip-audit over the locked constraints, failing on any known vulnerability not allow-listed.

Where the data comes from: these machines (and CI's) reach the package registries only. pip-audit's default
service asks PyPI for each release's JSON, which does not answer here, and pip-audit then reports "No known
vulnerabilities found" with every dependency skipped; OSV's API does not answer at all. So pip-audit's OSV
service is pointed at a small OSV-compatible server on 127.0.0.1 that answers from
requirements/audit/advisories.jsonl, a dated snapshot of the PyPA advisory database
(requirements/audit/refresh_advisories.py rebuilds it). The audit is as current as that snapshot: its date is
in every failure message and a warning says when it is older than SNAPSHOT_WARN_DAYS.

Accepted findings are listed in requirements/audit/allowlist.toml with a reason and an expiry date.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import tomllib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

REPO = Path(__file__).resolve().parents[1]
AUDIT_DIR = REPO / "requirements" / "audit"
SNAPSHOT = AUDIT_DIR / "advisories.jsonl"
ALLOWLIST = AUDIT_DIR / "allowlist.toml"
CONSTRAINTS = REPO / "constraints.txt"
SNAPSHOT_WARN_DAYS = 90


@dataclass(frozen=True)
class Snapshot:
    header: dict
    by_package: dict[str, list[dict]]

    @property
    def date(self) -> dt.date:
        return dt.date.fromisoformat(self.header["snapshot_date"])

    def describe(self) -> str:
        return f"{self.header['source']} at {self.header['commit'][:12]}, {self.header['snapshot_date']}"


@cache
def snapshot() -> Snapshot:
    header_line, *lines = SNAPSHOT.read_text().splitlines()
    by_package: dict[str, list[dict]] = {}
    for line in lines:
        record = json.loads(line)
        for name in {canonicalize_name(a["package"]["name"]) for a in record["affected"]}:
            by_package.setdefault(name, []).append(record)
    return Snapshot(json.loads(header_line), by_package)


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _in_range(version: Version, events: list[dict]) -> bool:
    """OSV's evaluation of one ECOSYSTEM range: walk its events in version order (the snapshot's are PEP 440)."""
    affected = False
    for event in sorted(events, key=lambda e: Version(next(iter(e.values())))):
        if "introduced" in event and version >= Version(event["introduced"]):
            affected = True
        elif "fixed" in event:
            affected = affected and version < Version(event["fixed"])
        elif "last_affected" in event:
            affected = affected and version <= Version(event["last_affected"])
    return affected


def affecting(name: str, version: str) -> list[dict]:
    """The snapshot's advisories that affect this release, as OSV's /v1/query would list them."""
    parsed, package = _version(version), canonicalize_name(name)
    found = []
    for record in snapshot().by_package.get(package, []):
        for affected in record["affected"]:
            if canonicalize_name(affected["package"]["name"]) != package:
                continue
            if version in affected.get("versions", []) or (
                parsed is not None and any(_in_range(parsed, r["events"]) for r in affected.get("ranges", []))
            ):
                found.append(record)
                break
    return found


class _OsvQuery(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        package = query["package"]
        vulns = affecting(package["name"], query["version"]) if package.get("ecosystem") == "PyPI" else []
        body = json.dumps({"vulns": vulns} if vulns else {}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # one line per query is noise
        pass


@contextmanager
def osv_server() -> Iterator[str]:
    """OSV's /v1/query over the snapshot, on 127.0.0.1."""
    snapshot()  # load before pip-audit's first query
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OsvQuery)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]
    description: str

    def __str__(self) -> str:
        fix = ", ".join(self.fix_versions) or "no fixed release"
        return (
            f"{self.package}=={self.version}: {self.id} ({', '.join(self.aliases)}) fixed in {fix}: {self.description}"
        )


def pip_audit(requirements: Path, tmp_path: Path) -> tuple[set[str], list[Finding]]:
    """Run the pip-audit CLI on a fully pinned requirements file: (the packages it audited, its findings)."""
    report = tmp_path / "pip-audit.json"
    with osv_server() as url:
        # --no-deps --disable-pip: the file pins every dependency, so nothing is resolved or installed.
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip_audit",
                "--requirement",
                str(requirements),
                "--no-deps",
                "--disable-pip",
                "--vulnerability-service",
                "osv",
                "--osv-url",
                url,
                "--cache-dir",
                str(tmp_path / "cache"),
                "--progress-spinner",
                "off",
                "--format",
                "json",
                "--output",
                str(report),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    # pip-audit exits 1 when it found vulnerabilities; anything else is the tool failing.
    assert result.returncode in (0, 1) and report.exists(), result.stderr[-3000:]
    dependencies = json.loads(report.read_text())["dependencies"]
    skipped = [f"{d['name']}: {d['skip_reason']}" for d in dependencies if "skip_reason" in d]
    assert not skipped, "pip-audit skipped dependencies, so it audited nothing for them:\n" + "\n".join(skipped)
    audited = {canonicalize_name(d["name"]) for d in dependencies}
    return audited, [
        Finding(d["name"], d["version"], v["id"], tuple(v["aliases"]), tuple(v["fix_versions"]), v["description"])
        for d in dependencies
        for v in d["vulns"]
    ]


@dataclass(frozen=True)
class Allowance:
    package: str
    id: str
    reason: str
    expires: dt.date

    def covers(self, finding: Finding) -> bool:
        return canonicalize_name(self.package) == canonicalize_name(finding.package) and self.id in {
            finding.id,
            *finding.aliases,
        }


def load_allowlist(path: Path = ALLOWLIST) -> list[Allowance]:
    entries = tomllib.loads(path.read_text()).get("allow", [])
    allowances = []
    for entry in entries:
        assert set(entry) == {"package", "id", "reason", "expires"}, f"{path}: {entry} needs exactly those fields"
        assert entry["reason"].strip(), f"{path}: {entry['id']} gives no reason"
        assert isinstance(entry["expires"], dt.date), f"{path}: {entry['id']}: expires must be a date (2027-01-31)"
        allowances.append(Allowance(entry["package"], entry["id"], entry["reason"], entry["expires"]))
    return allowances


def unexcused(
    findings: list[Finding], allowances: list[Allowance], today: dt.date
) -> tuple[list[Finding], list[Allowance], list[Allowance]]:
    """(findings no live allowance covers, expired allowances still needed, live allowances that cover nothing)."""
    live = [a for a in allowances if today <= a.expires]
    expired = [a for a in allowances if today > a.expires and any(a.covers(f) for f in findings)]
    left = [f for f in findings if not any(a.covers(f) for a in live)]
    unused = [a for a in live if not any(a.covers(f) for f in findings)]
    return left, expired, unused


def test_the_locked_dependencies_have_no_known_vulnerability(tmp_path):
    data = snapshot()
    age = (dt.date.today() - data.date).days
    if age > SNAPSHOT_WARN_DAYS:
        warnings.warn(
            f"the advisory snapshot is {age} days old ({data.describe()}); "
            "refresh it with requirements/audit/refresh_advisories.py",
            stacklevel=1,
        )
    audited, findings = pip_audit(CONSTRAINTS, tmp_path)
    pinned = {canonicalize_name(line.split("==")[0]) for line in CONSTRAINTS.read_text().splitlines() if "==" in line}
    assert audited == pinned, f"pinned but not audited: {sorted(pinned - audited)}"
    left, expired, unused = unexcused(findings, load_allowlist(), dt.date.today())
    problems = [f"known vulnerability: {f}" for f in left]
    problems += [f"allow-list entry expired on {a.expires}: {a.package} {a.id} ({a.reason})" for a in expired]
    problems += [f"allow-list entry matches no finding, remove it: {a.package} {a.id}" for a in unused]
    assert not problems, f"dependency audit against {data.describe()}:\n" + "\n".join(problems)


def test_the_same_audit_reports_a_known_vulnerable_pin(tmp_path):
    """The audit can fail: requests 2.19.0 leaks credentials on an https-to-http redirect (CVE-2018-18074)."""
    pinned = tmp_path / "requirements.txt"
    pinned.write_text("requests==2.19.0\nDjango==3.2.0\n")
    _, findings = pip_audit(pinned, tmp_path)
    requests_ids = {a for f in findings if f.package == "requests" for a in (f.id, *f.aliases)}
    assert "CVE-2018-18074" in requests_ids, findings
    # Django 3.2.0's SQL injection in QuerySet.order_by(), fixed in 3.2.5.
    assert any("CVE-2021-35042" in f.aliases and "3.2.5" in f.fix_versions for f in findings), findings
    # Fix versions come from the snapshot's ranges, as from OSV itself.
    assert all(f.fix_versions for f in findings if f.package == "requests"), findings


@pytest.mark.parametrize(
    ("version", "events", "affected"),
    [
        ("2.6.0", [{"introduced": "0"}, {"last_affected": "2.6.0"}], True),
        ("2.6.1", [{"introduced": "0"}, {"last_affected": "2.6.0"}], False),
        ("4.2", [{"introduced": "5.0"}, {"fixed": "5.2"}, {"introduced": "4.0"}, {"fixed": "4.3"}], True),
        ("4.3", [{"introduced": "5.0"}, {"fixed": "5.2"}, {"introduced": "4.0"}, {"fixed": "4.3"}], False),
        ("5.1", [{"introduced": "5.0"}, {"fixed": "5.2"}, {"introduced": "4.0"}, {"fixed": "4.3"}], True),
        ("3.9", [{"introduced": "5.0"}, {"fixed": "5.2"}, {"introduced": "4.0"}, {"fixed": "4.3"}], False),
        ("9.0", [{"introduced": "1.0"}], True),  # no fix yet
    ],
)
def test_osv_range_evaluation(version, events, affected):
    assert _in_range(Version(version), events) is affected


@pytest.mark.parametrize(
    ("expires", "today", "passes"),
    [
        (dt.date(2027, 1, 31), dt.date(2027, 1, 31), True),  # the expiry day itself still counts
        (dt.date(2027, 1, 31), dt.date(2027, 2, 1), False),  # the day after, it fails again
    ],
)
def test_an_allowance_counts_until_its_expiry(expires, today, passes):
    finding = Finding("Requests", "2.19.0", "PYSEC-2018-28", ("CVE-2018-18074",), ("2.20.0",), "credentials leak")
    allowance = Allowance("requests", "CVE-2018-18074", "only talks to https origins", expires)
    left, expired, unused = unexcused([finding], [allowance], today)
    assert (not left, not expired) == (passes, passes)
    assert unused == []
    # An allowance for another package or advisory covers nothing, and says so.
    other = Allowance("django", "CVE-2018-18074", "wrong package", expires)
    assert unexcused([finding], [other], today)[0] == [finding]
    assert unexcused([finding], [other], today)[2] == ([other] if passes else [])


def test_allowlist_entries_are_complete(tmp_path):
    load_allowlist()  # the checked-in list parses and every entry has all fields
    bad = tmp_path / "allowlist.toml"
    bad.write_text('[[allow]]\npackage = "requests"\nid = "CVE-2018-18074"\nreason = ""\nexpires = 2027-01-31\n')
    with pytest.raises(AssertionError, match="gives no reason"):
        load_allowlist(bad)
    bad.write_text('[[allow]]\npackage = "requests"\nid = "CVE-2018-18074"\nreason = "x"\n')
    with pytest.raises(AssertionError, match="needs exactly those fields"):
        load_allowlist(bad)
