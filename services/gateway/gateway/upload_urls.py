"""The upload receiver's only route (`gateway.upload_settings`): direct uploads to the local store."""

from django.urls import path

from gateway import health
from orders.views import receive_upload

urlpatterns = [
    path("healthz", health.healthz),
    path("v1/uploads/<str:token>", receive_upload),
]

handler400 = "gateway.rest_errors.bad_request"
handler404 = "gateway.rest_errors.not_found"
handler500 = "gateway.rest_errors.server_error"
