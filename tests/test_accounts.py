from __future__ import annotations

from datetime import timedelta

import pytest
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


# Invitations and roles


def test_owner_invites_and_the_link_is_shown(alice_client, team_a):
    response = alice_client.post("/team/invitations/", {"role": "reviewer", "email": ""})
    invitation = Invitation.objects.get(team=team_a)
    assert invitation.role == Role.REVIEWER
    assert response.status_code == 302
    page = alice_client.get(response.url)
    assert f"/invite/{invitation.token}/" in page.content.decode()


def test_invitation_with_an_email_sends_the_link(alice_client, team_a):
    alice_client.post("/team/invitations/", {"role": "creator", "email": "new@example.org"})
    invitation = Invitation.objects.get(team=team_a)
    assert len(mail.outbox) == 1
    assert f"/invite/{invitation.token}/" in mail.outbox[0].body


def test_a_new_person_signs_up_from_an_invitation_and_joins_as_reviewer(client, team_a, alice):
    invitation = Invitation.objects.create(team=team_a, role=Role.REVIEWER, invited_by=alice)
    page = client.get(f"/invite/{invitation.token}/")
    assert "Join Team A" in page.content.decode()
    client.post(
        f"/signup/?invite={invitation.token}",
        {"name": "Rita Reed", "email": "rita@example.org", "password": PASSWORD},
    )
    rita = User.objects.get(email="rita@example.org")
    assert list(rita.memberships.values_list("team__name", "role")) == [("Team A", "reviewer")]
    invitation.refresh_from_db()
    assert invitation.accepted_by == rita
    assert client.get("/").context["team"] == team_a


def test_an_existing_person_joins_from_an_invitation_and_switches_to_it(
    charlie_client, charlie, team_a, alice
):
    invitation = Invitation.objects.create(team=team_a, role=Role.CREATOR, invited_by=alice)
    response = charlie_client.post(f"/invite/{invitation.token}/")
    assert response.status_code == 302
    assert Membership.objects.get(user=charlie, team=team_a).role == Role.CREATOR
    assert charlie_client.get("/").context["team"] == team_a


@pytest.mark.parametrize("state", ["expired", "revoked", "accepted"])
def test_an_unusable_invitation_says_why_and_adds_nobody(charlie_client, charlie, team_a, alice, state):
    invitation = Invitation.objects.create(team=team_a, role=Role.ADMIN, invited_by=alice)
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
    invitation = Invitation.objects.create(team=team_a, invited_by=alice)
    alice_client.post(f"/team/invitations/{invitation.token}/revoke/")
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
    invitation = Invitation.objects.create(team=team_a, invited_by=alice)
    assert charlie_client.post(f"/team/members/{bob_membership.code}/remove/").status_code == 404
    assert (
        charlie_client.post(f"/team/members/{bob_membership.code}/role/", {"role": "owner"}).status_code
        == 404
    )
    assert charlie_client.post(f"/team/invitations/{invitation.token}/revoke/").status_code == 404
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
