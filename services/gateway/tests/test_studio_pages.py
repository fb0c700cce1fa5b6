"""The web studio's server side: sessions, CSRF, the CSP, pages and errors, the API through the session, e-mail.

The whole journey runs in a real browser in tests/test_studio.py; these check each rule on its own.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import Tenant
from headshots_tools.mailbox import link_in, token_of
from orders.models import Order
from orders.services import creation

from .support import complete_order

PASSWORD = "correct horse battery"


@pytest.fixture
def browser(transactional_db, mailoutbox) -> Client:
    """A browser; real transactions, so that e-mails go out as theirs commit (as outside tests)."""
    client = Client(enforce_csrf_checks=True)
    client.outbox = mailoutbox
    return client


def csrf(client: Client, path: str) -> str:
    page = client.get(path)
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)


def form(client: Client, path: str, fields: dict, page: str | None = None):
    """Fill in and send the form of `page` (default: `path` itself), with its CSRF token."""
    return client.post(path, {**fields, "csrfmiddlewaretoken": csrf(client, page or path)})


def last_link(client: Client, to: str, path: str) -> str:
    """The newest link to `path` in the e-mails to `to`, as a path on the studio."""
    link = next(link_in(m.body, path) for m in reversed(client.outbox) if to in m.to and link_in(m.body, path))
    return link.removeprefix("http://127.0.0.1:8000")


def sign_up(client: Client, email: str = "ada@example.com") -> None:
    """Sign up, open the e-mail's link, confirm: verified and signed in."""
    response = form(client, "/studio/signup", {"email": email, "password": PASSWORD})
    assert response.status_code == 200 and "Check your e-mail" in response.content.decode()
    link = last_link(client, email, "/studio/verify")
    response = form(client, "/studio/verify", {"token": token_of(link)}, page=link)
    assert response.status_code == 302 and response["Location"] == "/studio/orders?verified=1"


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


def test_sign_up_errors_are_messages_on_the_page_and_a_taken_address_is_not_one(browser):
    sign_up(browser)
    other = Client(enforce_csrf_checks=True)
    fresh = form(other, "/studio/signup", {"email": "bo@example.com", "password": PASSWORD}).content.decode()
    taken = form(other, "/studio/signup", {"email": "ada@example.com", "password": PASSWORD}).content.decode()
    assert taken == fresh.replace("bo@example.com", "ada@example.com"), "the page tells whether an account exists"
    weak = form(other, "/studio/signup", {"email": "cy@example.com", "password": "short"})
    assert weak.status_code == 400 and "too short" in weak.content.decode()
    # The API's own validation of the address: the studio accepts no more.
    bad = form(other, "/studio/signup", {"email": "not-an-email", "password": PASSWORD})
    assert bad.status_code == 400 and "Enter a valid email address" in bad.content.decode()
    assert not Tenant.objects.filter(email__in=["cy@example.com", "not-an-email"]).exists()


def test_the_verification_link_asks_for_a_click_then_signs_in_once(browser):
    form(browser, "/studio/signup", {"email": "ada@example.com", "password": PASSWORD})
    link = last_link(browser, "ada@example.com", "/studio/verify")
    opened = browser.get(link)  # what a mail scanner does: nothing is used up
    assert opened.status_code == 200 and "Confirm my e-mail address" in opened.content.decode()
    assert Tenant.objects.get(email="ada@example.com").email_verified_at is None
    response = form(browser, "/studio/verify", {"token": token_of(link)}, page=link)
    assert response["Location"] == "/studio/orders?verified=1"
    assert "is verified" in browser.get(response["Location"]).content.decode()
    spent = Client().get(link)
    assert spent.status_code == 400 and "used already or expired" in spent.content.decode()


def test_an_unverified_consumer_prepares_an_order_and_is_asked_to_verify(browser):
    form(browser, "/studio/signup", {"email": "ada@example.com", "password": PASSWORD})
    form(browser, "/studio/signin", {"email": "ada@example.com", "password": PASSWORD})
    assert "Verify your e-mail" in browser.get("/studio/orders").content.decode()
    order = creation.create_order(Tenant.objects.get(email="ada@example.com"), package="trial", style_ids=["tech-grey"])
    page = browser.get(f"/studio/orders/{order.id}").content.decode()
    assert 'id="verify-notice"' in page and 'action="/studio/verify/resend"' in page
    submitted = browser.post(f"/v1/orders/{order.id}/submit", HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)
    assert submitted.status_code == 403 and submitted.json()["error"]["code"] == "email_not_verified"
    resent = form(browser, "/studio/verify/resend", {}, page="/studio/orders")
    assert resent.status_code == 200 and "new link" in resent.content.decode()
    assert len([m for m in browser.outbox if link_in(m.body, "/studio/verify")]) == 2


