from django.urls import include, path

from gateway import health

urlpatterns = [
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("v1/", include("orders.urls")),
]

handler404 = "gateway.health.not_found"
handler500 = "gateway.health.server_error"
