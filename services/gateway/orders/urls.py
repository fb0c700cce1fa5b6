from django.urls import path

from orders import views

urlpatterns = [
    path("styles", views.StyleListView.as_view()),
    path("orders", views.OrderListView.as_view()),
    path("orders/<uuid:order_id>", views.OrderDetailView.as_view()),
    path("orders/<uuid:order_id>/photos", views.OrderPhotosView.as_view()),
    path("orders/<uuid:order_id>/photos/<uuid:photo_id>", views.PhotoDetailView.as_view(), name="photo-detail"),
    path("orders/<uuid:order_id>/uploads", views.OrderUploadsView.as_view()),
    path(
        "orders/<uuid:order_id>/uploads/<uuid:photo_id>/complete",
        views.UploadCompleteView.as_view(),
        name="upload-complete",
    ),
    path("orders/<uuid:order_id>/submit", views.OrderSubmitView.as_view()),
    path("orders/<uuid:order_id>/accept", views.OrderAcceptView.as_view()),
    path("orders/<uuid:order_id>/headshots", views.HeadshotListView.as_view()),
    path("orders/<uuid:order_id>/report", views.OrderReportView.as_view()),
    path("orders/<uuid:order_id>/headshots.zip", views.HeadshotZipView.as_view()),
    path(
        "orders/<uuid:order_id>/headshots/<uuid:headshot_id>.png",
        views.HeadshotDownloadView.as_view(),
        name="headshot-download",
    ),
    path("orders/<uuid:order_id>/renders", views.RenderListView.as_view()),
]
