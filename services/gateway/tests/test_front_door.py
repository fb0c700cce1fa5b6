"""The gateway's own address: a person's browser lands in the studio, an API client gets a pointer to the docs."""

from __future__ import annotations

import pytest
from django.test import Client

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.fixture
def visitor(db) -> Client:
    return Client()


def test_a_browser_is_sent_to_the_studio_and_on_to_sign_in(visitor):
    response = visitor.get("/", HTTP_ACCEPT=BROWSER_ACCEPT, follow=True)
    assert [hop for hop, _ in response.redirect_chain] == ["/studio/", "/studio/signin"]
    assert response.status_code == 200 and "Sign in" in response.content.decode()
    assert "Accept" in visitor.get("/", HTTP_ACCEPT=BROWSER_ACCEPT)["Vary"]


@pytest.mark.parametrize("accept", ["*/*", "application/json", None])
def test_an_api_client_gets_where_the_docs_are(visitor, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = visitor.get("/", **headers)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["openapi"] == "http://testserver/v1/openapi.json" and "docs/partners" in body["docs"]
    assert body["studio"] == "http://testserver/studio/"
    assert visitor.get(body["openapi"].removeprefix("http://testserver")).status_code == 200
    assert "Accept" in response["Vary"]


def test_only_reads(visitor):
    response = visitor.post("/", {"x": "1"})
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
