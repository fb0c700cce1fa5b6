"""TLS by default: the clients send the key in plaintext only to this machine, unless told the network is trusted.
(Nothing here connects: the decision is made before any byte is sent.)"""

from __future__ import annotations

import pytest

from headshots_client import GrpcClient, RestClient, Transport, TransportError


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("api.example.com", "https://api.example.com"),
        ("https://api.example.com/", "https://api.example.com"),
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_rest_uses_tls_for_every_host_that_is_not_this_machine(given, used):
    with RestClient("hs_test_x_y", given) as client:
        assert client.base_url == used


def test_plaintext_to_another_machine_is_refused_unless_the_network_is_trusted():
    with pytest.raises(TransportError, match="plaintext"):
        RestClient("hs_x_y", "http://10.1.2.3:8000")
    with RestClient("hs_x_y", "http://10.1.2.3:8000", insecure=True) as client:
        assert client.base_url == "http://10.1.2.3:8000"
    with pytest.raises(TransportError, match="plaintext"):
        GrpcClient("hs_x_y", "10.1.2.3:50051", transport=Transport(plaintext=True))


def test_a_client_without_a_key_says_where_one_comes_from(monkeypatch):
    monkeypatch.delenv("HEADSHOTS_API_KEY", raising=False)
    with pytest.raises(TransportError, match="HEADSHOTS_API_KEY"):
        RestClient(base_url="https://api.example.com")
