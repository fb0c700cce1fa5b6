"""The consumer web studio: thin pages over the same services and selectors as the REST API.

Signing in puts the consumer's tenant in a server-side session; the order page's script then calls the REST
API itself (`/v1/...`) with that session and the CSRF token (`accounts.authentication.StudioSession`), so
uploads, progress, the gallery, more renders and deletion are the API's own code, errors and rate limits. What a
person reads when something goes wrong is the studio's own wording of the error's code (`studio.messages`), never
the API's message for developers.
"""

from __future__ import annotations

import math
from functools import wraps
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts import links, services as account_services
from accounts.authentication import session_consumer, start_session
from accounts.serializers import PasswordResetInput, SignupInput
from gateway import ratelimit
from gateway.client_address import client_address
from gateway.config import CONFIG
from gateway.errors import DomainError, ResourceExhausted
from gateway.throttling import TenantRateThrottle, check_auth_rate
from headshots_common.styles import PACKAGES, STYLES
from orders import selectors
from orders.services import creation
from studio import messages
from teams import selectors as team_selectors, services as team_services


def _too_many(request: HttpRequest, wait_s: float) -> HttpResponse:
    """The studio's 429 page."""
    wait = max(1, math.ceil(wait_s))
    response = render(
        request, "studio/error.html", {"message": f"Too many requests: try again in {wait} s."}, status=429
    )
    response["Retry-After"] = str(wait)
    return response


def _limited(request: HttpRequest, tenant) -> HttpResponse | None:
    """The API's rate limit of a signed-in consumer, counted under the same key as their API calls."""
    wait = ratelimit.hit(ratelimit.key(TenantRateThrottle.scope, tenant.pk), CONFIG.rate_limit)
    return None if wait is None else _too_many(request, wait)


def consumer_page(view):
    """Signed-in consumers only (others go to sign-in), within the rate limit."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        tenant = session_consumer(request.session)
        if tenant is None:
            return redirect(f"/studio/signin?next={request.path}")
        return _limited(request, tenant) or view(request, tenant, *args, **kwargs)

    return wrapped


def account_form(view):
    """The anonymous account forms: a POST counts against the client address's rate, as the API's do."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if request.method == "POST":
            try:
                check_auth_rate(request)
            except ResourceExhausted as exc:
                return _too_many(request, exc.retry_after_s or 1)
        return view(request, *args, **kwargs)

    return wrapped


def _invalid(form) -> str:
    """A serializer's field errors as one sentence for the page."""
    return " ".join(f"{field.capitalize()}: {' '.join(map(str, problems))}" for field, problems in form.errors.items())


def _next(request: HttpRequest) -> str:
    """Where the person goes on to after signing in, up or verifying (a page of the studio, nothing else): the
    `next` of the form or of the address, as the sign-in page a page sent them to received it."""
    target = (request.POST.get("next") or request.GET.get("next", ""))[:2000]
    return target if target.startswith("/studio/") and "//" not in target and "\\" not in target else ""


def _next_query(request: HttpRequest) -> str:
    """`?next=...` for the links between sign-in and sign-up, so the page a person came for is not lost."""
    target = _next(request)
    return "?" + urlencode({"next": target}) if target else ""


def _sign_in(request: HttpRequest, tenant) -> HttpResponse:
    start_session(request.session, tenant)
    return redirect(_next(request) or "/studio/orders")


def _check_email(request: HttpRequest, email: str, message: str) -> HttpResponse:
    return render(request, "studio/check_email.html", {"email": email, "message": message})


@require_http_methods(["GET"])
def home(request: HttpRequest) -> HttpResponse:
    return redirect("/studio/orders" if session_consumer(request.session) else "/studio/signin")


