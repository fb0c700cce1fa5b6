import os

from django.core.wsgi import get_wsgi_application

from headshots_common import tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
application = get_wsgi_application()
# In each gunicorn worker, after the fork (the span exporter's thread would not survive one).
tracing.configure_tracing("gateway-web")
