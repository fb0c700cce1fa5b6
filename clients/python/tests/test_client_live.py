"""The client against the real gateway (gunicorn, the partner gRPC server, the worker with its test-mode pipeline,
a photo checker, the upload receiver, the broker), as a partner builds an integration: with a test key, an order is
created, its photos uploaded by direct URLs, submitted, watched, downloaded (resumed, checksum-verified), rendered
again and deleted, its signed webhooks verified, in seconds; the same over gRPC; errors carry the API's codes and
retries honour the server's Retry-After and RetryInfo."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import re
import secrets
import shutil
import subprocess
import sys
import time
import uuid
import venv
import zipfile
from pathlib import Path

import pytest
import requests
from kafka import KafkaConsumer
from PIL import Image

from headshots_client import (
    AsyncGrpcClient,
    AsyncRestClient,
    ChecksumMismatch,
    GrpcClient,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    RestClient,
    RetryPolicy,
    WebhookVerificationError,
    verify_webhook,
)
from headshots_client.retry import NO_RETRIES
from headshots_common import blob_layout, bus
from headshots_common.blobstore import open_blob_store
from headshots_tools import mailbox
from headshots_tools.live_gateway import live_gateway
from headshots_tools.localstack import GATEWAY_DIR
from headshots_tools.webhook_endpoint import WebhookEndpoint

pytestmark = pytest.mark.checker_processes

STYLES = ["corporate-navy", "tech-grey"]
# Two orders a second per partner: a burst of creations meets the real rate limit (429 / RESOURCE_EXHAUSTED).
ORDER_RATE = "2/s"


def _partner(gateway, name: str, *flags: str) -> tuple[str, str]:
    """A partner's key and webhook secret, as `headshots partner create` prints them (stdout, stderr)."""
    made = subprocess.run(
        [sys.executable, "manage.py", "partner", "create", name, *flags],
        cwd=GATEWAY_DIR,
        env=gateway.env,
        check=True,
        capture_output=True,
        text=True,
    )
    secret = re.search(r"whsec_\S+", made.stderr)
    assert secret, made.stderr
    return made.stdout.strip(), secret.group(0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, kafka_bootstrap):
    env = {
        "HEADSHOTS_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "HEADSHOTS_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
        "HEADSHOTS_WEBHOOK_BASE_DELAY_S": "0.2",
        "HEADSHOTS_ORDER_RATE_LIMIT": ORDER_RATE,
    }
    with live_gateway(tmp_path_factory.mktemp("client-gateway"), "sqlite", env) as gateway:
        gateway.test_key, gateway.test_secret = _partner(gateway, "sandbox", "--test")
        gateway.live_key, _ = _partner(gateway, "production")
        gateway.start_worker()
        gateway.start_checker()
        gateway.start_uploads()
        yield gateway


def _orders_topic_keys(bootstrap: str) -> set[str]:
    """The keys (order ids) of every record on the trainer's and renderer's topic so far."""
    consumer = KafkaConsumer(
        bus.ORDERS_TOPIC,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
        group_id=None,
    )
    try:
        return {record.key.decode() for record in consumer if record.key}
    finally:
        consumer.close()


