from django.urls import path

from webhooks import views

urlpatterns = [
    path("orders/<uuid:order_id>/webhook-deliveries", views.WebhookDeliveryListView.as_view()),
]
