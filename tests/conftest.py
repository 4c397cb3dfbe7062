"""The shared base: three people, healthchecks-style.

alice owns team A, bob is a reviewer in team A, charlie belongs to team B.
Every test that needs them asks for the fixture by name.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from studio.accounts.models import Membership, Role, Team

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Each test writes media into its own folder and reads static files as they are."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.AXES_ENABLED = True


def make_user(email: str, name: str) -> User:
    first, _, last = name.partition(" ")
    return User.objects.create_user(email, email, PASSWORD, first_name=first, last_name=last)


@pytest.fixture
def team_a(db) -> Team:
    return Team.objects.create(name="Team A")


@pytest.fixture
def team_b(db) -> Team:
    return Team.objects.create(name="Team B")


@pytest.fixture
def alice(team_a) -> User:
    user = make_user("alice@example.org", "Alice Adams")
    Membership.objects.create(team=team_a, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def bob(team_a) -> User:
    user = make_user("bob@example.org", "Bob Brown")
    Membership.objects.create(team=team_a, user=user, role=Role.REVIEWER)
    return user


@pytest.fixture
def charlie(team_b) -> User:
    user = make_user("charlie@example.org", "Charlie Chen")
    Membership.objects.create(team=team_b, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


@pytest.fixture
def charlie_client(client, charlie):
    client.force_login(charlie)
    return client
