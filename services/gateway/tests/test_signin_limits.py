"""Sign-in abuse: limits per client address and per account, checked before any password is hashed, counted in the
shared cache so that they hold across gateway processes (proven with gunicorn's workers on Redis)."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import random
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from accounts.services import sign_up_consumer
from gateway import ratelimit
from gateway.config import CONFIG
from headshots_tools.live_gateway import live_gateway

from .support import CountingHasher

PASSWORD = "correct horse battery"
REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def hashes(settings):
    """Passwords hashed from here on (a fast real hasher that counts)."""
    settings.PASSWORD_HASHERS = [f"{CountingHasher.__module__}.CountingHasher"]
    CountingHasher.count = 0
    return CountingHasher


@pytest.fixture
def configure(monkeypatch):
    """Change gateway settings for one test, where the code reads them."""

    def apply(**changes):
        changed = dataclasses.replace(CONFIG, **changes)
        for module in ("gateway.client_address", "gateway.throttling", "accounts.services"):
            monkeypatch.setattr(f"{module}.CONFIG", changed)

    return apply


def sign_in(client, email: str, password: str, forwarded_for: str = ""):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    return client.post("/v1/auth/token", {"email": email, "password": password}, format="json", **headers)


def test_a_new_x_forwarded_for_each_try_is_still_one_address(db, hashes):
    """No proxy is trusted: the connection's address counts, whatever the client writes in X-Forwarded-For."""
    allowed, _ = ratelimit.parse_rate(CONFIG.auth_rate_limit)
    client = APIClient()
    responses = [
        sign_in(client, f"nobody{n}@example.com", "guess", forwarded_for=str(ipaddress.ip_address(0x0A000000 + n)))
        for n in range(10 * allowed)
    ]
    statuses = [r.status_code for r in responses]
    assert statuses == [401] * allowed + [429] * 9 * allowed
    refused = responses[-1]
    assert refused.json()["error"]["code"] == "rate_limited" and int(refused["Retry-After"]) >= 1
    assert hashes.count == allowed, "a refused try hashes nothing"


def test_forty_wrong_passwords_for_one_account_are_locked_out(db, hashes):
    sign_up_consumer("ada@example.com", PASSWORD)
    hashes.count = 0
    client = APIClient()
    statuses = [
        sign_in(client, "Ada@Example.com ", "wrong password!", forwarded_for=f"203.0.113.{n}").status_code
        for n in range(40)
    ]
    after = CONFIG.signin_lockout_after
    assert statuses == [401] * after + [429] * (40 - after)
    assert hashes.count == after
    # Locked means locked: the right password waits too; so does an address that has no account (no tell).
    assert sign_in(client, "ada@example.com", PASSWORD).status_code == 429
    for _ in range(after):
        sign_in(client, "nobody@example.com", "guess")
    assert sign_in(client, "nobody@example.com", "guess").status_code == 429


