from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from studio.accounts.models import Invitation, Membership, Role, Team
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


# Sign-up, sign-in, sign-out


def test_signup_creates_a_team_the_new_person_owns(client):
    response = client.post(
        "/signup/", {"name": "Dana Diaz", "email": "Dana@Example.org", "password": PASSWORD}, follow=True
    )
    assert response.status_code == 200
    user = User.objects.get(email="dana@example.org")
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert membership.team.name == "Dana's team"
    assert response.context["user"] == user
    assert b"Dana&#x27;s team" in response.content


def test_signup_with_a_taken_address_says_so_and_keeps_the_input(client, alice):
    response = client.post("/signup/", {"name": "Al", "email": "alice@example.org", "password": PASSWORD})
    assert response.status_code == 200
    assert "already an account" in response.content.decode()
    assert 'value="Al"' in response.content.decode()
    assert User.objects.filter(email="alice@example.org").count() == 1


def test_signup_rejects_a_weak_password(client):
    response = client.post("/signup/", {"name": "Eve", "email": "eve@example.org", "password": "password"})
    assert response.status_code == 200
    assert "too common" in response.content.decode()
    assert not User.objects.filter(email="eve@example.org").exists()


def test_sign_in_with_email_and_sign_out(client, alice):
    response = client.post("/login/", {"username": "ALICE@example.org", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.get("/").status_code == 200
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/").url.startswith("/login/")


def test_signed_out_visitors_go_to_sign_in(client):
    for path in ["/", "/team/", "/teams/new/"]:
        response = client.get(path)
        assert response.status_code == 302
        assert response.url.startswith("/login/?next=")


def test_password_change(alice_client, alice):
    response = alice_client.post(
        "/password/change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a much better secret 42",
            "new_password2": "a much better secret 42",
        },
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a much better secret 42")


def test_password_reset_sends_an_email_with_a_working_link(client, alice):
    client.post("/password/reset/", {"email": "alice@example.org"})
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/password/reset/" in line)
    path = link.split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path, follow=True)
    assert response.status_code == 200
    form_path = response.redirect_chain[-1][0]
    response = client.post(
        form_path, {"new_password1": "brand new secret 42", "new_password2": "brand new secret 42"}
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("brand new secret 42")


# Throttling


def _fail_sign_in(client, username="alice@example.org", address="10.0.0.1"):
    return client.post("/login/", {"username": username, "password": "wrong"}, REMOTE_ADDR=address)


def test_sign_in_locks_after_five_failures_with_a_clear_message(client, alice):
    for _ in range(4):
        assert _fail_sign_in(client).status_code == 200
    response = _fail_sign_in(client)
    assert response.status_code == 429
    assert "paused for 15 minutes" in response.content.decode()
    # Even the right password is refused while locked.
    response = client.post(
        "/login/", {"username": "alice@example.org", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1"
    )
    assert response.status_code == 429


def test_a_lockout_does_not_block_others_at_the_same_address(client, alice, charlie):
    for _ in range(5):
        _fail_sign_in(client)
    response = client.post(
        "/login/", {"username": "charlie@example.org", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1"
    )
    assert response.status_code == 302


def test_a_lockout_does_not_block_the_same_person_elsewhere(client, alice):
    for _ in range(5):
        _fail_sign_in(client)
    response = client.post(
        "/login/", {"username": "alice@example.org", "password": PASSWORD}, REMOTE_ADDR="10.0.0.2"
    )
    assert response.status_code == 302


def test_success_resets_the_failure_count(client, alice):
    for _ in range(4):
        _fail_sign_in(client)
    assert (
        client.post(
            "/login/", {"username": "alice@example.org", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1"
        ).status_code
        == 302
    )
    client.post("/logout/")
    for _ in range(4):
        assert _fail_sign_in(client).status_code == 200


def _sign_in(client, username="alice@example.org", address="10.0.0.1"):
    return client.post("/login/", {"username": username, "password": PASSWORD}, REMOTE_ADDR=address)


def test_guessing_spread_over_many_addresses_throttles_the_account_until_the_cool_off(
    client, settings, alice, charlie
):
    settings.STUDIO_LOGIN_ACCOUNT_FAILURE_LIMIT = 12
    # Three failures from each of four addresses: under the per-address limit every time.
    for n in range(12):
        assert _fail_sign_in(client, address=f"10.0.{n % 4}.9").status_code in (200, 429)
    # The account is throttled from anywhere, even with the right password...
    assert _sign_in(client, address="10.9.9.9").status_code == 429
    assert _fail_sign_in(client, address="10.8.8.8").status_code == 429
    # ...while other accounts are not, from the same addresses.
    assert _sign_in(client, "charlie@example.org", "10.0.1.9").status_code == 302
    client.post("/logout/")
    # Once the cool-off has passed since the failures, alice signs in.
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert _sign_in(client, address="10.9.9.9").status_code == 302


def test_failures_below_the_account_limit_do_not_throttle_it(client, settings, alice):
    settings.STUDIO_LOGIN_ACCOUNT_FAILURE_LIMIT = 12
    for n in range(11):
        assert _fail_sign_in(client, address=f"10.0.{n % 4}.9").status_code == 200
    assert _sign_in(client, address="10.9.9.9").status_code == 302


@pytest.mark.parametrize(("minutes", "said"), [(1, "1 minute"), (40, "40 minutes"), (120, "2 hours")])
def test_the_lockout_message_says_the_configured_duration(client, settings, alice, minutes, said):
    settings.AXES_COOLOFF_TIME = timedelta(minutes=minutes)
    for _ in range(5):
        response = _fail_sign_in(client)
    assert response.status_code == 429
    assert f"paused for {said}." in response.content.decode()


# The database's limits are the forms' limits


@pytest.mark.parametrize("length", [151, 254, 320])
def test_signup_with_an_address_longer_than_a_user_name_is_explained(client, db, length):
    email = "d" * (length - len("@example.org")) + "@example.org"
    response = client.post("/signup/", {"name": "Dora", "email": email, "password": PASSWORD})
    assert response.status_code == 200
    assert "at most 150 characters" in response.content.decode() or "valid email" in response.content.decode()
    assert not User.objects.exists()


@pytest.mark.parametrize("length", [151, 256, 320])
def test_signing_in_with_an_overlong_address_is_explained(client, alice, length):
    email = "d" * (length - len("@example.org")) + "@example.org"
    response = client.post("/login/", {"username": email, "password": "wrong"})
    assert response.status_code == 200
    assert "at most 150 characters" in response.content.decode() or "valid email" in response.content.decode()


@pytest.mark.parametrize("length", [151, 255, 320])
def test_an_invitation_to_an_overlong_address_is_explained(alice_client, team_a, length):
    email = "d" * (length - len("@example.org")) + "@example.org"
    response = alice_client.post("/team/invitations/", {"role": "creator", "email": email})
    assert response.status_code == 400
    assert "at most 150 characters" in response.content.decode() or "valid email" in response.content.decode()
    assert not Invitation.objects.exists()


# Response headers


def test_signed_in_pages_are_not_stored_and_every_response_has_a_permissions_policy(client, alice):
    signed_out = client.get("/signup/")
    assert "Cache-Control" not in signed_out  # a public page may be kept
    client.force_login(alice)
    for path in ("/", "/team/", "/compose/"):
        response = client.get(path)
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
    for response in (signed_out, client.get("/static/css/studio.css"), client.get("/no-such-page/")):
        policy = response["Permissions-Policy"]
        assert "camera=()" in policy and "microphone=()" in policy and "geolocation=()" in policy
        assert "autoplay=(self)" in policy and "fullscreen=(self)" in policy


# Invitations and roles


def _invite(team: Team, by: User, email: str, role: str = Role.CREATOR) -> Invitation:
    return Invitation.issue(team=team, role=role, invited_by=by, email=email)


def _link_token(text: str) -> str:
    return re.search(r"/invite/([A-Za-z0-9_-]+)/", text).group(1)


def test_owner_invites_an_address_and_the_link_is_shown_and_mailed(alice_client, team_a):
    response = alice_client.post("/team/invitations/", {"role": "reviewer", "email": "Rita@Example.org"})
    invitation = Invitation.objects.get(team=team_a)
    assert invitation.role == Role.REVIEWER
    assert invitation.email == "rita@example.org"
    assert response.status_code == 302
    page = alice_client.get(response.url).content.decode()
    token = _link_token(page)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["rita@example.org"]
    assert f"/invite/{token}/" in mail.outbox[0].body
    assert Invitation.find(Invitation.objects.all(), token) == invitation


def test_an_invitation_needs_an_address(alice_client, team_a):
    response = alice_client.post("/team/invitations/", {"role": "creator", "email": ""})
    assert response.status_code == 400
    assert "Enter the address of the person you invite" in response.content.decode()
    assert not Invitation.objects.exists()


def test_the_database_keeps_only_a_hash_of_the_invitation_token(alice_client, team_a):
    alice_client.post("/team/invitations/", {"role": "admin", "email": "erin@example.org"})
    token = _link_token(mail.outbox[0].body)
    invitation = Invitation.objects.get(team=team_a)
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    row = Invitation.objects.filter(pk=invitation.pk).values().get()
    assert not any(token in str(value) for value in row.values())


def test_mallory_cannot_accept_erins_invitation(client, team_a, alice):
    invitation = _invite(team_a, alice, "erin@example.org", Role.ADMIN)
    mallory = make_user("mallory@example.org", "Mallory Mole")
    client.force_login(mallory)
    page = client.get(f"/invite/{invitation.token}/").content.decode()
    assert "This invitation is for <strong>erin@example.org</strong>" in page
    assert "Sign out, then sign in or sign up as erin@example.org" in page
    response = client.post(f"/invite/{invitation.token}/", follow=True)
    assert "This invitation is for erin@example.org" in response.content.decode()
    assert not Membership.objects.filter(user=mallory, team=team_a).exists()
    invitation.refresh_from_db()
    assert invitation.state == "open"
    # Nor by signing up with another address through the link.
    client.post("/logout/")
    response = client.post(
        f"/signup/?invite={invitation.token}",
        {"name": "Mallory Two", "email": "mallory2@example.org", "password": PASSWORD},
    )
    assert "This invitation is for erin@example.org" in response.content.decode()
    assert not User.objects.filter(email="mallory2@example.org").exists()


def test_erin_accepts_her_invitation_whatever_the_case_of_her_address(client, team_a, alice):
    invitation = _invite(team_a, alice, "erin@example.org", Role.ADMIN)
    erin = make_user("Erin@Example.org", "Erin Eide")
    client.force_login(erin)
    response = client.post(f"/invite/{invitation.token}/")
    assert response.status_code == 302
    assert Membership.objects.get(user=erin, team=team_a).role == Role.ADMIN


def test_signing_out_from_the_wrong_account_comes_back_to_the_invitation(client, team_a, alice):
    invitation = _invite(team_a, alice, "erin@example.org")
    client.force_login(make_user("mallory@example.org", "Mallory Mole"))
    response = client.post("/logout/", {"next": f"/invite/{invitation.token}/"})
    assert response.url == f"/invite/{invitation.token}/"
    page = client.get(response.url).content.decode()
    assert f"/signup/?invite={invitation.token}" in page


def test_the_signup_from_an_invitation_is_prefilled_with_the_invited_address(client, team_a, alice):
    invitation = _invite(team_a, alice, "rita@example.org")
    page = client.get(f"/signup/?invite={invitation.token}").content.decode()
    assert 'value="rita@example.org"' in page and "readonly" in page


def test_a_new_person_signs_up_from_an_invitation_and_joins_as_reviewer(client, team_a, alice):
    invitation = _invite(team_a, alice, "rita@example.org", Role.REVIEWER)
    page = client.get(f"/invite/{invitation.token}/")
    assert "Join Team A" in page.content.decode()
    welcome = client.post(
        f"/signup/?invite={invitation.token}",
        {"name": "Rita Reed", "email": "Rita@example.org", "password": PASSWORD},
        follow=True,
    )
    # The welcome says which role she has, so that a reviewer is not left wondering why she cannot generate.
    assert "You joined Team A as reviewer." in welcome.content.decode()
    rita = User.objects.get(email="rita@example.org")
    assert list(rita.memberships.values_list("team__name", "role")) == [("Team A", "reviewer")]
    invitation.refresh_from_db()
    assert invitation.accepted_by == rita
    assert client.get("/").context["team"] == team_a


def test_an_existing_person_joins_from_an_invitation_and_switches_to_it(
    charlie_client, charlie, team_a, alice
):
    invitation = _invite(team_a, alice, "charlie@example.org")
    response = charlie_client.post(f"/invite/{invitation.token}/")
    assert response.status_code == 302
    assert Membership.objects.get(user=charlie, team=team_a).role == Role.CREATOR
    assert charlie_client.get("/").context["team"] == team_a


@pytest.mark.parametrize("state", ["expired", "revoked", "accepted"])
def test_an_unusable_invitation_says_why_and_adds_nobody(charlie_client, charlie, team_a, alice, state):
    invitation = _invite(team_a, alice, "charlie@example.org", Role.ADMIN)
    if state == "expired":
        invitation.expires = timezone.now() - timedelta(minutes=1)
    elif state == "revoked":
        invitation.revoked = timezone.now()
    else:
        invitation.accepted = timezone.now()
    invitation.save()
    response = charlie_client.post(f"/invite/{invitation.token}/", follow=True)
    assert f"is {state}" in response.content.decode()
    assert not Membership.objects.filter(user=charlie, team=team_a).exists()


def test_an_unknown_invitation_is_404(client, db):
    assert client.get("/invite/nope/").status_code == 404


def test_reviewers_cannot_manage_the_team(bob_client, team_a, alice):
    membership = Membership.objects.get(user=alice)
    assert bob_client.post("/team/invitations/", {"role": "creator"}).status_code == 403
    assert bob_client.post(f"/team/members/{membership.code}/remove/").status_code == 403
    assert bob_client.post(f"/team/members/{membership.code}/role/", {"role": "reviewer"}).status_code == 403
    assert bob_client.post("/team/rename/", {"name": "Mine now"}).status_code == 403
    team_a.refresh_from_db()
    assert team_a.name == "Team A"
    # Reviewers still see who is in the team.
    page = bob_client.get("/team/")
    assert page.status_code == 200
    assert "alice@example.org" in page.content.decode()
    assert "Create invitation" not in page.content.decode()


def test_owner_changes_a_role_and_removes_a_member(alice_client, bob, team_a):
    membership = Membership.objects.get(user=bob)
    alice_client.post(f"/team/members/{membership.code}/role/", {"role": "creator"})
    membership.refresh_from_db()
    assert membership.role == Role.CREATOR
    alice_client.post(f"/team/members/{membership.code}/remove/")
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_a_team_keeps_at_least_one_owner(alice_client, alice, team_a):
    membership = Membership.objects.get(user=alice)
    response = alice_client.post("/team/leave/", follow=True)
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_admins_cannot_make_owners(client, team_a, alice, bob):
    admin = make_user("ada@example.org", "Ada Admin")
    Membership.objects.create(team=team_a, user=admin, role=Role.ADMIN)
    client.force_login(admin)
    bob_membership = Membership.objects.get(user=bob)
    response = client.post(f"/team/members/{bob_membership.code}/role/", {"role": "owner"}, follow=True)
    assert "Only an owner" in response.content.decode()
    bob_membership.refresh_from_db()
    assert bob_membership.role == Role.REVIEWER
    alice_membership = Membership.objects.get(user=alice)
    client.post(f"/team/members/{alice_membership.code}/remove/")
    assert Membership.objects.filter(pk=alice_membership.pk).exists()


def test_owners_revoke_invitations(alice_client, team_a, alice):
    invitation = _invite(team_a, alice, "dan@example.org")
    alice_client.post(f"/team/invitations/{invitation.code}/revoke/")
    invitation.refresh_from_db()
    assert invitation.state == "revoked"


def test_team_management_is_post_only(alice_client):
    assert alice_client.get("/team/invitations/").status_code == 405
    assert alice_client.get("/team/leave/").status_code == 405


# Teams: several per person, switching, and outsiders


def test_a_person_in_two_teams_switches_between_them(alice_client, alice, team_a, team_b):
    Membership.objects.create(team=team_b, user=alice, role=Role.REVIEWER)
    assert alice_client.get("/").context["team"] == team_a
    alice_client.post("/team/switch/", {"team": str(team_b.code)})
    assert alice_client.get("/").context["team"] == team_b


def test_switching_to_a_team_you_are_not_in_is_404(alice_client, team_b):
    assert alice_client.post("/team/switch/", {"team": str(team_b.code)}).status_code == 404
    assert alice_client.post("/team/switch/", {"team": "not-a-uuid"}).status_code == 404


def test_outsiders_get_404_for_another_teams_objects(charlie_client, team_a, alice, bob):
    bob_membership = Membership.objects.get(user=bob)
    invitation = _invite(team_a, alice, "dan@example.org")
    assert charlie_client.post(f"/team/members/{bob_membership.code}/remove/").status_code == 404
    assert (
        charlie_client.post(f"/team/members/{bob_membership.code}/role/", {"role": "owner"}).status_code
        == 404
    )
    assert charlie_client.post(f"/team/invitations/{invitation.code}/revoke/").status_code == 404
    assert Membership.objects.filter(pk=bob_membership.pk).exists()
    invitation.refresh_from_db()
    assert invitation.state == "open"


def test_someone_with_no_team_is_asked_to_create_one(client, db):
    loner = make_user("lone@example.org", "Lone Wolf")
    client.force_login(loner)
    response = client.get("/")
    assert response.url == "/teams/new/"
    client.post("/teams/new/", {"name": "Wolf Pack"})
    assert Team.objects.get(name="Wolf Pack").memberships.get().user == loner
    assert client.get("/").context["team"].name == "Wolf Pack"