def test_a_test_key_runs_a_whole_order_over_rest_in_seconds(stack, person_photos, tmp_path, kafka_bootstrap):
    assert stack.test_key.startswith("hs_test_")
    with WebhookEndpoint() as hooks, RestClient(stack.test_key, stack.http) as client:
        started = time.monotonic()
        order = client.create_order("trial", STYLES, webhook_url=hooks.url)
        assert order.state == "awaiting_photos" and order.styles == tuple(STYLES) and order.test_mode
        uploaded = client.upload_photos(order.id, person_photos)
        assert uploaded.accepted == 5, uploaded
        assert client.submit_order(order.id).state == "queued"
        updates = list(client.watch_order(order.id, timeout_s=60, poll_s=0.2))
        took = time.monotonic() - started
        assert updates[-1].state == "completed" and updates[-1].headshots_ready == 4, updates[-1]
        assert {"training", "rendering"} <= {u.state for u in updates}  # progress is seen on the way
        assert took < 30, f"a test order took {took:.0f}s"

        headshots = list(client.list_headshots(order.id, page_size=3))  # two pages
        assert len(headshots) == 4 and {h.style_id for h in headshots} == set(STYLES)
        files = client.download_headshots(order.id, tmp_path / "out")
        assert sorted(p.name for p in files) == sorted(f"{h.id}.png" for h in headshots)
        assert all(Image.open(p).size == (512, 512) for p in files)

        # A download that broke off resumes from its part; a part that is not the file's is never kept.
        whole = files[0].read_bytes()
        target = tmp_path / "resume" / files[0].name
        target.parent.mkdir()
        part, etag = target.with_name(target.name + ".part"), target.with_name(target.name + ".part.etag")
        part.write_bytes(whole[:500])
        etag.write_text(f'"{hashlib.sha256(whole).hexdigest()}"')
        assert client.download_headshot(headshots[0], target).read_bytes() == whole
        assert not part.exists() and not etag.exists()
        part.write_bytes(b"x" * 500)  # the same length, other bytes: resumed, then refused by the checksum
        etag.write_text(f'"{hashlib.sha256(whole).hexdigest()}"')
        target.unlink()
        with pytest.raises(ChecksumMismatch):
            client.download_headshot(headshots[0], target)
        assert not target.exists() and not part.exists()
        part.write_bytes(whole + b"more")  # longer than the file (416): not a part of it, so it starts afresh
        etag.write_text(f'"{hashlib.sha256(whole).hexdigest()}"')
        assert client.download_headshot(headshots[0], target).read_bytes() == whole

        assert client.get_report(order.id).delivered == 4
        render = client.create_render(order.id, "tech-grey", 2)
        assert render.state == "pending" and render.count == 2
        assert client.wait_for_order(order.id, timeout_s=30).headshots_ready == 6

        # A live key sees nothing of it, and the test key nothing of live orders.
        with RestClient(stack.live_key, stack.http) as live:
            with pytest.raises(NotFound) as missing:
                live.get_order(order.id)
            assert missing.value.code == "not_found" and missing.value.http_status == 404
            live_order = live.create_order("trial", ["tech-grey"])
            assert not live_order.test_mode
            assert order.id not in {o.id for o in live.list_orders()}
        assert live_order.id not in {o.id for o in client.list_orders()}

        receipt = client.delete_order(order.id)
        assert receipt.complete and receipt.headshots_deleted == 6 and receipt.remaining_blobs == 0
        assert client.get_order(order.id).state == "deleted"

        # Every webhook verifies with the partner's secret; a changed body or an old one does not.
        deadline = time.monotonic() + 30
        while "order.deleted" not in {json.loads(r.body)["type"] for r in hooks.requests}:
            assert time.monotonic() < deadline, [r.body for r in hooks.requests]
            time.sleep(0.2)
        events = [verify_webhook(r.body, r.headers, stack.test_secret) for r in hooks.requests]
        assert {"order.created", "order.training_started", "order.completed", "order.render_completed"} <= {
            e["type"] for e in events
        }
        assert all(e["data"]["order_id"] == order.id for e in events)
        signed = hooks.requests[0]
        with pytest.raises(WebhookVerificationError):
            verify_webhook(signed.body.replace(order.id, str(uuid.uuid4())), signed.headers, stack.test_secret)
        with pytest.raises(WebhookVerificationError):
            verify_webhook(signed.body, signed.headers, stack.test_secret, now=time.time() + 3600)

    # Nothing of the test order went to the trainer's and renderer's topic; the live order's submission would.
    assert order.id not in _orders_topic_keys(kafka_bootstrap)