def test_two_clients_behind_a_trusted_proxy_are_counted_apart(db, hashes, configure):
    configure(trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.0.0.0/8")))
    allowed, _ = ratelimit.parse_rate(CONFIG.auth_rate_limit)
    client = APIClient()  # connects from 127.0.0.1, the proxy

    def tries(hops: str) -> list[int]:
        return [sign_in(client, f"x{uuid.uuid4().hex}@example.com", "guess", hops).status_code for _ in range(allowed)]

    # Alice, behind two of our proxies; what she writes in front of her address herself changes nothing.
    assert tries("198.51.100.7, 10.1.2.3") == [401] * allowed
    assert sign_in(client, "a@example.com", "guess", "192.0.2.1, 198.51.100.7, 10.1.2.3").status_code == 429
    assert sign_in(client, "a@example.com", "guess", "garbage, 198.51.100.7").status_code == 429
    # Bob, behind the same proxy, has his own count.
    assert tries("203.0.113.9") == [401] * allowed


def test_the_lockout_grows_with_each_failure_up_to_its_cap_and_a_success_ends_it(db, hashes, configure):
    configure(signin_lockout_after=3, signin_lockout_s=1.0, signin_lockout_max_s=3.0)
    sign_up_consumer("ada@example.com", PASSWORD)
    client = APIClient()

    def wrong_then_refused() -> int:
        assert sign_in(client, "ada@example.com", "wrong password!").status_code == 401
        refused = sign_in(client, "ada@example.com", "wrong password!")
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        return int(refused["Retry-After"])

    for _ in range(2):
        assert sign_in(client, "ada@example.com", "wrong password!").status_code == 401
    waits = []
    for _ in range(4):
        waits.append(wrong_then_refused())
        time.sleep(waits[-1] + 0.1)
    assert waits == [1, 2, 3, 3], "doubling from 1 s, capped at 3 s"
    # The right password after the wait signs in and forgets the failures: a typo now costs no wait.
    assert sign_in(client, "ada@example.com", PASSWORD).status_code == 200
    assert [sign_in(client, "ada@example.com", "typo").status_code for _ in range(2)] == [401, 401]


def test_the_studio_sign_in_shares_the_limits_and_says_how_long_to_wait(db, hashes):
    sign_up_consumer("ada@example.com", PASSWORD)
    for _ in range(CONFIG.signin_lockout_after):
        assert sign_in(APIClient(), "ada@example.com", "wrong password!").status_code == 401
    page = Client().post("/studio/signin", {"email": "ada@example.com", "password": PASSWORD})
    assert page.status_code == 429 and "Too many requests" in page.content.decode()
    assert int(page["Retry-After"]) >= 1


# -- several gateway processes on one shared cache ----------------------------------------------------------------
def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def _post(base: str, path: str, body: dict, forwarded_for: str) -> int:
    request = urllib.request.Request(
        f"{base}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded_for},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _random_address() -> str:
    return str(ipaddress.ip_address(random.randrange(0xC6120000, 0xC6140000)))  # 198.18.0.0/15: benchmarking


@pytest.mark.skipif(not _redis_reachable(), reason="no Redis on 127.0.0.1:6379")
def test_the_limits_hold_across_gateway_processes(tmp_path):
    """gunicorn's two workers and ten clients at once, on Redis: 10x the tries each limit allows, and exactly the
    allowed number get through, however the tries spread over the processes."""
    rate, after = 5, 3
    env = {
        "HEADSHOTS_CACHE_URL": REDIS_URL,
        "HEADSHOTS_TRUSTED_PROXIES": "127.0.0.1/32",
        "HEADSHOTS_AUTH_RATE_LIMIT": f"{rate}/hour",
        "HEADSHOTS_SIGNIN_LOCKOUT_AFTER": str(after),
        "HEADSHOTS_SIGNIN_LOCKOUT_S": "600",
    }
    with live_gateway(tmp_path, "sqlite", env) as gateway, ThreadPoolExecutor(10) as pool:
        # One client behind the proxy, a new spoofed X-Forwarded-For entry in front of its own each try.
        client = _random_address()
        hour = int(time.time() // 3600)
        statuses = list(
            pool.map(
                lambda n: _post(
                    gateway.http,
                    "/v1/auth/token",
                    {"email": f"x{n}-{uuid.uuid4().hex[:6]}@example.com", "password": "guess"},
                    f"{_random_address()}, {client}",
                ),
                range(10 * rate),
            )
        )
        if int(time.time() // 3600) == hour:
            assert statuses.count(401) == rate and statuses.count(429) == 9 * rate
        else:  # the hour turned mid-run: two windows
            assert rate <= statuses.count(401) <= 2 * rate

        # One account, tried from thirty addresses at once.
        email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
        signup = {"email": email, "password": PASSWORD}
        assert _post(gateway.http, "/v1/auth/signup", signup, _random_address()) == 202
        wrong = {"email": email, "password": "wrong password!"}
        statuses = list(
            pool.map(lambda _: _post(gateway.http, "/v1/auth/token", wrong, _random_address()), range(10 * after))
        )
        assert statuses.count(401) == after and statuses.count(429) == 9 * after
        assert _post(gateway.http, "/v1/auth/token", signup, _random_address()) == 429, "locked, whoever tries"
