"""`make lint` passes: ruff (lint and format), mypy and buf lint, exactly as a developer and pre-commit run them."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_make_lint_passes():
    result = subprocess.run(
        ["make", "--no-print-directory", "lint"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"make lint failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"


def test_the_linter_would_catch_a_fault(tmp_path):
    """The lint step is not a formality: ruff with the repository's settings rejects an unused import."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n")
    result = subprocess.run(
        [str(REPO / ".venv/bin/ruff"), "check", "--config", str(REPO / "pyproject.toml"), str(bad)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "F401" in result.stdout
