#!/usr/bin/env bash
# Scan rendered Kubernetes manifests with checkov, from its own virtualenv.
#
#   deploy/scan.sh MANIFEST_DIR [REPORT_JSON]
#
# Creates var/checkov-venv once (re-created when deploy/requirements-checkov.txt
# changes; checkov's pins conflict with Ray's, so it never enters .venv), then
# runs checkov on MANIFEST_DIR and writes its JSON report to REPORT_JSON
# (default: stdout). Exit status: checkov's (1 when a check failed).
# The accepted findings are in deploy/checkov-skips.yaml; the test
# tests/deploy/test_checkov.py applies them.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${CHECKOV_VENV:-$ROOT/var/checkov-venv}"
REQUIREMENTS="$ROOT/deploy/requirements-checkov.txt"
PYTHON="${PYTHON:-python3}"

manifests="${1:?usage: deploy/scan.sh MANIFEST_DIR [REPORT_JSON]}"
report="${2:-/dev/stdout}"

stamp="$VENV/.requirements.sha256"
wanted="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/checkov" || ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
  echo "==> creating $VENV (checkov)" >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$wanted" > "$stamp"
fi

# --skip-download: offline, no Prisma Cloud guidelines or policies.
exec "$VENV/bin/checkov" --directory "$manifests" --framework kubernetes \
  --skip-download --quiet --compact --output json > "$report"
