"""WSGI entry of the upload receiver: `gunicorn -c python:gateway.gunicorn_conf gateway.upload_wsgi:application`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "gateway.upload_settings"

application = get_wsgi_application()
