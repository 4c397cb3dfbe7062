"""Who is asking: sessions and the signed-in person are read by raw queries (studio.accounts.sessions,
studio.accounts.backends) and must keep every rule of Django's own."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from studio.accounts.access import memberships_of
from studio.accounts.backends import ModelBackend
from studio.accounts.models import Membership, Role, Team
from tests.conftest import PASSWORD


def signed_in(user) -> Client:
    client = Client()
    assert client.post(reverse("login"), {"username": user.email, "password": PASSWORD}).status_code == 302
    return client


def test_signing_in_uses_the_studio_backend(alice):
    client = signed_in(alice)
    assert client.session[BACKEND_SESSION_KEY] == "studio.accounts.backends.ModelBackend"
    assert client.get(reverse("home")).status_code == 200


def test_an_expired_session_signs_out(alice):
    client = signed_in(alice)
    Session.objects.update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_signed_out_session_is_gone(alice):
    client = signed_in(alice)
    cookie = client.cookies["sessionid"].value
    client.post(reverse("logout"))
    stolen = Client()
    stolen.cookies["sessionid"] = cookie
    assert stolen.get(reverse("home")).status_code == 302


def test_a_deactivated_person_is_signed_out(alice):
    client = signed_in(alice)
    alice.is_active = False
    alice.save()
    assert client.get(reverse("home")).status_code == 302


def test_a_changed_password_signs_out_other_browsers(alice):
    client = signed_in(alice)
    alice.set_password("another long passphrase 7")
    alice.save()
    assert client.get(reverse("home")).status_code == 302


def test_the_backend_refuses_ids_that_are_not_ids(alice):
    backend = ModelBackend()
    assert backend.get_user(str(alice.pk)) == alice
    assert backend.get_user("1; DROP TABLE auth_user") is None
    assert backend.get_user("999999") is None


def test_memberships_come_with_their_teams_oldest_first(alice, team_a, team_b):
    later = Membership.objects.create(team=team_b, user=alice, role=Role.REVIEWER)
    memberships = memberships_of(alice.pk)
    assert [m.team for m in memberships] == [team_a, team_b]
    assert memberships[1] == later and isinstance(memberships[1].team, Team)
    assert memberships[0].team.gallery_version == Team.objects.get(pk=team_a.pk).gallery_version
    assert memberships_of(999999) == []
