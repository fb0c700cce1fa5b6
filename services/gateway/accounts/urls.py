from django.urls import path

from accounts import views

urlpatterns = [
    path("auth/signup", views.SignupView.as_view()),
    path("auth/verify", views.VerifyEmailView.as_view()),
    path("auth/verify/resend", views.ResendVerificationView.as_view()),
    path("auth/token", views.TokenView.as_view()),
    path("auth/password-reset", views.PasswordResetView.as_view()),
    path("auth/password-reset/confirm", views.PasswordResetConfirmView.as_view()),
    path("auth/tokens", views.TokenListView.as_view()),
    path("auth/tokens/<str:prefix>", views.TokenDetailView.as_view()),
]
