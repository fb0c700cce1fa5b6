"""The gateway benchmark's baseline: a plain authenticated DRF view reading one row, served by the benchmark's
own gunicorn only (`DJANGO_SETTINGS_MODULE=plain_drf.settings`, `bench/gateway` on the path). It is never in the
gateway's production URLs."""
