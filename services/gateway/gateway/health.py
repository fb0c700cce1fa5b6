"""Liveness (the process answers) and readiness (the database answers)."""

from django.db import connection
from django.http import JsonResponse


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure means not ready
        return JsonResponse({"status": "unavailable", "reason": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok"})
