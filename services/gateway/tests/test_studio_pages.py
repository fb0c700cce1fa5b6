"""The web studio's server side: sessions, CSRF, the CSP, pages and errors, the API through the session, e-mail.

The whole journey runs in a real browser in tests/test_studio.py; these check each rule on its own.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import Tenant
from orders.models import Order
from orders.services import creation

from .support import complete_order

PASSWORD = "correct horse battery"


@pytest.fixture
def browser(db) -> Client:
    return Client(enforce_csrf_checks=True)


def csrf(client: Client, path: str) -> str:
    page = client.get(path)
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)


def sign_up(client: Client, email: str = "ada@example.com") -> None:
    token = csrf(client, "/studio/signup")
    response = client.post("/studio/signup", {"email": email, "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == "/studio/orders"


def test_pages_need_a_session_and_say_so(browser):
    assert browser.get("/studio/").url == "/studio/signin"
    response = browser.get("/studio/orders")
    assert response.status_code == 302 and response["Location"] == "/studio/signin?next=/studio/orders"
    page = browser.get("/studio/signin")
    assert page.status_code == 200 and "script-src 'self'" in page["Content-Security-Policy"]
    assert page["X-Frame-Options"] == "DENY" and page["X-Content-Type-Options"] == "nosniff"


def test_sign_up_sign_in_and_out(browser):
    sign_up(browser)
    assert Tenant.objects.get(email="ada@example.com").kind == Tenant.Kind.CONSUMER
    assert browser.cookies["sessionid"]["httponly"]
    assert "No orders yet" in browser.get("/studio/orders").content.decode()
    browser.post("/studio/signout", {"csrfmiddlewaretoken": csrf(browser, "/studio/orders")})
    assert browser.get("/studio/orders").status_code == 302

    token = csrf(browser, "/studio/signin")
    wrong = browser.post(
        "/studio/signin", {"email": "ada@example.com", "password": "nope", "csrfmiddlewaretoken": token}
    )
    assert wrong.status_code == 401 and "wrong email or password" in wrong.content.decode()
    right = browser.post(
        "/studio/signin?next=/studio/orders/new",
        {"email": "ADA@example.com", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert right.status_code == 302 and right["Location"] == "/studio/orders/new"


def test_sign_in_never_redirects_off_the_studio(browser):
    sign_up(browser)
    token = csrf(browser, "/studio/signin")
    for target in ("https://evil.example/", "//evil.example/studio/", "/v1/orders"):
        response = browser.post(
            f"/studio/signin?next={target}",
            {"email": "ada@example.com", "password": PASSWORD, "csrfmiddlewaretoken": token},
        )
        assert response["Location"] == "/studio/orders", target


def test_forms_without_the_csrf_token_get_a_readable_refusal(browser):
    response = browser.post("/studio/signup", {"email": "eve@example.com", "password": PASSWORD})
    assert response.status_code == 403 and "Reload the page" in response.content.decode()
    assert not Tenant.objects.filter(email="eve@example.com").exists()


def test_sign_up_errors_are_messages_on_the_page(browser):
    sign_up(browser)
    other = Client(enforce_csrf_checks=True)
    token = csrf(other, "/studio/signup")
    taken = other.post(
        "/studio/signup", {"email": "ada@example.com", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert taken.status_code == 400 and "an account with this email exists" in taken.content.decode()
    weak = other.post("/studio/signup", {"email": "bo@example.com", "password": "short", "csrfmiddlewaretoken": token})
    assert weak.status_code == 400 and "at least 8 characters" in weak.content.decode()


def test_a_new_order_from_the_form_and_its_errors(browser):
    sign_up(browser)
    token = csrf(browser, "/studio/orders/new")
    page = browser.get("/studio/orders/new").content.decode()
    assert 'data-swatch="#1f2d4d"' in page  # corporate-navy's swatch
    empty = browser.post("/studio/orders/new", {"package": "trial", "csrfmiddlewaretoken": token})
    assert empty.status_code == 400 and 'role="alert"' in empty.content.decode()
    created = browser.post(
        "/studio/orders/new", {"package": "trial", "styles": ["tech-grey"], "csrfmiddlewaretoken": token}
    )
    order = Order.objects.get(tenant__email="ada@example.com")
    assert created["Location"] == f"/studio/orders/{order.id}"
    assert f'data-order-id="{order.id}"' in browser.get(created["Location"]).content.decode()
    listing = browser.get("/studio/orders").content.decode()
    assert f"/studio/orders/{order.id}" in listing and "Awaiting Photos" in listing


def test_someone_elses_order_is_not_found(browser, order):
    sign_up(browser)
    response = browser.get(f"/studio/orders/{order['id']}")
    assert response.status_code == 404 and "order not found" in response.content.decode()


def test_the_api_takes_the_session_only_with_the_csrf_token(browser):
    sign_up(browser)
    body = {"package": "trial", "styles": ["tech-grey"]}
    refused = browser.post("/v1/orders", body, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    token = browser.cookies["csrftoken"].value
    created = browser.post("/v1/orders", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert created.status_code == 201
    assert browser.get("/v1/orders").json()["count"] == 1  # reads need no token


def test_pages_count_against_the_api_rate_limit(browser, monkeypatch):
    import dataclasses

    from gateway.config import CONFIG

    sign_up(browser)
    monkeypatch.setattr("studio.views.CONFIG", dataclasses.replace(CONFIG, rate_limit="3/hour"))
    statuses = [browser.get("/studio/orders").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = browser.get("/studio/orders")
    assert "Too many requests" in response.content.decode() and int(response["Retry-After"]) >= 1


def test_a_consumer_is_emailed_when_headshots_are_ready(browser, mailoutbox, django_capture_on_commit_callbacks):
    sign_up(browser)
    tenant = Tenant.objects.get(email="ada@example.com")
    order = creation.create_order(tenant, package="trial", style_ids=["corporate-navy"])
    with django_capture_on_commit_callbacks(execute=True):
        complete_order(order.id, n=2)
    (mail,) = mailoutbox
    assert mail.to == ["ada@example.com"] and "2 headshots are ready" in mail.subject
    assert f"/studio/orders/{order.id}" in mail.body


def test_partners_get_no_email(order, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        complete_order(order["id"], n=1)
    assert mailoutbox == []
