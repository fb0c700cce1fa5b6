from django.urls import path

from teams import views

urlpatterns = [
    path("teams", views.TeamListView.as_view()),
    path("teams/join", views.JoinView.as_view()),
    path("teams/join/preview", views.JoinPreviewView.as_view()),
    path("teams/<uuid:team_id>", views.TeamDetailView.as_view()),
    path("teams/<uuid:team_id>/look", views.TeamLookView.as_view()),
    path("teams/<uuid:team_id>/retention", views.TeamRetentionView.as_view()),
    path("teams/<uuid:team_id>/invitations", views.InvitationListView.as_view()),
    path("teams/<uuid:team_id>/links", views.LinkListView.as_view()),
    path("teams/<uuid:team_id>/invitations/<uuid:invitation_id>", views.InvitationDetailView.as_view()),
    path("teams/<uuid:team_id>/membership", views.MembershipView.as_view()),
    path("teams/<uuid:team_id>/order", views.MemberOrderView.as_view()),
    path("teams/<uuid:team_id>/picks", views.MemberPicksView.as_view()),
    path("teams/<uuid:team_id>/picks.zip", views.ApprovedPicksZipView.as_view()),
    path("teams/<uuid:team_id>/picks/<uuid:pick_id>", views.PickDetailView.as_view()),
    path("teams/<uuid:team_id>/picks/<uuid:pick_id>.png", views.PickImageView.as_view()),
    path("teams/<uuid:team_id>/members", views.MemberListView.as_view()),
    path("teams/<uuid:team_id>/members/<uuid:membership_id>", views.MemberDetailView.as_view()),
    path("teams/<uuid:team_id>/reminders", views.ReminderView.as_view()),
    path("teams/<uuid:team_id>/usage", views.UsageView.as_view()),
]