@require_http_methods(["GET", "POST"])
@account_form
def sign_in(request: HttpRequest) -> HttpResponse:
    error, email = "", ""
    if request.method == "POST":
        email = request.POST.get("email", "").strip()
        try:
            tenant = account_services.authenticate_consumer(
                email[:254], request.POST.get("password", "")[:200], client_address(request)
            )
        except ResourceExhausted as exc:
            return _too_many(request, exc.retry_after_s or 1)
        except DomainError as exc:
            error = messages.for_consumer(exc)
        else:
            return _sign_in(request, tenant)
    context = {
        "error": error,
        "email": email,
        "password_changed": request.GET.get("reset") == "done",
        "next_query": _next_query(request),
    }
    return render(request, "studio/signin.html", context, status=401 if error else 200)


@require_http_methods(["GET", "POST"])
@account_form
def sign_up(request: HttpRequest) -> HttpResponse:
    error, email, name = "", "", ""
    if request.method == "POST":
        email, name = request.POST.get("email", "").strip(), request.POST.get("name", "").strip()
        # The API's own validation: the same addresses and names are accepted here as there.
        form = SignupInput(data={"email": email, "name": name, "password": request.POST.get("password", "")})
        if not form.is_valid():
            error = _invalid(form)
        else:
            try:
                account_services.sign_up_consumer(**form.validated_data, next_path=_next(request))
            except DomainError as exc:
                error = messages.for_consumer(exc)
            else:
                message = "We sent you an e-mail: follow its link to verify your address and sign in."
                return _check_email(request, form.validated_data["email"], message)
    context = {"error": error, "email": email, "name": name, "next_query": _next_query(request)}
    return render(request, "studio/signup.html", context, status=400 if error else 200)


@require_http_methods(["GET", "POST"])
@account_form
def verify_email(request: HttpRequest) -> HttpResponse:
    """The link of the verification e-mail. Opening it asks for a click, which verifies and signs in: a mail
    scanner that opens every link cannot use it up. Then on to the link's `next` (the team invitation that brought
    the person to sign up), or their orders."""
    token = request.POST.get("token", "") if request.method == "POST" else request.GET.get("token", "")
    if request.method == "POST":
        try:
            tenant = account_services.verify_email(token)
        except DomainError as exc:
            return render(request, "studio/verify.html", {"error": messages.for_consumer(exc)}, status=400)
        start_session(request.session, tenant)
        target = _next(request) or "/studio/orders"
        return redirect(target + ("&" if "?" in target else "?") + "verified=1")  # the page says it is verified
    tenant = links.VERIFY_EMAIL.consumer(token)
    if tenant is None:
        error = "This link is wrong, used already or expired. Sign in to ask for a new one."
        return render(request, "studio/verify.html", {"error": error}, status=400)
    return render(request, "studio/verify.html", {"token": token, "email": tenant.email, "next": _next(request)})


@require_http_methods(["POST"])
def resend_verification(request: HttpRequest) -> HttpResponse:
    tenant = session_consumer(request.session)
    if tenant is None:
        return redirect("/studio/signin")
    if limited := _limited(request, tenant):
        return limited
    try:
        account_services.resend_verification(tenant, next_path=_next(request))
    except DomainError as exc:
        context = {"tenant": tenant, "message": messages.for_consumer(exc)}
        return render(request, "studio/error.html", context, status=409)
    message = "We sent you a new link: follow it to verify your address."
    return _check_email(request, tenant.email or "", message)


@require_http_methods(["GET", "POST"])
@account_form
def reset_password(request: HttpRequest) -> HttpResponse:
    error, email = "", ""
    if request.method == "POST":
        email = request.POST.get("email", "").strip()
        form = PasswordResetInput(data={"email": email})
        if not form.is_valid():
            error = _invalid(form)
        else:
            account_services.request_password_reset(form.validated_data["email"])
            message = "We sent you an e-mail: if this address has an account, it has a link to set a new password."
            return _check_email(request, form.validated_data["email"], message)
    return render(request, "studio/reset.html", {"error": error, "email": email}, status=400 if error else 200)