def test_the_grpc_client_has_the_same_methods_and_results(stack, person_photos, tmp_path):
    with GrpcClient(stack.test_key, stack.grpc) as client:
        order = client.create_order("trial", STYLES, retention_hours=2)
        assert order.state == "awaiting_photos" and order.package == "trial" and order.test_mode
        assert client.upload_photos(f"orders/{order.id}", person_photos).accepted == 5  # a resource name works too
        client.submit_order(order.id)
        final = client.wait_for_order(order.id, timeout_s=60)
        assert final.state == "completed" and final.delivery == "complete" and final.headshots_ready == 4
        headshots = list(client.list_headshots(order.id, page_size=3))
        assert len(headshots) == 4
        files = client.download_headshots(order.id, tmp_path)
        assert len(files) == 4 and all(Image.open(p).format == "PNG" for p in files)
        # Resumed from a part (read_offset), checked against the file's SHA-256.
        first = next(h for h in headshots if h.id == files[0].stem)
        whole, target = files[0].read_bytes(), tmp_path / "resumed" / files[0].name
        target.parent.mkdir()
        part = target.with_name(target.name + ".part")
        part.write_bytes(whole[:300])
        assert client.download_headshot(first, target).read_bytes() == whole and not part.exists()
        part.write_bytes(b"x" * 300)
        target.unlink()
        with pytest.raises(ChecksumMismatch):
            client.download_headshot(first, target)
        assert not target.exists() and not part.exists()
        part.write_bytes(whole + b"more")  # longer than the file: not a part of it, so the download starts afresh
        assert client.download_headshot(first, target).read_bytes() == whole
        assert client.get_report(order.id).delivered == 4
        assert order.id in {o.id for o in client.list_orders(page_size=1)}
        assert {s.id for s in client.list_styles()} >= set(STYLES)
        receipt = client.delete_order(order.id)
        assert receipt.order_id == order.id and receipt.complete and receipt.headshots_deleted == 4
        with GrpcClient(stack.live_key, stack.grpc) as live, pytest.raises(NotFound) as missing:
            live.get_order(order.id)
        assert missing.value.code == "not_found" and missing.value.grpc_status == "NOT_FOUND"


@pytest.mark.parametrize("client_class", [AsyncRestClient, AsyncGrpcClient])
def test_the_async_clients_run_an_order_awaited(stack, person_photos, tmp_path, client_class):
    target = stack.http if client_class is AsyncRestClient else stack.grpc

    async def run() -> tuple[list[str], int, bool]:
        async with client_class(stack.test_key, target) as client:
            order = await client.create_order("trial", ["tech-grey"])
            assert (await client.upload_photos(order.id, person_photos)).accepted == 5
            await client.submit_order(order.id)
            states = [update.state async for update in client.watch_order(order.id, timeout_s=60)]
            headshots = [h async for h in client.list_headshots(order.id)]
            files = await client.download_headshots(order.id, tmp_path / client_class.__name__)
            assert len(files) == len(headshots) == 4
            return states, len(files), (await client.delete_order(order.id)).complete

    states, downloaded, deleted = asyncio.run(run())
    assert states[-1] == "completed" and downloaded == 4 and deleted


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_errors_carry_the_api_code_and_retries_honour_the_servers_wait(stack, protocol):
    def client(retry=RetryPolicy()):
        if protocol == "rest":
            return RestClient(stack.test_key, stack.http, retry=retry)
        return GrpcClient(stack.test_key, stack.grpc, retry=retry)

    with client() as api:
        with pytest.raises(InvalidArgument) as bad:
            api.create_order("trial", ["no-such-style"])
        assert bad.value.code in ("unknown_style", "invalid_argument")
        assert "style" in json.dumps(bad.value.details["fields"])  # the field at fault, named as the protocol names it
        with pytest.raises(NotFound):
            api.get_order(str(uuid.uuid4()))

    # A burst over the order rate: without retries the server's wait comes back with the error ...
    with client(NO_RETRIES) as api, pytest.raises(ResourceExhausted) as limited:
        for _ in range(12):  # gunicorn's two workers count apart, and a burst may span two windows: 3 times 4
            api.create_order("trial", STYLES)
    assert limited.value.code == "rate_limited" and limited.value.retry_after_s is not None
    assert 0 <= limited.value.retry_after_s <= 2
    # ... and with them every order of the burst is created, once each, after waiting as told.
    with client() as api:
        keys = [str(uuid.uuid4()) for _ in range(12)]
        started = time.monotonic()
        created = [api.create_order("trial", STYLES, idempotency_key=key) for key in keys]
        assert len({o.id for o in created}) == 12 and time.monotonic() - started >= 0.9  # it waited at least once
        # The same key again is the same order (a retry of a lost answer creates nothing).
        assert api.create_order("trial", STYLES, idempotency_key=keys[0]).id == created[0].id


