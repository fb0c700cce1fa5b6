"""The consumer web studio: thin pages over the same services and selectors as the REST API.

Signing in puts the consumer's tenant in a server-side session; the order page's script then calls the REST
API itself (`/v1/...`) with that session and the CSRF token (`accounts.authentication.StudioSession`), so
uploads, progress, the gallery, more renders and deletion are the API's own code, errors and rate limits.
"""

from __future__ import annotations

from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts import selectors as account_selectors, services as account_services
from accounts.authentication import SESSION_TENANT_KEY
from gateway import ratelimit
from gateway.config import CONFIG
from gateway.errors import DomainError
from gateway.throttling import TenantRateThrottle
from headshots_common.styles import PACKAGES, STYLES
from orders import selectors
from orders.services import creation


def _limited(request: HttpRequest, tenant=None) -> HttpResponse | None:
    """The API's rate limit, counted under the same key (the tenant's, or the address's before sign-in)."""
    ident = tenant.pk if tenant else f"ip:{TenantRateThrottle().get_ident(request)}"
    wait = ratelimit.hit(ratelimit.key(TenantRateThrottle.scope, ident), CONFIG.rate_limit)
    if wait is None:
        return None
    response = render(
        request, "studio/error.html", {"message": f"Too many requests: try again in {wait:.0f} s."}, status=429
    )
    response["Retry-After"] = str(int(wait) + 1)
    return response


def consumer_page(view):
    """Signed-in consumers only (others go to sign-in), within the rate limit."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        tenant = account_selectors.consumer_for_session(request.session.get(SESSION_TENANT_KEY))
        if tenant is None:
            return redirect(f"/studio/signin?next={request.path}")
        return _limited(request, tenant) or view(request, tenant, *args, **kwargs)

    return wrapped


def _sign_in(request: HttpRequest, tenant) -> HttpResponse:
    request.session.cycle_key()  # a new session id at sign-in: a planted one is worthless
    request.session[SESSION_TENANT_KEY] = str(tenant.pk)
    target = request.GET.get("next", "")
    return redirect(target if target.startswith("/studio/") and "//" not in target else "/studio/orders")


@require_http_methods(["GET"])
def home(request: HttpRequest) -> HttpResponse:
    signed_in = account_selectors.consumer_for_session(request.session.get(SESSION_TENANT_KEY))
    return redirect("/studio/orders" if signed_in else "/studio/signin")


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    error, email = "", ""
    if request.method == "POST":
        if limited := _limited(request):
            return limited
        email = request.POST.get("email", "").strip()
        try:
            tenant = account_services.authenticate_consumer(email, request.POST.get("password", ""))
        except DomainError as exc:
            error = exc.message
        else:
            return _sign_in(request, tenant)
    return render(request, "studio/signin.html", {"error": error, "email": email}, status=401 if error else 200)


@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    error, email, name = "", "", ""
    if request.method == "POST":
        if limited := _limited(request):
            return limited
        email, name = request.POST.get("email", "").strip(), request.POST.get("name", "").strip()
        try:
            tenant = account_services.create_consumer(email, request.POST.get("password", ""), name[:200])
        except DomainError as exc:
            error = exc.message
        else:
            return _sign_in(request, tenant)
    return render(
        request, "studio/signup.html", {"error": error, "email": email, "name": name}, status=400 if error else 200
    )


@require_http_methods(["POST"])
def sign_out(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    return redirect("/studio/signin")


@require_http_methods(["GET"])
@consumer_page
def order_list(request: HttpRequest, tenant) -> HttpResponse:
    orders = selectors.list_orders(tenant)[:100]
    return render(request, "studio/orders.html", {"tenant": tenant, "orders": orders, "styles": STYLES})


@require_http_methods(["GET", "POST"])
@consumer_page
def new_order(request: HttpRequest, tenant) -> HttpResponse:
    error, chosen, package = "", [], "basic"
    if request.method == "POST":
        chosen, package = request.POST.getlist("styles"), request.POST.get("package", "")
        try:
            order = creation.create_order(tenant, package=package, style_ids=chosen)
        except DomainError as exc:
            error = exc.message
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
        return render(request, "studio/error.html", {"tenant": tenant, "message": exc.message}, status=404)
    return render(request, "studio/order.html", {"tenant": tenant, "order": order, "styles": STYLES.values()})
