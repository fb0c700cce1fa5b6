"""Teams over REST: a test-mode partner creates a team for a customer, fixes its brand look and invites by a
domain-locked link and by e-mail; people join (a wrong domain, an unverified address and a full team are refused),
order in the team's look, share picks; the admin approves, downloads the ZIP whose CSV matches its files, and
removes a member, whose data goes with a receipt. Isolation: an admin sees only what members shared, members see
nothing of each other, and other tenants see no team at all."""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from accounts.authentication import start_session
from accounts.models import ApiKey, Tenant
from accounts.services import create_tenant_with_key, issue_api_key
from gateway import observability
from gateway.blobs import blob_store
from headshots_common import blob_layout, bus
from headshots_common.styles import PACKAGES, images_per_style
from headshots_tools.mailbox import link_in
from orders.models import DeletionReceipt, Order
from orders.services import creation, test_mode
from outbox.models import OutboxMessage
from teams import services as team_services
from teams.models import Invitation, Team

from .support import complete_order

BRAND = {"style": "corporate-navy", "backdrop_hex": "#0A66C2", "attire": "navy polo shirt", "framing": "chest up"}
PASSWORD = "correct horse battery"
# What an admin's member list may say of a member: nothing else (no selfies, readiness, verification, order).
MEMBER_FIELDS = {"id", "name", "email", "state", "joined_at", "shared_picks"}


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _person(email: str, verified: bool = True) -> APIClient:
    tenant = Tenant.objects.create(
        kind=Tenant.Kind.CONSUMER,
        name=email.split("@")[0].title(),
        email=email,
        email_verified_at=timezone.now() if verified else None,
    )
    client = _client(issue_api_key(tenant, ApiKey.Kind.PERSONAL_TOKEN))
    client.tenant = tenant
    return client


@pytest.fixture
def admin(db) -> APIClient:
    _, key = create_tenant_with_key("hr-platform", test_mode=True)
    return _client(key)


def _team(admin: APIClient, seats: int = 2) -> dict:
    created = admin.post("/v1/teams", {"name": "Initech", "seats": seats, "retention_hours": 24 * 7}, format="json")
    assert created.status_code == 201, created.content
    team = created.json()
    look = admin.put(f"/v1/teams/{team['id']}/look", BRAND, format="json")
    assert look.status_code == 200, look.content
    return look.json()