def _consumer(stack, name: str, email: str) -> requests.Session:
    """A person's own account, as they make one: sign up, follow the e-mail's link (which verifies the address and
    signs in); a session carrying the personal token it signs in with."""
    anonymous, password = requests.Session(), secrets.token_urlsafe(12)
    signed_up = anonymous.post(
        f"{stack.http}/v1/auth/signup", json={"email": email, "password": password, "name": name}
    )
    assert signed_up.status_code == 202, signed_up.text
    link = mailbox.wait_for_link(mailbox.mail_dir(Path(stack.env["HEADSHOTS_VAR_DIR"])), email, "/studio/verify")
    verified = anonymous.post(f"{stack.http}/v1/auth/verify", json={"token": mailbox.token_of(link)})
    assert verified.status_code == 200, verified.text
    person = requests.Session()
    person.headers["Authorization"] = f"Bearer {verified.json()['token']}"
    return person


def test_a_team_over_grpc_with_the_partner_client(stack, person_photos, tmp_path):
    """Issue 27's journey over gRPC: a test-mode partner's admin runs the team with the GrpcClient; two people at the
    company's domain join with their own accounts over REST, one from elsewhere is refused; both order, share a
    headshot; the admin approves both, downloads the ZIP (its CSV names exactly its files) and removes a member, whose
    order is then gone from every prefix of the blob store."""
    started, tag = time.monotonic(), uuid.uuid4().hex[:6]
    domain = f"initech-{tag}.example"
    with GrpcClient(stack.test_key, stack.grpc) as admin:
        team = admin.create_team("Initech", 3, retention_hours=48)
        assert team.seats == 3 and team.retention_hours == 48 and team.look is None
        team = admin.set_team_look(team, "corporate-navy", backdrop_hex="#0A66C2", attire="navy blazer")
        assert team.look is not None and team.look.backdrop_hex == "#0a66c2" and "navy blazer" in team.look.prompt
        link = admin.create_team_invite_link(team, 5, email_domain=domain)
        assert link.token and link.join_url and link.email_domain == domain
        assert admin.get_team(f"teams/{team.id}") == team and team.id in {t.id for t in admin.list_teams()}

        people = {
            f"{name.lower()}-{tag}@{domain}": _consumer(stack, name, f"{name.lower()}-{tag}@{domain}")
            for name in ("Alice", "Bob")
        }
        eve = _consumer(stack, "Eve", f"eve-{tag}@elsewhere-{tag}.example")
        refused = eve.post(f"{stack.http}/v1/teams/join", json={"token": link.token})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "email_domain_not_allowed"

        orders = {}
        for email, person in people.items():
            assert person.post(f"{stack.http}/v1/teams/join", json={"token": link.token}).status_code == 201
            started_order = person.post(f"{stack.http}/v1/teams/{team.id}/order")
            assert started_order.status_code == 201, started_order.text
            orders[email] = started_order.json()["id"]
            token = person.headers["Authorization"].removeprefix("Bearer ")
            with RestClient(token, stack.http) as member:  # the member's own order, as any order
                assert member.upload_photos(orders[email], person_photos).accepted == 5
                assert member.submit_order(orders[email]).state == "queued"
        for email, person in people.items():  # both in flight at once
            token = person.headers["Authorization"].removeprefix("Bearer ")
            with RestClient(token, stack.http) as member:
                assert member.wait_for_order(orders[email], timeout_s=60).state == "completed"
                first = next(member.list_headshots(orders[email]))
            shared = person.post(f"{stack.http}/v1/teams/{team.id}/picks", json={"headshot_ids": [first.id]})
            assert shared.status_code == 201, shared.text

        members = list(admin.list_team_members(team, page_size=1))  # a page each
        assert [(m.email, m.state, len(m.picks)) for m in members] == [(e, "picked", 1) for e in people]
        for member in members:
            assert admin.approve_team_pick(team, member.picks[0]).state == "approved"
        archive = zipfile.ZipFile(admin.download_team_picks(team, tmp_path / "picks"))
        rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
        assert [(r["name"], r["email"], r["style"]) for r in rows] == [
            (name, email, team.look.style_name) for name, email in zip(("Alice", "Bob"), people)
        ]
        assert sorted(r["file"] for r in rows) == sorted(n for n in archive.namelist() if n != "manifest.csv")
        assert all(archive.read(r["file"]).startswith(b"\x89PNG") for r in rows)
        # One pick's PNG alone, over gRPC and REST: the same bytes. An unknown pick is NotFound and leaves no file.
        pick = members[0].picks[0]
        png = admin.download_team_pick(team, pick, tmp_path / "one").read_bytes()
        assert png.startswith(b"\x89PNG") and png in {archive.read(r["file"]) for r in rows}
        with RestClient(stack.test_key, stack.http) as rest:
            assert (
                rest.download_team_pick(team, f"teams/{team.id}/picks/{pick.id}", tmp_path / "rest.png").read_bytes()
                == png
            )
        with RestClient(stack.test_key, stack.http) as rest:
            for client in (admin, rest):
                with pytest.raises(NotFound):
                    client.download_team_pick(team, str(uuid.uuid4()), tmp_path / "missing")
                assert list((tmp_path / "missing").iterdir()) == [], "a refused download leaves no file behind"
        usage = admin.team_usage(team)
        assert (usage.seats, usage.seats_used) == (3, 2) and usage.headshots_delivered > 0

        # The RestClient's team methods answer the same values.
        with RestClient(stack.test_key, stack.http) as rest:
            assert rest.get_team(team) == admin.get_team(team) and rest.team_usage(team) == usage
            assert list(rest.list_team_members(team)) == list(admin.list_team_members(team))
            manifest = zipfile.ZipFile(io.BytesIO(rest.team_picks_archive(team))).read("manifest.csv")
            assert manifest == archive.read("manifest.csv")
            invited = rest.invite_team_member(team, f"carol-{tag}@{domain}")
            assert invited.kind == "email" and invited.revoked_at is None
            revoked = admin.revoke_team_invitation(team, invited)
            assert revoked.revoked_at is not None and rest.revoke_team_invitation(team, invited.id) == revoked
            assert admin.set_team_retention(team, 24).retention_hours == rest.get_team(team).retention_hours == 24

        # Bob removed: his order's receipt, and nothing of it under any of its prefixes in the store.
        bob_email = list(people)[1]
        (receipt,) = admin.remove_team_member(team, members[1])
        bob_order = orders[bob_email]
        assert receipt.order_id == bob_order and receipt.remaining_blobs == 0 and receipt.headshots_deleted > 0
        store = open_blob_store(stack.env["HEADSHOTS_BLOB_URL"])
        for prefix in (
            blob_layout.order_prefix(bob_order),
            blob_layout.photos_prefix(bob_order),
            blob_layout.quarantine_prefix(bob_order),
            blob_layout.training_prefix(bob_order),
            blob_layout.adapter_prefix(bob_order),
            blob_layout.headshots_prefix(bob_order),
        ):
            assert store.list(prefix) == [], prefix
        assert store.list(blob_layout.headshots_prefix(orders[list(people)[0]]))  # Alice's is still there
        assert [m.email for m in admin.list_team_members(team)] == [list(people)[0]]

        # Another partner's key finds nothing of the team; deleting it deletes Alice's order too.
        with GrpcClient(stack.live_key, stack.grpc) as other, pytest.raises(NotFound):
            other.get_team(team)
        assert [r.order_id for r in admin.delete_team(team)] == [orders[list(people)[0]]]
    took = time.monotonic() - started
    assert took < 30, f"the team journey took {took:.0f}s"


