from django.db import models


class WorkerBeat(models.Model):
    """When a background worker last found all its loops running (the web's readiness reads it)."""

    name = models.CharField(primary_key=True, max_length=64)
    beat_at = models.DateTimeField()
