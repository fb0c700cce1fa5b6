from django.urls import path

from studio import views

app_name = "studio"
urlpatterns = [
    path("", views.home, name="home"),
    path("signin", views.sign_in, name="signin"),
    path("signup", views.sign_up, name="signup"),
    path("signout", views.sign_out, name="signout"),
    path("orders", views.order_list, name="orders"),
    path("orders/new", views.new_order, name="new_order"),
    path("orders/<uuid:order_id>", views.order_page, name="order"),
]
