"""Consumer accounts over REST: sign-up that tells no one which addresses have accounts, e-mail verification before
an order may start, password rules, and password reset by e-mail. Every link is followed from the e-mail itself."""

from __future__ import annotations

import time
import types

import grpc
import pytest
from django.core import signing
from rest_framework.test import APIClient

from accounts.models import Tenant
from accounts.services import issue_api_key
from headshots.partner.v1 import partner_api_pb2 as pb
from headshots_tools.mailbox import link_in, token_of

from .support import grpc_error_details

PASSWORD = "correct horse battery"


@pytest.fixture
def client(transactional_db) -> APIClient:
    """Real transactions (not one around the test): e-mails go out as theirs commit, as they do outside tests."""
    return APIClient()


@pytest.fixture
def mail(mailoutbox):
    return mailoutbox


def sign_up(client: APIClient, email: str = "ada@example.com", password: str = PASSWORD, **extra):
    return client.post("/v1/auth/signup", {"email": email, "password": password, **extra}, format="json")


def sign_in(client: APIClient, email: str = "ada@example.com", password: str = PASSWORD):
    return client.post("/v1/auth/token", {"email": email, "password": password}, format="json")


def link(message, path: str) -> str:
    found = link_in(message.body, path)
    assert found, message.body
    return found


def as_consumer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_sign_up_answers_the_same_whether_or_not_the_email_has_an_account(client, mail):
    first = sign_up(client)
    again = sign_up(client, "ADA@example.com ", "another long one!")
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json() and first.json()["status"] == "verification_sent"
    assert "token" not in first.json() and "tenant_id" not in first.json()
    assert Tenant.objects.filter(email="ada@example.com").count() == 1

    # The e-mails tell the owner of the address, and no one else.
    welcome, attempt = mail
    assert welcome.to == attempt.to == ["ada@example.com"]
    assert link(welcome, "/studio/verify").startswith("http://127.0.0.1:8000/studio/verify?token=")
    assert "already" in attempt.body and link_in(attempt.body, "/studio/verify") is None
    assert link(attempt, "/studio/reset") and link(attempt, "/studio/signin")
    # The second sign-up changed nothing: the first password still signs in, the second does not.
    assert sign_in(client).status_code == 200
    assert sign_in(client, password="another long one!").status_code == 401


def test_the_emailed_link_verifies_once_and_only_then_may_an_order_start(client, mail, api):
    sign_up(client)
    # Sign-in works before verification: orders can be prepared...
    consumer = as_consumer(sign_in(client).json()["token"])
    order = consumer.post("/v1/orders", {"package": "trial", "styles": ["tech-grey"]}, format="json").json()
    # ...but not started.
    refused = consumer.post(f"/v1/orders/{order['id']}/submit")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "email_not_verified"
    assert consumer.get(f"/v1/orders/{order['id']}").json()["state"] == "awaiting_photos"

    token = token_of(link(mail[0], "/studio/verify"))
    verified = client.post("/v1/auth/verify", {"token": token}, format="json")
    assert verified.status_code == 200 and verified.json()["token"].startswith("hs_")
    assert Tenant.objects.get(email="ada@example.com").email_verified_at is not None
    # Past the gate: what stops the order now is its photos.
    submitted = as_consumer(verified.json()["token"]).post(f"/v1/orders/{order['id']}/submit")
    assert submitted.status_code == 422 and submitted.json()["error"]["code"] == "not_enough_photos"

    again = client.post("/v1/auth/verify", {"token": token}, format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_link"
    # Partners have no e-mail to verify: their orders are not gated.
    partner_order = api.post("/v1/orders", {"package": "trial", "styles": ["tech-grey"]}, format="json").json()
    assert api.post(f"/v1/orders/{partner_order['id']}/submit").json()["error"]["code"] == "not_enough_photos"


def test_a_verification_link_that_is_forged_tampered_or_expired_is_refused(client, mail, monkeypatch):
    sign_up(client)
    token = token_of(link(mail[0], "/studio/verify"))
    other = signing.TimestampSigner(salt="something else").sign_object({"t": "x", "s": "y"})
    for bad in (token[:-2] + ("aa" if not token.endswith("aa") else "bb"), other, "", "x" * 500):
        response = client.post("/v1/auth/verify", {"token": bad}, format="json")
        assert response.status_code == 400, bad
    # Four days on, the three-day link has expired.
    later = time.time() + 4 * 24 * 3600
    monkeypatch.setattr(signing, "time", types.SimpleNamespace(time=lambda: later))
    expired = client.post("/v1/auth/verify", {"token": token}, format="json")
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "invalid_link"


def test_a_new_link_on_request_until_verified(client, mail, api):
    sign_up(client)
    consumer = as_consumer(sign_in(client).json()["token"])
    resent = consumer.post("/v1/auth/verify/resend")
    assert resent.status_code == 202 and len(mail) == 2
    fresh = client.post("/v1/auth/verify", {"token": token_of(link(mail[1], "/studio/verify"))}, format="json")
    assert fresh.status_code == 200
    # Either link worked once; the other is spent with it.
    stale = client.post("/v1/auth/verify", {"token": token_of(link(mail[0], "/studio/verify"))}, format="json")
    assert stale.status_code == 400
    done = consumer.post("/v1/auth/verify/resend")
    assert done.status_code == 409 and done.json()["error"]["code"] == "email_already_verified"
    assert api.post("/v1/auth/verify/resend").json()["error"]["code"] == "no_email"


def test_one_address_gets_a_handful_of_account_emails_however_often_it_is_asked(client, mail):
    sign_up(client)
    for _ in range(9):
        assert client.post("/v1/auth/password-reset", {"email": "ada@example.com"}, format="json").status_code == 202
    assert len(mail) == 5, "the sixth and later e-mails to one address within the hour are not sent"


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short1!", "too short"),
        ("qwertyuiop", "too common"),
        ("8274619305738", "entirely numeric"),
        ("lovelace2024", "too similar to the email"),
    ],
)
def test_weak_passwords_are_refused_saying_why(client, mail, password, problem):
    response = sign_up(client, "ada.lovelace@example.com", password)
    assert response.status_code == 400 and response.json()["error"]["code"] == "weak_password"
    assert problem in response.json()["error"]["message"]
    assert any(problem in p for p in response.json()["error"]["details"]["fields"]["password"])
    assert not Tenant.objects.exists() and mail == []


