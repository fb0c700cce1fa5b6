from django.urls import path

from studio import team_pages, views

app_name = "studio"
urlpatterns = [
    path("", views.home, name="home"),
    path("signin", views.sign_in, name="signin"),
    path("signup", views.sign_up, name="signup"),
    path("signout", views.sign_out, name="signout"),
    path("verify", views.verify_email, name="verify"),
    path("verify/resend", views.resend_verification, name="resend_verification"),
    path("reset", views.reset_password, name="reset"),
    path("reset/new", views.new_password, name="new_password"),
    path("orders", views.order_list, name="orders"),
    path("orders/new", views.new_order, name="new_order"),
    path("orders/<uuid:order_id>", views.order_page, name="order"),
    path("teams", team_pages.team_list, name="teams"),
    path("teams/join", views.join_team, name="join_team"),
    path("teams/<uuid:team_id>", team_pages.team_dashboard, name="team"),
]