def test_password_reset_pages(browser):
    sign_up(browser)
    other = Client(enforce_csrf_checks=True)  # another device, signed in
    form(other, "/studio/signin", {"email": "ada@example.com", "password": PASSWORD})
    assert other.get("/studio/orders").status_code == 200
    asked = form(browser, "/studio/reset", {"email": "ada@example.com"}).content.decode()
    nobody = form(browser, "/studio/reset", {"email": "bo@example.com"}).content.decode()
    assert asked == nobody.replace("bo@example.com", "ada@example.com")
    link = last_link(browser, "ada@example.com", "/studio/reset/new")
    token = token_of(link)
    weak = form(browser, "/studio/reset/new", {"token": token, "password": "password"}, page=link)
    assert weak.status_code == 400 and "too common" in weak.content.decode()
    done = form(browser, "/studio/reset/new", {"token": token, "password": "a brand new secret"}, page=link)
    assert done["Location"] == "/studio/signin?reset=done"
    assert "Your password is changed" in browser.get(done["Location"]).content.decode()
    # Every other session is signed out with the old password.
    assert other.get("/studio/orders").status_code == 302
    assert browser.get(link).status_code == 400
    right = form(browser, "/studio/signin", {"email": "ada@example.com", "password": "a brand new secret"})
    assert right.status_code == 302


def test_a_new_order_from_the_form_and_its_errors(browser):
    sign_up(browser)
    token = csrf(browser, "/studio/orders/new")
    page = browser.get("/studio/orders/new").content.decode()
    assert 'data-swatch="#1f2d4d"' in page  # corporate-navy's swatch
    empty = browser.post("/studio/orders/new", {"package": "trial", "csrfmiddlewaretoken": token})
    assert empty.status_code == 400 and 'role="alert"' in empty.content.decode()
    # Said to a person, not to a developer: no style was ticked.
    said = re.search(r'role="alert">([^<]+)<', empty.content.decode()).group(1)
    assert said == "Choose at least one style from the list for your headshots.", said
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
    assert response.status_code == 404
    assert "We could not find this. It may have been deleted." in response.content.decode()


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


def test_a_consumer_is_emailed_when_headshots_are_ready(browser, mailoutbox):
    sign_up(browser)
    tenant = Tenant.objects.get(email="ada@example.com")
    order = creation.create_order(tenant, package="trial", style_ids=["corporate-navy"])
    mailoutbox.clear()
    complete_order(order.id, n=2)
    (mail,) = mailoutbox
    assert mail.to == ["ada@example.com"] and "2 headshots are ready" in mail.subject
    assert f"/studio/orders/{order.id}" in mail.body


def test_partners_get_no_email(order, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        complete_order(order["id"], n=1)
    assert mailoutbox == []


def test_the_order_page_carries_the_studios_wording_of_every_error_it_may_meet(browser):
    """The order page's script words errors from this table (in the page, for the CSP), never from the API."""
    import json

    from headshots_tools import error_catalogue

    sign_up(browser)
    order = creation.create_order(Tenant.objects.get(email="ada@example.com"), package="trial", style_ids=["tech-grey"])
    page = browser.get(f"/studio/orders/{order.id}").content.decode()
    script = re.search(r'<script id="studio-wording" type="application/json">(.+?)</script>', page)
    wording = json.loads(script.group(1))
    assert wording["codes"]["email_not_verified"].startswith("Please verify your e-mail address first")
    # The photo limits a person meets are the gateway's own, not a second copy of them.
    assert 'data-min-photos="5"' in page and "at least 5 accepted photos" in wording["codes"]["not_enough_photos"]
    # Every code worded is one the gateway raises (docs/partners/errors.md), or the studio's own "unreachable".
    raised = error_catalogue.scan().codes()
    assert set(wording["codes"]) - raised == {"unreachable"}
    # What a consumer can meet while uploading, starting, rendering more and deleting is worded for them.
    met = {
        "unauthenticated", "permission_denied", "rate_limited", "not_found", "unavailable", "internal", "no_files",
        "file_too_large", "too_many_files", "upload_too_large", "request_too_large", "checks_backlogged",
        "order_not_open", "not_enough_photos", "too_many_photos", "photos_being_checked", "email_not_verified",
        "invalid_count", "unknown_style", "order_not_completed", "adapter_purged", "nothing_to_accept",
    }  # fmt: skip
    assert met <= set(wording["codes"])
    for code, said in wording["codes"].items():
        assert "/v1/" not in said and "{" not in said and "_" not in said, (code, said)
        assert said[0].isupper() or code == "invalid_credentials", (code, said)
