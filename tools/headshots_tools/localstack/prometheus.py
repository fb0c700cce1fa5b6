"""Prometheus for `up --prometheus`: Debian's binary, scraping every process of the stack."""

from __future__ import annotations

import yaml

PROMETHEUS_BINARY = "/usr/bin/prometheus"  # Debian's package (`make prometheus`)
METRICS_BASE_PORT = 9400


def prometheus_config(scrape_targets: dict[str, str]) -> str:
    """A Prometheus configuration scraping each target (job = process name)."""
    jobs = [{"job_name": name, "static_configs": [{"targets": [target]}]} for name, target in scrape_targets.items()]
    return yaml.safe_dump({"global": {"scrape_interval": "5s"}, "scrape_configs": jobs}, sort_keys=False)