def _link(admin: APIClient, team_id: str, **fields) -> str:
    body = {"max_uses": 10, "valid_days": 7, "email_domain": "initech.example", **fields}
    response = admin.post(f"/v1/teams/{team_id}/links", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["token"]


def _join(person: APIClient, token: str):
    return person.post("/v1/teams/join", {"token": token}, format="json")


def _code(response) -> str:
    return response.json()["error"]["code"]


def test_a_team_journey_from_link_to_zip_and_removal(admin, person_photos):
    team = _team(admin)
    team_id = team["id"]
    assert team["look"]["backdrop_hex"] == "#0a66c2" and "#0a66c2" in team["look"]["prompt"]
    assert "navy polo shirt" in team["look"]["prompt"] and "chest up" in team["look"]["prompt"]
    token = _link(admin, team_id)
    assert len(token) >= 40 and not Invitation.objects.filter(token_hash=token).exists()  # stored hashed

    alice, bob = _person("alice@initech.example"), _person("bob@initech.example")
    outsider, unverified = _person("mallory@elsewhere.example"), _person("carol@initech.example", verified=False)
    preview = alice.post("/v1/teams/join/preview", {"token": token}, format="json").json()
    assert preview == {"team_name": "Initech", "email_domain": "initech.example", "expires_at": preview["expires_at"]}
    assert (refused := _join(outsider, token)).status_code == 403 and _code(refused) == "email_domain_not_allowed"
    assert (refused := _join(unverified, token)).status_code == 403 and _code(refused) == "email_not_verified"
    assert _join(alice, token).status_code == 201 and _join(bob, token).status_code == 201
    assert _join(alice, token).status_code == 201  # joining again takes no second seat
    late = _person("dave@initech.example")
    assert (refused := _join(late, token)).status_code == 409 and _code(refused) == "team_full"

    # Both members' orders record the team's exact look: their render specs are the same, apart from nothing.
    orders = {}
    for name, person in (("alice", alice), ("bob", bob)):
        started = person.post(f"/v1/teams/{team_id}/order")
        assert started.status_code == 201, started.content
        orders[name] = Order.objects.get(pk=started.json()["id"])
    specs = [
        creation.render_spec(o, o.style_ids, images_per_style(o.package, len(o.style_ids))) for o in orders.values()
    ]
    assert specs[0] == specs[1] and specs[0].look.prompt == team["look"]["prompt"]
    assert specs[0].look.seed_base == team["look"]["seed_base"] and specs[0].look.num_inference_steps > 0
    assert all(o.retention_hours == 24 * 7 for o in orders.values())

    members = admin.get(f"/v1/teams/{team_id}/members").json()["results"]
    assert [(m["email"], m["state"]) for m in members] == [
        ("alice@initech.example", "joined"),
        ("bob@initech.example", "joined"),
    ]
    # Both order for real; the test-mode partner's team is done by the placeholder pipeline (nothing trains).
    for name, person in (("alice", alice), ("bob", bob)):
        photos = [SimpleUploadedFile(p.name, p.read_bytes(), content_type="image/jpeg") for p in person_photos]
        assert (
            person.post(f"/v1/orders/{orders[name].id}/photos", {"files": photos}, format="multipart").status_code
            == 201
        )
    states = {m["email"]: m["state"] for m in admin.get(f"/v1/teams/{team_id}/members").json()["results"]}
    assert set(states.values()) == {"uploading"}
    for name, person in (("alice", alice), ("bob", bob)):
        assert person.post(f"/v1/orders/{orders[name].id}/submit").json()["state"] == "queued"
    assert not OutboxMessage.objects.filter(topic=bus.ORDERS_TOPIC).exists()
    for _ in range(10):
        test_mode.advance()
    states = {m["email"]: m["state"] for m in admin.get(f"/v1/teams/{team_id}/members").json()["results"]}
    assert set(states.values()) == {"ready"}
    for name, person in (("alice", alice), ("bob", bob)):
        headshots = person.get(f"/v1/orders/{orders[name].id}/headshots").json()["results"]
        shared = person.post(f"/v1/teams/{team_id}/picks", {"headshot_ids": [headshots[0]["id"]]}, format="json")
        assert shared.status_code == 201, shared.content

    members = admin.get(f"/v1/teams/{team_id}/members").json()["results"]
    assert [m["state"] for m in members] == ["picked", "picked"]
    assert all(set(m) == MEMBER_FIELDS and len(m["shared_picks"]) == 1 for m in members)
    alice_pick, bob_pick = (m["shared_picks"][0]["id"] for m in members)
    assert admin.get(f"/v1/teams/{team_id}/picks/{alice_pick}.png").status_code == 200
    for pick, state in ((alice_pick, "approved"), (bob_pick, "approved")):
        assert admin.patch(f"/v1/teams/{team_id}/picks/{pick}", {"state": state}, format="json").status_code == 200
    bad = admin.patch(f"/v1/teams/{team_id}/picks/{bob_pick}", {"state": "shared"}, format="json")
    assert bad.status_code == 400

    archive = zipfile.ZipFile(io.BytesIO(b"".join(admin.get(f"/v1/teams/{team_id}/picks.zip").streaming_content)))
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert [(r["name"], r["email"], r["style"]) for r in rows] == [
        ("Alice", "alice@initech.example", "Corporate (brand)"),
        ("Bob", "bob@initech.example", "Corporate (brand)"),
    ]
    assert sorted(r["file"] for r in rows) == sorted(n for n in archive.namelist() if n != "manifest.csv")
    assert all(archive.read(r["file"]).startswith(b"\x89PNG") for r in rows)

    usage = admin.get(f"/v1/teams/{team_id}/usage").json()
    delivered = 2 * PACKAGES["team"]
    assert usage == {"seats": 2, "seats_used": 2, "headshots_delivered": delivered}
    observability.sample_teams()
    assert REGISTRY.get_sample_value("gateway_team_seats_used", {"team": team_id}) == 2
    assert REGISTRY.get_sample_value("gateway_team_headshots_delivered", {"team": team_id}) == delivered

    # Removing Bob deletes his order's data with a receipt, frees his seat, and takes his picks out of the ZIP.
    bob_id = members[1]["id"]
    removed = admin.delete(f"/v1/teams/{team_id}/members/{bob_id}")
    assert removed.status_code == 200, removed.content
    (receipt,) = removed.json()["receipts"]
    assert receipt["order_id"] == str(orders["bob"].id) and receipt["headshots_deleted"] == PACKAGES["team"]
    assert receipt["remaining_blobs"] == 0
    assert not list(blob_store().list(blob_layout.order_prefix(str(orders["bob"].id))))
    assert bob.get(f"/v1/teams/{team_id}/membership").status_code == 404
    assert admin.get(f"/v1/teams/{team_id}/usage").json()["seats_used"] == 1
    archive = zipfile.ZipFile(io.BytesIO(b"".join(admin.get(f"/v1/teams/{team_id}/picks.zip").streaming_content)))
    assert [r["email"] for r in csv.DictReader(io.StringIO(archive.read("manifest.csv").decode()))] == [
        "alice@initech.example"
    ]

    # Deleting the team deletes the rest, with receipts.
    deleted = admin.delete(f"/v1/teams/{team_id}")
    assert [r["order_id"] for r in deleted.json()["receipts"]] == [str(orders["alice"].id)]
    assert admin.get(f"/v1/teams/{team_id}").status_code == 404


def test_links_refuse_once_revoked_expired_or_used_up_and_mailed_invitations_name_one_address(
    admin, mailoutbox, django_capture_on_commit_callbacks
):
    team_id = _team(admin, seats=10)["id"]
    revoked = _link(admin, team_id)
    invitation = Invitation.objects.get(team_id=team_id)
    assert admin.delete(f"/v1/teams/{team_id}/invitations/{invitation.id}").json()["revoked_at"]
    assert _code(_join(_person("a@initech.example"), revoked)) == "invitation_revoked"
    expired = _link(admin, team_id)
    Invitation.objects.filter(revoked_at=None).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _code(_join(_person("b@initech.example"), expired)) == "invitation_expired"
    once = _link(admin, team_id, max_uses=1, email_domain="")
    assert _join(_person("c@anywhere.example"), once).status_code == 201  # no lock: any verified person
    assert _code(_join(_person("d@anywhere.example"), once)) == "invitation_used_up"
    assert _join(_person("e@anywhere.example"), "not-a-token").status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        with_mail = admin.post(f"/v1/teams/{team_id}/invitations", {"email": "Frank@Initech.example"}, format="json")
    assert with_mail.status_code == 201, with_mail.content
    (mail,) = mailoutbox
    assert mail.to == ["frank@initech.example"] and "Initech" in mail.subject
    mailed_token = parse_qs(urlsplit(re.search(r"http\S+/studio/teams/join\S+", mail.body).group()).query)["token"][0]
    members = admin.get(f"/v1/teams/{team_id}/members").json()["results"]
    assert ("frank@initech.example", "invited") in [(m["email"], m["state"]) for m in members]
    assert _code(_join(_person("grace@initech.example"), mailed_token)) == "invitation_for_another_email"
    frank = _person("frank@initech.example")
    assert _join(frank, mailed_token).status_code == 201
    members = admin.get(f"/v1/teams/{team_id}/members").json()["results"]
    assert [m["state"] for m in members if m["email"] == "frank@initech.example"] == ["joined"]


def test_bad_team_input_is_refused_with_a_specific_code(admin):
    assert _code(admin.post("/v1/teams", {"name": "x", "seats": 0}, format="json")) == "invalid_argument"
    too_long = admin.post("/v1/teams", {"name": "x", "seats": 2, "retention_hours": 36 * 24}, format="json")
    assert too_long.status_code == 400
    team_id = admin.post("/v1/teams", {"name": "x", "seats": 2}, format="json").json()["id"]
    assert admin.put(f"/v1/teams/{team_id}/look", {"style": "nope"}, format="json").status_code == 400
    bad_colour = admin.put(f"/v1/teams/{team_id}/look", {"style": "tech-grey", "backdrop_hex": "#12"}, format="json")
    assert bad_colour.status_code == 400 and "backdrop_hex" in bad_colour.json()["error"]["details"]["fields"]
    hoodie = admin.put(f"/v1/teams/{team_id}/look", {"style": "tech-grey", "attire": "hoodie"}, format="json").json()
    assert "hoodie" in hoodie["look"]["prompt"] and "charcoal grey backdrop" in hoodie["look"]["prompt"]
    Team.objects.filter(pk=team_id).update(look={})
    member = _person("g@initech.example")
    token = _link(admin, team_id)
    assert _join(member, token).status_code == 201
    not_yet = member.post(f"/v1/teams/{team_id}/order")
    assert not_yet.status_code == 422 and _code(not_yet) == "team_look_not_set"
    assert _code(admin.post("/v1/teams/join", {"token": token}, format="json")) == "members_are_people"


# Every admin route of a team, as (method, path template): another tenant, and every member, gets 404 from each.
ADMIN_ROUTES = [
    ("get", "/v1/teams/{team}"),
    ("put", "/v1/teams/{team}/look"),
    ("put", "/v1/teams/{team}/retention"),
    ("post", "/v1/teams/{team}/invitations"),
    ("post", "/v1/teams/{team}/links"),
    ("get", "/v1/teams/{team}/members"),
    ("get", "/v1/teams/{team}/picks.zip"),
    ("get", "/v1/teams/{team}/picks/{pick}.png"),
    ("patch", "/v1/teams/{team}/picks/{pick}"),
    ("get", "/v1/teams/{team}/usage"),
    ("delete", "/v1/teams/{team}/members/{member}"),
    ("delete", "/v1/teams/{team}"),
]


def test_isolation_admins_see_only_shared_headshots_and_members_see_nothing_of_each_other(admin):
    team_id = _team(admin, seats=3)["id"]
    token = _link(admin, team_id)
    alice, bob = _person("alice@initech.example"), _person("bob@initech.example")
    _, other_key = create_tenant_with_key("other-platform", test_mode=True)
    stranger = _client(other_key)
    orders = {}
    for name, person in (("alice", alice), ("bob", bob)):
        assert _join(person, token).status_code == 201
        orders[name] = person.post(f"/v1/teams/{team_id}/order").json()["id"]
        complete_order(orders[name], n=2)
    alice_headshots = [h["id"] for h in alice.get(f"/v1/orders/{orders['alice']}/headshots").json()["results"]]
    shared = alice.post(f"/v1/teams/{team_id}/picks", {"headshot_ids": alice_headshots[:1]}, format="json").json()
    ids = {"team": team_id, "pick": shared[0]["id"], "member": admin.get(f"/v1/teams/{team_id}/members").json()}
    ids["member"] = ids["member"]["results"][0]["id"]

    # The admin: the shared headshot, nothing else of a member's order (photos, other headshots, readiness).
    for path in ("", "/photos", "/headshots", "/report", "/headshots.zip", f"/headshots/{alice_headshots[1]}.png"):
        assert admin.get(f"/v1/orders/{orders['alice']}{path}").status_code == 404, path
    assert admin.get(f"/v1/teams/{team_id}/picks/{shared[0]['id']}.png").status_code == 200
    listing = admin.get(f"/v1/teams/{team_id}/members").content.decode()
    for private in ("verified", "readiness", "photo", orders["alice"], alice_headshots[1]):
        assert private not in listing

    # Members: nothing of one another, and none of the admin's routes.
    assert bob.get(f"/v1/orders/{orders['alice']}").status_code == 404
    stolen = bob.post(f"/v1/teams/{team_id}/picks", {"headshot_ids": alice_headshots[1:]}, format="json")
    assert stolen.status_code == 400 and _code(stolen) == "unknown_headshot"
    own = bob.get(f"/v1/teams/{team_id}/membership")
    assert own.status_code == 200 and "alice" not in own.content.decode().lower()
    for caller in (alice, bob, stranger):
        for method, template in ADMIN_ROUTES:
            response = getattr(caller, method)(template.format(**ids), {}, format="json")
            assert response.status_code == 404, (method, template, response.content)
    # Another tenant is no member either, and the team is still whole.
    assert stranger.get(f"/v1/teams/{team_id}/membership").status_code == 404
    assert stranger.post(f"/v1/teams/{team_id}/order").status_code == 404
    # The admin is told it is no member (it knows the team exists), and sees no member's view.
    assert _code(admin.get(f"/v1/teams/{team_id}/membership")) == "not_a_member"
    assert admin.get(f"/v1/teams/{team_id}/usage").json()["seats_used"] == 2


def _studio(tenant: Tenant) -> Client:
    """A browser signed in to the studio as `tenant`."""
    browser = Client()
    session = browser.session
    start_session(session, tenant)
    session.save()
    browser.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    return browser


def test_the_studio_join_page_signs_in_first_then_joins_and_opens_the_order_in_the_teams_look(admin):
    team_id = _team(admin, seats=3)["id"]
    token = _link(admin, team_id)
    alice = _person("alice@initech.example")
    assert _join(alice, token).status_code == 201
    signed_out = Client().get("/studio/teams/join", {"token": token})
    assert signed_out.status_code == 302 and signed_out["Location"].startswith("/studio/signin?next=")
    assert token in unquote(signed_out["Location"])

    outsider = _studio(_person("eve@elsewhere.example").tenant)
    page = outsider.get("/studio/teams/join", {"token": token})
    assert page.status_code == 200 and "Join Initech" in page.content.decode()
    assert "alice" not in page.content.decode().lower()  # a link never says who is in the team
    refused = outsider.post("/studio/teams/join", {"token": token})
    assert refused.status_code == 400 and "e-mail addresses at initech.example" in refused.content.decode()

    bob = _person("bob@initech.example")
    joined = _studio(bob.tenant).post("/studio/teams/join", {"token": token})
    assert joined.status_code == 302
    order = Order.objects.get(pk=joined["Location"].rsplit("/", 1)[1])
    assert order.tenant == bob.tenant and order.render_look["prompt"] == _team_look(admin, team_id)["prompt"]
    order_page = _studio(bob.tenant).get(f"/studio/orders/{order.id}").content.decode()
    assert f'data-team-id="{team_id}"' in order_page and "Share with Initech" in order_page
    own = bob.post("/v1/orders", {"package": "trial", "styles": ["tech-grey"]}, format="json").json()["id"]
    assert "Share with" not in _studio(bob.tenant).get(f"/studio/orders/{own}").content.decode()
    assert _studio(bob.tenant).get("/studio/teams/join", {"token": "nope"}).status_code == 404


def test_a_join_link_carries_through_sign_up_and_verification_back_to_the_join_page(
    admin, mailoutbox, django_capture_on_commit_callbacks
):
    """Someone new opens the link: sign-in offers to create an account, the verification e-mail's link confirms
    the address and opens the join page again, not the orders, so the person joins without the link a second time."""
    token = _link(admin, _team(admin)["id"])
    join = "/studio/teams/join?" + urlencode({"token": token})
    browser = Client()
    sign_in = browser.get(join)["Location"]
    sign_in_page = browser.get(sign_in).content.decode()
    sign_up = html.unescape(re.search(r'href="(/studio/signup\?[^"]+)"', sign_in_page).group(1))
    assert parse_qs(urlsplit(sign_up).query)["next"] == [join]
    page = browser.get(sign_up).content.decode()
    assert html.unescape(re.search(r'href="(/studio/signin\?[^"]+)"', page).group(1)) == sign_in  # and back
    with django_capture_on_commit_callbacks(execute=True):
        sent = browser.post(sign_up, {"name": "Carol", "email": "carol@initech.example", "password": PASSWORD})
    assert sent.status_code == 200 and "Check your e-mail" in sent.content.decode()
    link = link_in(mailoutbox[-1].body, "/studio/verify")
    assert parse_qs(urlsplit(link).query)["next"] == [join]
    confirm = browser.get(link.removeprefix("http://127.0.0.1:8000"))
    assert confirm.status_code == 200
    fields = dict(re.findall(r'<input type="hidden" name="(token|next)" value="([^"]*)"', confirm.content.decode()))
    verified = browser.post("/studio/verify", {k: html.unescape(v) for k, v in fields.items()})
    assert verified.status_code == 302 and verified["Location"] == join + "&verified=1"
    joined = browser.post("/studio/teams/join", {"token": token})
    assert joined.status_code == 302 and joined["Location"].startswith("/studio/orders/")

    # Only a page of the studio is ever a place to go on to: any other `next` is dropped on the way.
    with django_capture_on_commit_callbacks(execute=True):
        Client().post("/studio/signup?next=//evil.example/x", {"email": "dan@initech.example", "password": PASSWORD})
    assert "next" not in link_in(mailoutbox[-1].body, "/studio/verify")


def test_a_new_verification_link_asked_for_on_the_join_page_leads_back_to_it(
    admin, mailoutbox, django_capture_on_commit_callbacks
):
    """Someone who lost the first e-mail signs in and opens the link again: the join page says to verify and
    offers a new link, and that link verifies and opens the join page, not the orders."""
    token = _link(admin, _team(admin)["id"])
    join = "/studio/teams/join?" + urlencode({"token": token})
    browser = _studio(_person("dana@initech.example", verified=False).tenant)
    refused = browser.post("/studio/teams/join", {"token": token})
    assert refused.status_code == 400 and "verify your e-mail address first" in refused.content.decode()
    page = browser.get(join).content.decode()
    resend = re.search(r'<form method="post" action="/studio/verify/resend">(.*?)</form>', page, re.S)
    assert resend, "the join page offers a new verification link"
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', resend.group(1)))
    with django_capture_on_commit_callbacks(execute=True):
        sent = browser.post("/studio/verify/resend", {k: html.unescape(v) for k, v in fields.items()})
    assert sent.status_code == 200 and "Check your e-mail" in sent.content.decode()
    link = link_in(mailoutbox[-1].body, "/studio/verify")
    assert parse_qs(urlsplit(link).query)["next"] == [join]
    confirm = browser.get(link.removeprefix("http://127.0.0.1:8000")).content.decode()
    hidden = dict(re.findall(r'<input type="hidden" name="(token|next)" value="([^"]*)"', confirm))
    verified = browser.post("/studio/verify", {k: html.unescape(v) for k, v in hidden.items()})
    assert verified.status_code == 302 and verified["Location"] == join + "&verified=1"
    assert browser.post("/studio/teams/join", {"token": token}).status_code == 302


def _team_look(admin: APIClient, team_id: str) -> dict:
    return admin.get(f"/v1/teams/{team_id}").json()["look"]


def test_reminders_mail_the_members_who_have_not_started_at_most_once_an_hour(
    admin, mailoutbox, django_capture_on_commit_callbacks
):
    team_id = _team(admin, seats=3)["id"]
    token = _link(admin, team_id)
    waiting, started = _person("alice@initech.example"), _person("bob@initech.example")
    for person in (waiting, started):
        assert _join(person, token).status_code == 201
    complete_order(started.post(f"/v1/teams/{team_id}/order").json()["id"], n=1)
    with django_capture_on_commit_callbacks(execute=True):
        reminded = admin.post(f"/v1/teams/{team_id}/reminders")
    assert reminded.status_code == 202 and reminded.json() == {"reminded": 1}
    assert [m.to for m in mailoutbox] == [["alice@initech.example"]] and "Initech" in mailoutbox[0].subject
    again = admin.post(f"/v1/teams/{team_id}/reminders")
    assert again.status_code == 429 and _code(again) == "reminders_rate_limited" and int(again["Retry-After"]) > 0
    assert waiting.post(f"/v1/teams/{team_id}/reminders").status_code == 404  # the admin's alone


def test_the_team_retention_policy_deletes_a_members_whole_order_after_delivery_with_a_receipt(admin):
    team_id = _team(admin)["id"]
    assert admin.put(f"/v1/teams/{team_id}/retention", {"retention_hours": 36 * 24}, format="json").status_code == 400
    assert admin.put(f"/v1/teams/{team_id}/retention", {"retention_hours": 2}, format="json").status_code == 200
    member = _person("alice@initech.example")
    assert _join(member, _link(admin, team_id)).status_code == 201
    order_id = member.post(f"/v1/teams/{team_id}/order").json()["id"]
    complete_order(order_id, n=2)
    delivered = Order.objects.get(pk=order_id).completed_at
    assert team_services.enforce_retention(now=delivered + timedelta(hours=1)) == 0  # not due yet
    assert member.get(f"/v1/orders/{order_id}").json()["state"] == "completed"
    assert team_services.enforce_retention(now=delivered + timedelta(hours=2, seconds=1)) == 1
    assert member.get(f"/v1/orders/{order_id}").json()["state"] == "deleted"
    receipt = DeletionReceipt.objects.get(order_id=order_id)
    assert (receipt.reason, receipt.headshots_deleted, receipt.remaining_blobs) == ("team_policy", 2, 0)
    assert not blob_store().list(blob_layout.order_prefix(order_id))


def test_a_consumer_runs_a_team_from_the_studio_dashboard_and_members_cannot_open_it(db):
    lead = _person("lead@initech.example")
    browser = _studio(lead.tenant)
    created = browser.post("/studio/teams", {"name": "Initech", "seats": "3"})
    assert created.status_code == 302
    dashboard = created["Location"]
    team_id = dashboard.rsplit("/", 1)[1]
    look = browser.post(
        dashboard, {"action": "look", "style": "tech-grey", "backdrop_hex": "#112233", "attire": "grey blazer"}
    )
    assert look.status_code == 200 and "The team&#x27;s look is set." in look.content.decode()
    # The form shows the look as set, so saving it again (say, a new framing) keeps the rest.
    form = browser.get(dashboard).content.decode()
    assert 'value="#112233"' in form and 'value="grey blazer"' in form
    linked = browser.post(dashboard, {"action": "link", "max_uses": "3", "email_domain": "initech.example"})
    join_url = re.search(r"http\S+/studio/teams/join\?token=[\w-]+", linked.content.decode()).group()
    token = parse_qs(urlsplit(join_url).query)["token"][0]

    member = _person("alice@initech.example")
    assert _join(member, token).status_code == 201
    order_id = member.post(f"/v1/teams/{team_id}/order").json()["id"]
    complete_order(order_id, n=2)
    headshots = [h["id"] for h in member.get(f"/v1/orders/{order_id}/headshots").json()["results"]]
    member.post(f"/v1/teams/{team_id}/picks", {"headshot_ids": headshots[:1]}, format="json")

    page = browser.get(dashboard).content.decode()
    assert "alice@initech.example" in page and "picked" in page and headshots[1] not in page
    pick_id = re.search(rf"/v1/teams/{team_id}/picks/([\w-]+)\.png", page).group(1)
    assert browser.get(f"/v1/teams/{team_id}/picks/{pick_id}.png").status_code == 200  # the session reads the API
    assert browser.post(dashboard, {"action": "approved", "pick": pick_id}).status_code == 302
    archive = zipfile.ZipFile(io.BytesIO(b"".join(browser.get(f"/v1/teams/{team_id}/picks.zip").streaming_content)))
    assert len(archive.namelist()) == 2  # the approved headshot and manifest.csv

    assert _studio(member.tenant).get(dashboard).status_code == 404  # a member never opens the admin's page
    # Nor does the admin open a member's order page (selfies, every headshot, readiness) in the studio.
    assert browser.get(f"/studio/orders/{order_id}").status_code == 404
    assert order_id not in browser.get("/studio/orders").content.decode()
    # Removing asks first, saying what it deletes; then the page shows the deletion receipt.
    membership_id = re.search(r'name="remove" value="([\w-]+)"', page).group(1)
    asked = browser.get(dashboard, {"remove": membership_id}).content.decode()
    assert "Remove Alice from the team?" in asked and "cannot be undone" in asked
    assert Order.objects.get(pk=order_id).state == "completed"  # asking deletes nothing
    removed = browser.post(dashboard, {"action": "remove", "member": membership_id})
    assert removed.status_code == 200 and Order.objects.get(pk=order_id).state == "deleted"
    receipt = re.sub(r"<[^>]+>", " ", removed.content.decode())
    assert "Alice is removed from the team" in receipt and re.search(r"Headshots deleted\s+2\s", receipt)
    assert re.search(r"Files remaining\s+0\s", receipt) and "alice@initech.example" not in receipt
    assert browser.get(dashboard, {"remove": membership_id}).status_code == 400  # not a member any more
