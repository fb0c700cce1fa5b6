"""Consumer sign-up and sign-in, partner keys from the CLI, revocation."""

import io

from django.core.management import call_command
from rest_framework.test import APIClient


def test_consumer_signs_up_signs_in_and_uses_the_token(db):
    client = APIClient()
    response = client.post(
        "/v1/auth/signup", {"email": "Ada@Example.com", "password": "correct horse battery"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["token"].startswith("hs_")
    again = client.post("/v1/auth/signup", {"email": "ada@example.com", "password": "another long one"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "email_taken"

    wrong = client.post("/v1/auth/token", {"email": "ada@example.com", "password": "wrong password!"}, format="json")
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_credentials"
    token = client.post(
        "/v1/auth/token", {"email": "ada@example.com", "password": "correct horse battery"}, format="json"
    ).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.post("/v1/orders", {"package": "basic", "styles": ["tech-grey"]}, format="json").status_code == 201


def test_short_passwords_are_refused(db):
    response = APIClient().post("/v1/auth/signup", {"email": "b@example.com", "password": "short"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["error"]["details"]["fields"]


def test_partner_cli_prints_a_key_once_and_revocation_locks_it_out(db):
    out, err = io.StringIO(), io.StringIO()
    call_command("partner", "create", "Acme HR", "--quota", "100", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert key.startswith("hs_") and "whsec_" in err.getvalue()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.post("/v1/orders", {"package": "basic", "styles": ["tech-grey"]}, format="json").status_code == 201

    call_command("partner", "revoke", key, stdout=io.StringIO())
    response = client.get("/v1/styles")  # public
    assert response.status_code == 200
    response = client.post("/v1/orders", {"package": "basic", "styles": ["tech-grey"]}, format="json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"