def test_an_address_that_is_not_one_is_refused_before_anything_is_sent(client, mail):
    response = sign_up(client, "not-an-email")
    assert response.status_code == 400 and "email" in response.json()["error"]["details"]["fields"]
    assert mail == []


def test_password_reset_by_email(client, mail):
    sign_up(client)
    old_token = sign_in(client).json()["token"]
    asked = client.post("/v1/auth/password-reset", {"email": "Ada@Example.com"}, format="json")
    nobody = client.post("/v1/auth/password-reset", {"email": "bo@example.com"}, format="json")
    assert asked.status_code == nobody.status_code == 202 and asked.json() == nobody.json()
    _, reset_mail, no_account = mail
    assert reset_mail.to == ["ada@example.com"] and no_account.to == ["bo@example.com"]
    assert link_in(no_account.body, "/studio/reset/new") is None
    token = token_of(link(reset_mail, "/studio/reset/new"))

    def confirm(password: str):
        return client.post("/v1/auth/password-reset/confirm", {"token": token, "password": password}, format="json")

    weak = confirm("password")
    assert weak.status_code == 400 and weak.json()["error"]["code"] == "weak_password"
    changed = confirm("a brand new secret")
    assert changed.status_code == 200 and changed.json()["status"] == "password_changed"
    # Every device is signed out; only the new password signs in; the link is spent.
    assert as_consumer(old_token).get("/v1/auth/tokens").status_code == 401
    assert sign_in(client).status_code == 401
    assert sign_in(client, password="a brand new secret").status_code == 200
    assert confirm("another brand new one").json()["error"]["code"] == "invalid_link"
    # The link reached the address: it counts as verified.
    assert Tenant.objects.get(email="ada@example.com").email_verified_at is not None


def test_a_reset_link_dies_when_the_password_changes_another_way(client, mail):
    sign_up(client)
    for _ in range(2):
        client.post("/v1/auth/password-reset", {"email": "ada@example.com"}, format="json")
    first, second = (token_of(link(m, "/studio/reset/new")) for m in mail[1:])
    body = {"token": second, "password": "a brand new secret"}
    assert client.post("/v1/auth/password-reset/confirm", body, format="json").status_code == 200
    body = {"token": first, "password": "yet another new secret"}
    response = client.post("/v1/auth/password-reset/confirm", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_link"


def test_an_unverified_consumer_cannot_start_an_order_over_grpc_either(partner, mailoutbox):
    from accounts.services import sign_up_consumer

    sign_up_consumer("ada@example.com", PASSWORD)
    token = issue_api_key(Tenant.objects.get(email="ada@example.com"), "personal_token")
    auth = [("authorization", f"Bearer {token}")]
    order = partner.stub.CreateOrder(
        pb.CreateOrderRequest(order=pb.Order(package="trial", style_ids=["tech-grey"])), metadata=auth
    )
    with pytest.raises(grpc.RpcError) as raised:
        partner.stub.SubmitOrder(pb.SubmitOrderRequest(name=order.name), metadata=auth)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert grpc_error_details(raised.value)["ErrorInfo"].reason == "email_not_verified"
