"""Liveness (the process answers) and readiness (the database answers, and the worker runs).

An API whose worker is gone would accept orders that never move: readiness fails while the gateway
worker's last beat (`workers.loops`) is older than HEADSHOTS_WORKER_STALE_S (120 s), so a load balancer and an operator
see it. Before any worker ever ran against the database, readiness does not wait for one.
"""

from django.db import connection
from django.http import JsonResponse

from gateway.config import CONFIG
from workers.selectors import GATEWAY_WORKER, seconds_since_beat


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        since_beat = seconds_since_beat(GATEWAY_WORKER)
    except Exception as exc:  # any database failure means not ready
        return JsonResponse({"status": "unavailable", "reason": type(exc).__name__}, status=503)
    worker = {"last_beat_s": None if since_beat is None else round(since_beat, 1)}
    if since_beat is not None and since_beat > CONFIG.worker_stale_s:
        return JsonResponse({"status": "unavailable", "reason": "worker_stale", "worker": worker}, status=503)
    return JsonResponse({"status": "ok", "worker": worker})
