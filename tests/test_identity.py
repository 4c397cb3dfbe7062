"""Who is asking: Django's own sessions and ModelBackend (behind django-axes), and the
person's memberships read with their teams in one query."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from studio.accounts.access import memberships_of
from studio.accounts.models import Membership, Role, Team
from tests.conftest import PASSWORD


def signed_in(user) -> Client:
    client = Client()
    assert client.post(reverse("login"), {"username": user.email, "password": PASSWORD}).status_code == 302
    return client


def test_signing_in_uses_django_s_backend(alice):
    client = signed_in(alice)
    assert client.session[BACKEND_SESSION_KEY] == "django.contrib.auth.backends.ModelBackend"
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


def test_memberships_come_with_their_teams_oldest_first(alice, team_a, team_b, django_assert_num_queries):
    later = Membership.objects.create(team=team_b, user=alice, role=Role.REVIEWER)
    with django_assert_num_queries(1):
        memberships = memberships_of(alice.pk)
        names = [m.team.name for m in memberships]
    assert names == [team_a.name, team_b.name]
    assert [m.team for m in memberships] == [team_a, team_b]
    assert memberships[1] == later and isinstance(memberships[1].team, Team)
    assert memberships_of(999999) == []