@require_http_methods(["GET", "POST"])
@account_form
def new_password(request: HttpRequest) -> HttpResponse:
    """The link of the reset e-mail: a form for the new password."""
    token = request.POST.get("token", "") if request.method == "POST" else request.GET.get("token", "")
    if request.method == "POST":
        try:
            account_services.reset_password(token, request.POST.get("password", "")[:200])
        except DomainError as exc:
            context = {"error": messages.for_consumer(exc), "token": token if exc.code == "weak_password" else ""}
            return render(request, "studio/new_password.html", context, status=400)
        return redirect("/studio/signin?reset=done")
    if links.RESET_PASSWORD.consumer(token) is None:
        error = "This link is wrong, used already or expired. Ask for a new one."
        return render(request, "studio/new_password.html", {"error": error}, status=400)
    return render(request, "studio/new_password.html", {"token": token})


@require_http_methods(["POST"])
def sign_out(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    return redirect("/studio/signin")


@require_http_methods(["GET"])
@consumer_page
def order_list(request: HttpRequest, tenant) -> HttpResponse:
    orders = selectors.list_orders(tenant)[:100]
    context = {"tenant": tenant, "orders": orders, "styles": STYLES}
    return render(request, "studio/orders.html", context)


@require_http_methods(["GET", "POST"])
@consumer_page
def new_order(request: HttpRequest, tenant) -> HttpResponse:
    error, chosen, package = "", [], "basic"
    if request.method == "POST":
        chosen, package = request.POST.getlist("styles"), request.POST.get("package", "")
        try:
            order = creation.create_order(tenant, package=package, style_ids=chosen)
        except DomainError as exc:
            error = messages.for_consumer(exc)
        else:
            return redirect(f"/studio/orders/{order.id}")
    return render(
        request,
        "studio/new_order.html",
        {
            "tenant": tenant,
            "error": error,
            "packages": PACKAGES,
            "package": package,
            "styles": STYLES.values(),
            "chosen": chosen,
        },
        status=400 if error else 200,
    )


@require_http_methods(["GET"])
@consumer_page
def order_page(request: HttpRequest, tenant, order_id) -> HttpResponse:
    try:
        order = selectors.get_order(tenant, order_id)
    except DomainError as exc:
        context = {"tenant": tenant, "message": messages.for_consumer(exc)}
        return render(request, "studio/error.html", context, status=404)
    context = {
        "tenant": tenant,
        "order": order,
        "team": team_selectors.team_of_order(order),
        "styles": STYLES.values(),
        "min_photos": CONFIG.min_photos,
        "wording": messages.for_script(),
    }
    return render(request, "studio/order.html", context)


@require_http_methods(["GET", "POST"])
def join_team(request: HttpRequest) -> HttpResponse:
    """A team invitation's page: who invites (the team's name, nothing of its members), then Join, which takes a
    seat, starts the person's order in the team's look and opens it. Signing in comes first, back to this page."""
    token = (request.POST.get("token") or request.GET.get("token", ""))[:200]
    tenant = session_consumer(request.session)
    if tenant is None:
        back = "/studio/teams/join?" + urlencode({"token": token})
        return redirect("/studio/signin?" + urlencode({"next": back}))
    limited = _limited(request, tenant)
    if limited:
        return limited
    try:
        invitation = team_selectors.invitation_for_token(token)
    except DomainError:
        message = "This invitation link is not right. Ask your team's admin for a new one."
        return render(request, "studio/error.html", {"message": message}, status=404)
    error = ""
    if request.method == "POST":
        try:
            membership = team_services.join(invitation, tenant)
            order = team_services.start_order(membership)
        except DomainError as exc:
            error = messages.for_consumer(exc)
        else:
            return redirect(f"/studio/orders/{order.id}")
    context = {
        "tenant": tenant,
        "error": error,
        "token": token,
        "team_name": invitation.team.name,
        "domain": invitation.email_domain,
    }
    return render(request, "studio/join_team.html", context, status=400 if error else 200)
