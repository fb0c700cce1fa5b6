"""The gateway's URLs plus `bench/plain-orders/<id>` (the benchmark's baseline)."""

from django.urls import path

from gateway.urls import handler400, handler404, handler500, urlpatterns as gateway_urlpatterns
from plain_drf.views import PlainOrderView

urlpatterns = [*gateway_urlpatterns, path("bench/plain-orders/<uuid:order_id>", PlainOrderView.as_view())]

__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]
