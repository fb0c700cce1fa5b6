"""`python -m headshots_tools.api_fuzz`: schemathesis, every check, against the running gateway's REST API.

It starts the gateway as it runs (`live_gateway`: gunicorn and the gRPC server, real processes) on SQLite or
on a fresh PostgreSQL database, seeds real resources (an order with headshots, one awaiting photos, one to
delete, and a second partner's key for the revocation endpoint), and runs the schemathesis CLI with
services/gateway/schemathesis.toml. A failure is any 5xx, any answer the OpenAPI document does not
describe, valid data refused or invalid data accepted.

    python -m headshots_tools.api_fuzz [--database sqlite|postgres] [--examples N] [--out FILE]

With --out it writes `make bench` figures (`api_fuzz.<database>.cases`, `.failures`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from headshots_tools.live_gateway import GATEWAY_DIR, live_gateway

CONFIG_FILE = GATEWAY_DIR / "schemathesis.toml"
# Run inside the gateway (`manage.py shell`): the resources the fuzzed requests name.
SEED = """
import json
from accounts.models import ApiKey
from orders.services import creation
from tests.support import complete_order
tenant = ApiKey.objects.get(prefix=KEY.split("_")[1]).tenant
orders = [creation.create_order(tenant, package="trial", style_ids=["tech-grey"]) for _ in range(3)]
completed, awaiting, deletable = orders
complete_order(completed.id, n=2)
print(json.dumps({"completed": str(completed.id), "headshot": str(completed.headshots.first().id),
                  "awaiting": str(awaiting.id), "deletable": str(deletable.id)}))
"""


@dataclass
class FuzzResult:
    database: str
    cases: int
    failures: list[str] = field(default_factory=list)
    output: str = ""


def fuzz(database: str, examples: int, workdir: Path, seed: int = 1) -> FuzzResult:
    limits = {
        "HEADSHOTS_RATE_LIMIT": "1000000/min",
        "HEADSHOTS_ORDER_RATE_LIMIT": "1000000/min",
        # Every generated sign-in comes from one address and most fail: the back-off would answer 429 to the rest.
        "HEADSHOTS_AUTH_RATE_LIMIT": "1000000/min",
        "HEADSHOTS_SIGNIN_LOCKOUT_AFTER": "1000000",
        "HEADSHOTS_SIGNIN_ADDRESS_LOCKOUT_AFTER": "1000000",
        # No photo checker runs here: uploads answer at once with their photos `checking` (a documented answer),
        # and the check backlog that grows meanwhile refuses nothing.
        "HEADSHOTS_VERDICT_WAIT_S": "0",
        "HEADSHOTS_CHECK_BACKLOG_MAX_AGE_S": "1000000",
        "HEADSHOTS_CHECK_BACKLOG_MAX_DEPTH": "1000000",
    }
    with live_gateway(workdir, database, limits) as gateway:
        key = gateway.manage("partner", "create", "fuzzer").strip()
        spare = gateway.manage("partner", "create", "fuzzer-spare").strip()
        ids = json.loads(gateway.manage("shell", "-c", f"KEY = {key!r}\n{SEED}").strip().splitlines()[-1])
        env = dict(
            os.environ,
            HEADSHOTS_FUZZ_KEY=key,
            HEADSHOTS_FUZZ_SPARE_KEY=spare,
            HEADSHOTS_FUZZ_COMPLETED_ORDER=ids["completed"],
            HEADSHOTS_FUZZ_HEADSHOT=ids["headshot"],
            HEADSHOTS_FUZZ_OPEN_ORDER=ids["awaiting"],
            HEADSHOTS_FUZZ_DELETABLE_ORDER=ids["deletable"],
        )
        reports = workdir / "reports"
        run = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "--config-file",
                str(CONFIG_FILE),
                "run",
                f"{gateway.http}/v1/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                str(examples),
                "--seed",
                str(seed),
                "--report",
                "junit",
                "--report-dir",
                str(reports),
                "--no-color",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
    generated = re.search(r"(\d+) generated", run.stdout)
    if generated is None:
        raise RuntimeError(f"schemathesis did not run:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return FuzzResult(database, int(generated.group(1)), _failures(reports), run.stdout)


def _failures(reports: Path) -> list[str]:
    """'METHOD /path: the failed check' for each failing test case of the JUnit report."""
    failures = []
    for report in reports.glob("junit*.xml"):
        for case in ElementTree.parse(report).getroot().iter("testcase"):
            for failure in (*case.iter("failure"), *case.iter("error")):
                text = (failure.get("message") or failure.text or "").strip().splitlines()
                failures.append(f"{case.get('name')}: {text[0] if text else 'failed'}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", action="append", choices=["sqlite", "postgres"])
    parser.add_argument("--examples", type=int, default=250, help="per operation and phase (schemathesis -n)")
    parser.add_argument("--out", help="write `make bench` figures here")
    parser.add_argument("--quick", action="store_true", help="20 examples")
    args = parser.parse_args(argv)
    from headshots_tools.live_gateway import postgres_available

    databases = args.database or ["sqlite", *(["postgres"] if postgres_available() else [])]
    examples = 20 if args.quick else args.examples
    figures: dict = {}
    failed = False
    for database in databases:
        with tempfile.TemporaryDirectory(prefix=f"api-fuzz-{database}-") as workdir:
            result = fuzz(database, examples, Path(workdir))
        print(f"{database}: {result.cases} cases, {len(result.failures)} failures", flush=True)
        for failure in result.failures:
            print(f"  {failure}")
        failed |= bool(result.failures)
        note = f"schemathesis, every check, {examples} examples per operation and phase, against gunicorn"
        figures[f"api_fuzz.{database}.cases"] = {"value": result.cases, "unit": "requests", "note": note}
        figures[f"api_fuzz.{database}.failures"] = {
            "value": len(result.failures),
            "unit": "failures",
            "note": "5xx, undocumented answers, schema violations, valid data refused, invalid accepted; bar 0",
        }
    if args.out:
        figures["_config"] = {"databases": databases, "examples": examples, "config": str(CONFIG_FILE.name)}
        Path(args.out).write_text(json.dumps(figures, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
