"""The studio's team pages for a consumer who runs a team: their teams (and a new one), and a team's dashboard —
the look, an invitation link, each member's state and shared picks (approve, hide), reminders, the ZIP, removing a
member (asked first, then its deletion receipt). Thin pages over the teams app's services and selectors, validated
by the REST API's own serializers; the join page members open is `views.join_team`. An action with something to
say (the link, shown once; a notice; a receipt) answers with the page, the others go back to it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from gateway.errors import DomainError
from headshots_common.styles import FRAMINGS, STYLES
from studio import messages
from studio.views import _invalid, consumer_page
from teams import mails, selectors, services
from teams.serializers import LinkInput, LookInput, TeamCreateInput


@require_http_methods(["GET", "POST"])
@consumer_page
def team_list(request: HttpRequest, tenant) -> HttpResponse:
    error = ""
    if request.method == "POST":
        form = TeamCreateInput(data={"name": request.POST.get("name", ""), "seats": request.POST.get("seats", "")})
        if form.is_valid():
            team = services.create_team(tenant, **form.validated_data)
            return redirect(f"/studio/teams/{team.id}")
        error = _invalid(form)
    context = {"tenant": tenant, "teams": selectors.teams_of(tenant), "error": error}
    return render(request, "studio/teams.html", context, status=400 if error else 200)


def _act(request: HttpRequest, team) -> tuple[str, dict]:
    """Do the dashboard form's `action`; returns (an error for the person, what to show once)."""
    action, post = request.POST.get("action", ""), request.POST
    if action == "look":
        fields = {k: post.get(k, "") for k in ("style", "backdrop_hex", "attire", "lighting", "framing") if post.get(k)}
        form = LookInput(data=fields)
        if not form.is_valid():
            return _invalid(form), {}
        data = dict(form.validated_data)
        services.set_look(team, style_id=data.pop("style"), **data)
        return "", {"notice": "The team's look is set."}
    if action == "link":
        fields = {k: post.get(k, "") for k in ("max_uses", "valid_days", "email_domain") if post.get(k)}
        form = LinkInput(data=fields)
        if not form.is_valid():
            return _invalid(form), {}
        _, token = services.create_link(team, **form.validated_data)
        return "", {"join_url": mails.join_url(token)}
    if action in ("approved", "hidden"):
        services.moderate_pick(selectors.pick_of(team, post.get("pick", "")), action)
        return "", {}
    if action == "remove":
        membership = selectors.member_of(team, post.get("member", ""))
        name = membership.member.name or membership.member.email
        return "", {"removed": {"name": name, "receipts": services.remove_member(membership)}}
    if action == "remind":
        return "", {"notice": f"{services.remind(team)} members were reminded by e-mail."}
    return "Choose what to do.", {}


@require_http_methods(["GET", "POST"])
@consumer_page
def team_dashboard(request: HttpRequest, tenant, team_id) -> HttpResponse:
    try:
        team = selectors.team_for_admin(tenant, team_id)
    except DomainError as exc:
        return render(
            request, "studio/error.html", {"tenant": tenant, "message": messages.for_consumer(exc)}, status=404
        )
    error, shown = "", {}
    if request.method == "POST":
        try:
            error, shown = _act(request, team)
        except DomainError as exc:
            error = messages.for_consumer(exc)
        if not error and not shown:
            return redirect(f"/studio/teams/{team.id}")
        team.refresh_from_db()
    elif request.GET.get("remove"):
        # Removing a member deletes their data: the dashboard asks first, with what it deletes.
        try:
            shown = {"confirm_remove": selectors.member_of(team, request.GET["remove"])}
        except DomainError:
            error = "This person is not a member of the team (any more)."
    context = {
        "tenant": tenant,
        "team": team,
        "members": selectors.members(team),
        "usage": selectors.usage(team),
        "styles": STYLES.values(),
        "framings": FRAMINGS,
        "error": error,
        **shown,
    }
    return render(request, "studio/team.html", context, status=400 if error else 200)