def test_the_team_commands_of_the_cli_run_a_team_from_a_shell(stack, monkeypatch, capsys, tmp_path):
    """`headshots team ...` as an HR platform's operator runs it with a test key: create, look, a domain-locked link,
    list, members, usage, an e-mail invitation revoked, reminders and the (empty) picks' download, the API's refusals
    (exit 3, its code on stderr and in the JSON), delete."""
    from headshots_client.cli import main

    monkeypatch.setenv("HEADSHOTS_API_KEY", stack.test_key)
    monkeypatch.setenv("HEADSHOTS_GRPC_TARGET", stack.grpc)

    def cli(*argv: str) -> tuple[int, str, str]:
        code = main(["team", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    def cli_json(*argv: str) -> tuple[int, dict, str]:
        code, out, err = cli(*argv, "--json")
        return code, json.loads(out.strip().splitlines()[-1]), err

    started, tag = time.monotonic(), uuid.uuid4().hex[:6]
    domain = f"initech-{tag}.example"
    code, out, err = cli("create", "--name", f"Initech {tag}", "--seats", "25", "--retention-hours", "168")
    assert code == 0, err
    team = re.search(r"^team\s+(\S+)$", out, re.MULTILINE).group(1)
    assert re.search(r"^seats\s+25$", out, re.M) and re.search(r"^retention\s+168 h$", out, re.M), out
    assert re.search(r"^look\s+not set", out, re.M), out

    code, looked, err = cli_json(
        "look", f"teams/{team}", "--style", "corporate-navy", "--backdrop", "#0A66C2", "--attire", "navy blazer"
    )
    assert code == 0, err
    look = looked["team"]["look"]
    assert looked["team"]["id"] == team and look["style_id"] == "corporate-navy" and look["backdrop_hex"] == "#0a66c2"
    assert "navy blazer" in look["prompt"]

    # The link's join URL and token, printed once; locked to the domain.
    code, out, err = cli("link", team, "--max-uses", "30", "--domain", domain)
    assert code == 0, err
    assert re.search(r"^join URL\s+http\S+token=\S+$", out, re.M) and re.search(r"^token\s+\S{20,}$", out, re.M), out
    assert f"for anyone at {domain}" in out and "0 of 30" in out and "shown only now" in err

    code, out, err = cli("list")
    assert code == 0 and re.search(rf"^{team}\s+Initech {tag}\s+25\s+168 h\s+corporate-navy\s", out, re.M), out
    code, listed, err = cli_json("list")
    assert team in {t["id"] for t in listed["teams"]}

    code, out, err = cli("members", team)
    assert (code, out) == (0, ""), err
    code, members, err = cli_json("members", team)
    assert members == {"team": team, "members": []}
    code, out, err = cli("usage", team)
    assert (code, out) == (0, "0 of 25 seats used; 0 headshots delivered\n"), err
    code, usage, err = cli_json("usage", team)
    assert usage == {"team": team, "seats": 25, "seats_used": 0, "headshots_delivered": 0}

    # An e-mail invitation shows among the members as invited until it is revoked.
    bob = f"bob-{tag}@{domain}"
    code, invited, err = cli_json("invite", team, "--email", bob)
    assert code == 0 and invited["invitation"]["kind"] == "email" and invited["invitation"]["email"] == bob, err
    code, out, err = cli("members", team)
    assert re.search(rf"^-\s+\S.*\s+{re.escape(bob)}\s+invited\s+-$", out, re.M), out
    code, out, err = cli("revoke", team, invited["invitation"]["id"])
    assert code == 0 and re.search(r"^revoked\s+\d{4}-", out, re.M), err + out

    code, out, err = cli("remind", team)
    assert (code, out) == (0, "0 members reminded by e-mail\n"), err
    code, picks, err = cli_json("download", team, "--to", str(tmp_path / "picks"))
    assert code == 0 and picks["manifest"] == [] and picks["files"] == [str(tmp_path / "picks" / "manifest.csv")]
    assert (tmp_path / "picks" / "manifest.csv").read_text().splitlines() == ["name,email,file,style"]

    # What the API refuses: exit 3, its code on stderr and in the JSON.
    code, refused, err = cli_json("create", "--name", "Nobody", "--seats", "0")
    assert code == 3 and refused["exit_code"] == 3 and refused["code"] == "invalid_argument", refused
    assert list(refused["fields"]) == ["team.seats"] and "error: invalid_argument" in err and "team.seats: " in err
    code, out, err = cli("look", team, "--style", "no-such-style")
    assert code == 3 and "error: invalid_argument" in err and "style_id: " in err, err
    code, missing, err = cli_json("get", str(uuid.uuid4()))
    assert code == 3 and missing["code"] == "not_found" and "error: not_found" in err, missing
    for command in (["approve"], ["hide"], ["pick", "--to", str(tmp_path)], ["remove"]):  # no such pick or member
        code, missing, err = cli_json(command[0], team, str(uuid.uuid4()), *command[1:])
        assert code == 3 and missing["code"] == "not_found", (command, missing)

    code, out, err = cli("delete", team)
    assert code == 0 and out == f"team {team} deleted with 0 member orders\n", err
    code, out, err = cli("get", team)
    assert code == 3 and "not_found" in err
    took = time.monotonic() - started
    assert took < 10, f"the team commands took {took:.1f}s"


# -- the package alone, as a partner installs it ---------------------------------------------------------------
CLIENT_DIR = Path(__file__).resolve().parents[1]
CONSTRAINTS = CLIENT_DIR.parents[1] / "constraints.txt"
HEAVY = ("torch", "django", "kafka", "headshots_common", "rich")


def _python_block(markdown: str, index: int) -> str:
    return re.findall(r"```python\n(.*?)```", markdown, re.DOTALL)[index]


def test_the_wheel_alone_runs_the_readme_quickstart_with_a_test_key(stack, person_photos, tmp_path):
    """A fresh venv with only the wheel (and its four dependencies): none of torch, Django or the broker client, and
    the README's quickstart runs as written against the gateway, its webhooks verified there too."""
    source = tmp_path / "source"  # a copy: the build writes its build/ and egg-info beside the sources
    shutil.copytree(CLIENT_DIR, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist"]
        + [source],
        check=True,
        capture_output=True,
    )
    [wheel] = (tmp_path / "dist").glob("headshots_client-*.whl")
    assert "headshots_client/_proto/partner_api_pb2_grpc.py" in zipfile.ZipFile(wheel).namelist()
    venv.create(tmp_path / "venv", with_pip=False)  # pip from outside installs into it: no pip inside to download
    python = tmp_path / "venv" / "bin" / "python"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "-c", CONSTRAINTS, wheel],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    probe = f"import importlib.util as u, headshots_client; print([m for m in {HEAVY!r} if u.find_spec(m)])"
    alone = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env={})
    assert alone.returncode == 0 and alone.stdout.strip() == "[]", alone.stdout + alone.stderr

    readme = (CLIENT_DIR / "README.md").read_text()
    (tmp_path / "selfies").mkdir()
    for photo in person_photos:
        (tmp_path / "selfies" / photo.name).write_bytes(photo.read_bytes())
    env = {"HEADSHOTS_API_KEY": stack.test_key, "HEADSHOTS_API_URL": stack.http, "PATH": "/usr/bin:/bin"}
    with WebhookEndpoint() as hooks:
        quickstart = _python_block(readme, 0).replace("https://you.example/hooks", hooks.url)
        ran = subprocess.run([python, "-c", quickstart], capture_output=True, text=True, cwd=tmp_path, env=env)
        assert ran.returncode == 0, ran.stderr[-3000:]
        assert "5 photos accepted" in ran.stdout and "completed 100%" in ran.stdout
        assert "4 headshots in ./headshots" in ran.stdout and len(list((tmp_path / "headshots").glob("*.png"))) == 4
        deadline = time.monotonic() + 30
        while "order.completed" not in {json.loads(r.body)["type"] for r in hooks.requests}:
            assert time.monotonic() < deadline, [r.body for r in hooks.requests]
            time.sleep(0.2)
        received = [{"body": r.body, "headers": r.headers} for r in hooks.requests]
    # The README's webhook check, as written, on every webhook the order sent.
    check = "import json, sys\nfor hook in json.load(sys.stdin):\n    body, headers = hook['body'], hook['headers']\n"
    check += "".join(f"    {line}\n" for line in _python_block(readme, 1).splitlines())
    check += "    print(event['type'])\n"
    verified = subprocess.run(
        [python, "-c", f"secret = {stack.test_secret!r}\n{check}"],
        input=json.dumps(received),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={},
    )
    assert verified.returncode == 0, verified.stderr[-3000:]
    assert {"order.created", "order.completed"} <= set(verified.stdout.split())
