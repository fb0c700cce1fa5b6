from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView

from gateway import front_door, health

urlpatterns = [
    path("", front_door.front_door),
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path(
        "v1/openapi.json",
        SpectacularJSONAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="openapi",
    ),
    path("v1/", include("accounts.urls")),
    path("v1/", include("orders.urls")),
    path("v1/", include("webhooks.urls")),
    path("v1/", include("teams.urls")),
    path("studio/", include("studio.urls")),
]

handler400 = "gateway.rest_errors.bad_request"
handler404 = "gateway.rest_errors.not_found"
handler500 = "gateway.rest_errors.server_error"
