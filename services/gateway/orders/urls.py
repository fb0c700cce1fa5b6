from django.urls import path
from drf_spectacular.views import SpectacularJSONAPIView

from orders import views

urlpatterns = [
    path("openapi.json", SpectacularJSONAPIView.as_view(authentication_classes=[], permission_classes=[]),
         name="openapi"),
    path("auth/signup", views.SignupView.as_view()),
    path("auth/token", views.TokenView.as_view()),
    path("styles", views.StyleListView.as_view()),
    path("orders", views.OrderListView.as_view()),
    path("orders/<uuid:order_id>", views.OrderDetailView.as_view()),
    path("orders/<uuid:order_id>/photos", views.OrderPhotosView.as_view()),
    path("orders/<uuid:order_id>/submit", views.OrderSubmitView.as_view()),
    path("orders/<uuid:order_id>/headshots", views.HeadshotListView.as_view()),
    path("orders/<uuid:order_id>/headshots.zip", views.HeadshotZipView.as_view()),
    path("orders/<uuid:order_id>/headshots/<uuid:headshot_id>.png", views.HeadshotDownloadView.as_view()),
    path("orders/<uuid:order_id>/renders", views.RenderListView.as_view()),
    path("orders/<uuid:order_id>/webhook-deliveries", views.WebhookDeliveryListView.as_view()),
]
