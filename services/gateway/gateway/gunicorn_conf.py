"""gunicorn settings of gateway-web (`gunicorn -c python:gateway.gunicorn_conf gateway.wsgi:application`).

gunicorn's own request limits sit above the gateway's (`gateway.limits`), so that an oversized header or
URL reaches Django and answers the error envelope (431, 400) instead of gunicorn's bare page; these are
only the last guard against absurd requests.

Metrics: every worker writes its samples under PROMETHEUS_MULTIPROC_DIR (emptied when gunicorn starts) and the
master serves their sum on HEADSHOTS_METRICS_PORT, as prometheus_client documents for gunicorn. Logs: gunicorn's
own lines are JSON like every other (the gateway's middleware writes the access line, so gunicorn writes none).
"""

import os
import shutil
import tempfile

from gateway.config import MAX_HEADER_BYTES
from headshots_common import logs

# Threads, not one request per process: an upload waits (idle) for the photo checker's verdicts, up to
# HEADSHOTS_VERDICT_WAIT_S, and must not take the place of the status reads meanwhile. Each thread keeps a database
# connection of its own while busy (CONN_MAX_AGE), so workers x threads bounds a pod's connections.
worker_class = "gthread"
threads = 16

limit_request_line = 4 * MAX_HEADER_BYTES
limit_request_field_size = 8 * MAX_HEADER_BYTES
limit_request_fields = 200

logconfig_dict = logs.logging_dict(os.environ.get("OTEL_SERVICE_NAME") or "gateway-web")
logconfig_dict["loggers"] |= {
    "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
    "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
}

# Before any worker imports prometheus_client: the workers inherit the directory through the environment.
METRICS_DIR = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), f"headshots-gateway-web-{os.getpid()}")
)


def on_starting(server):
    shutil.rmtree(METRICS_DIR, ignore_errors=True)  # samples of an earlier run would be summed in
    os.makedirs(METRICS_DIR, exist_ok=True)


def when_ready(server):
    from prometheus_client import CollectorRegistry, multiprocess

    from headshots_common.metrics import serve_metrics

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    serve_metrics(registry)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
