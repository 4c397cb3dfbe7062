"""A team's EvoLink key: set, test, replace, remove; encrypted at rest; never shown again."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.urls import reverse

from studio.accounts.models import Team
from studio.lib import crypto
from studio.videos import keys
from studio.videos.evolink import EvolinkError

KEY = "sk-team-a-SECRET-0123456789abcd"
OTHER_KEY = "sk-team-a-NEWER-zyxwvutsrq9876"
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def real_provider(settings, demo_provider):
    """The studio talks to the demo provider as if it were EvoLink itself (not demo mode)."""
    settings.EVOLINK_API_KEY = ""
    settings.EVOLINK_BASE_URL = demo_provider.base_url
    settings.STUDIO_DEMO_PROVIDER_PORT = 9  # nothing there: demo mode must not be used
    return demo_provider


@pytest.fixture(autouse=True)
def _no_shared_key(settings):
    settings.EVOLINK_API_KEY = ""
    settings.STUDIO_ENCRYPTION_KEYS = []


def save(client, key: str, team: Team | None = None, **extra):
    data = {"key": key}
    if team is not None:
        data["team"] = str(team.code)
    return client.post(reverse("team_key_save"), data, **extra)


# --- Owners and admins manage the key ----------------------------------------------


def test_the_owner_saves_a_key_that_is_stored_encrypted(alice_client, team_a):
    response = save(alice_client, KEY, team_a)

    assert response.status_code == 302
    assert response.url == reverse("team_settings")
    team_a.refresh_from_db()
    assert team_a.api_key_encrypted and KEY not in team_a.api_key_encrypted
    assert crypto.decrypt(team_a.api_key_encrypted) == KEY
    assert team_a.api_key_last4 == "abcd"
    assert team_a.api_key_set_at is not None
    assert keys.team_api_key(team_a) == KEY


def test_an_htmx_save_answers_the_fragment_showing_only_the_last_four(alice_client, team_a):
    response = save(alice_client, KEY, team_a, **HX)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="team-key"' in html
    assert "••••abcd" in html
    assert "EvoLink key saved" in html
    assert KEY not in html and KEY[:-4] not in html


def test_the_key_is_never_rendered_back_on_the_settings_page(alice_client, team_a):
    keys.set_team_key(team_a, KEY)

    response = alice_client.get(reverse("team_settings"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "••••abcd" in html
    assert KEY not in html
    assert response.context["demo_mode"] is False


def test_the_settings_page_shows_demo_mode_without_any_key(alice_client):
    response = alice_client.get(reverse("team_settings"))
    assert response.context["demo_mode"] is True


def test_the_owner_replaces_the_key(alice_client, team_a):
    keys.set_team_key(team_a, KEY)

    response = save(alice_client, OTHER_KEY, team_a, **HX)

    assert "EvoLink key replaced" in response.content.decode()
    team_a.refresh_from_db()
    assert keys.team_api_key(team_a) == OTHER_KEY
    assert team_a.api_key_last4 == "9876"


def test_the_owner_removes_the_key(alice_client, team_a):
    keys.set_team_key(team_a, KEY)

    response = alice_client.post(reverse("team_key_remove"), {"team": str(team_a.code)})

    assert response.status_code == 302
    team_a.refresh_from_db()
    assert (team_a.api_key_encrypted, team_a.api_key_last4, team_a.api_key_set_at) == ("", "", None)
    assert keys.is_demo_mode(team_a)


def test_an_admin_may_manage_the_key(client, team_a, alice):
    from studio.accounts.models import Membership, Role
    from tests.conftest import make_user

    dana = make_user("dana@example.org", "Dana Diaz")
    Membership.objects.create(team=team_a, user=dana, role=Role.ADMIN)
    client.force_login(dana)

    assert save(client, KEY, team_a).status_code == 302
    team_a.refresh_from_db()
    assert team_a.api_key_last4 == "abcd"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Paste the API key"),
        ("short", "does not look like an API key"),
        ("sk-has a space-123", "does not look like an API key"),
    ],
)
def test_a_bad_value_is_explained_next_to_the_field(alice_client, team_a, value, message):
    for extra in (HX, {}):
        response = save(alice_client, value, team_a, **extra)
        html = response.content.decode()
        assert response.status_code == (200 if extra else 400)
        assert 'class="errorlist" id="team-key-errors"' in html
        assert message in html
    team_a.refresh_from_db()
    assert team_a.api_key_encrypted == ""


def test_a_pasted_bearer_prefix_is_dropped(alice_client, team_a):
    save(alice_client, f"Bearer {KEY}", team_a)
    team_a.refresh_from_db()
    assert keys.team_api_key(team_a) == KEY


@pytest.mark.parametrize("name", ["team_key_save", "team_key_remove", "team_key_test"])
def test_the_key_views_only_take_posts(alice_client, name):
    assert alice_client.get(reverse(name)).status_code == 405


# --- Testing the key against the provider ------------------------------------------------


def test_testing_a_working_key_says_so(alice_client, team_a, real_provider):
    keys.set_team_key(team_a, KEY)

    response = alice_client.post(reverse("team_key_test"), {"team": str(team_a.code)}, **HX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "It works" in html and "••••abcd" in html
    assert KEY not in html
    assert real_provider.server.tasks == {}  # the test creates nothing, so costs nothing


def test_testing_a_refused_key_says_what_the_provider_said(alice_client, team_a, real_provider):
    keys.set_team_key(team_a, "sk-revoked")

    response = alice_client.post(reverse("team_key_test"), {"team": str(team_a.code)}, **HX)

    html = response.content.decode()
    assert "EvoLink refused" in html
    assert "invalid or has been revoked" in html  # the provider's own words
    assert "flash-error" in html


def test_testing_without_htmx_redirects_with_a_message(alice_client, team_a, real_provider):
    keys.set_team_key(team_a, KEY)
    response = alice_client.post(reverse("team_key_test"), {"team": str(team_a.code)}, follow=True)
    assert "It works" in response.content.decode()


def test_testing_an_unreachable_provider_says_so(alice_client, team_a, settings):
    settings.EVOLINK_BASE_URL = "http://127.0.0.1:9"
    keys.set_team_key(team_a, KEY)

    response = alice_client.post(reverse("team_key_test"), {"team": str(team_a.code)}, **HX)

    assert "Could not reach EvoLink" in response.content.decode()


def test_the_key_never_reaches_the_logs(alice_client, team_a, real_provider, caplog):
    caplog.set_level(logging.DEBUG)
    save(alice_client, KEY, team_a)
    alice_client.post(reverse("team_key_test"), {"team": str(team_a.code)}, **HX)
    assert caplog.records
    assert KEY not in caplog.text


# --- Who may do it ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["team_key_save", "team_key_remove", "team_key_test"])
def test_a_reviewer_gets_403(bob_client, team_a, name):
    keys.set_team_key(team_a, KEY)
    response = bob_client.post(reverse(name), {"key": OTHER_KEY, "team": str(team_a.code)})
    assert response.status_code == 403
    team_a.refresh_from_db()
    assert keys.team_api_key(team_a) == KEY


@pytest.mark.parametrize("name", ["team_key_save", "team_key_remove", "team_key_test"])
def test_another_teams_owner_gets_404_for_team_a(charlie_client, team_a, name):
    keys.set_team_key(team_a, KEY)
    response = charlie_client.post(reverse(name), {"key": OTHER_KEY, "team": str(team_a.code)})
    assert response.status_code == 404
    team_a.refresh_from_db()
    assert keys.team_api_key(team_a) == KEY


def test_another_teams_owner_only_ever_changes_their_own_team(charlie_client, team_a, team_b):
    keys.set_team_key(team_a, KEY)

    save(charlie_client, OTHER_KEY)
    charlie_client.post(reverse("team_key_remove"))

    team_a.refresh_from_db()
    assert keys.team_api_key(team_a) == KEY
    team_b.refresh_from_db()
    assert team_b.api_key_encrypted == ""


@pytest.mark.parametrize("name", ["team_key_save", "team_key_remove", "team_key_test"])
def test_signed_out_people_are_sent_to_sign_in(client, team_a, name):
    response = client.post(reverse(name), {"key": KEY})
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


# --- Encryption at rest and rotation --------------------------------------------------------


def test_keys_rotate_old_keys_still_decrypt_and_rotatekeys_reencrypts(settings, team_a):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.STUDIO_ENCRYPTION_KEYS = [old]
    keys.set_team_key(team_a, KEY)
    stored = Team.objects.get(pk=team_a.pk).api_key_encrypted
    assert Fernet(old.encode()).decrypt(stored.encode()).decode() == KEY

    settings.STUDIO_ENCRYPTION_KEYS = [new, old]  # a new key in front; the old one still decrypts
    assert keys.team_api_key(Team.objects.get(pk=team_a.pk)) == KEY

    call_command("rotatekeys")

    rotated = Team.objects.get(pk=team_a.pk)
    assert rotated.api_key_encrypted != stored
    assert Fernet(new.encode()).decrypt(rotated.api_key_encrypted.encode()).decode() == KEY
    settings.STUDIO_ENCRYPTION_KEYS = [new]  # the old key can now be retired
    assert keys.team_api_key(rotated) == KEY


def test_without_encryption_keys_a_key_derived_from_the_secret_key_is_used(settings, team_a):
    keys.set_team_key(team_a, KEY)
    stored = Team.objects.get(pk=team_a.pk).api_key_encrypted
    assert Fernet(crypto.derived_key(settings.SECRET_KEY)).decrypt(stored.encode()).decode() == KEY

    # Adding STUDIO_ENCRYPTION_KEYS later keeps what was stored readable until rotated.
    settings.STUDIO_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    assert keys.team_api_key(Team.objects.get(pk=team_a.pk)) == KEY
    assert keys.rotate_keys() == (1, 0)


def test_an_unreadable_stored_key_fails_loudly_and_does_not_fall_back(settings, team_a):
    settings.STUDIO_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    keys.set_team_key(team_a, KEY)
    settings.STUDIO_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    settings.SECRET_KEY = "a-different-secret-key-for-this-test"
    settings.EVOLINK_API_KEY = "sk-shared-deployment-key"

    with pytest.raises(EvolinkError) as caught:
        keys.team_api_key(Team.objects.get(pk=team_a.pk))
    assert caught.value.permanent and "enter it again" in caught.value.user_message
    with pytest.raises(CommandError):
        call_command("rotatekeys")


def test_a_bad_encryption_key_setting_is_reported_without_printing_it(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.STUDIO_ENCRYPTION_KEYS = ["not-a-fernet-key-at-all"]
    with pytest.raises(ImproperlyConfigured) as caught:
        crypto.encrypt("x")
    assert "not-a-fernet-key-at-all" not in str(caught.value)


# --- Which provider a team uses ---------------------------------------------------------


def test_demo_mode_is_when_nobody_has_a_key(settings, team_a):
    assert keys.is_demo_mode() and keys.is_demo_mode(team_a)
    assert keys.private_results_allowed(team_a)
    with keys.client_for_team(team_a) as client:
        assert client.base_url == f"http://127.0.0.1:{settings.STUDIO_DEMO_PROVIDER_PORT}"

    keys.set_team_key(team_a, KEY)
    assert not keys.is_demo_mode(team_a)
    assert keys.is_demo_mode()  # other teams, without a key, still are
    assert not keys.private_results_allowed(team_a)
    with keys.client_for_team(team_a) as client:
        assert client.base_url == settings.EVOLINK_BASE_URL


def test_a_deployment_key_ends_demo_mode_and_a_team_key_wins(settings, team_a, team_b):
    settings.EVOLINK_API_KEY = "sk-shared-deployment-key"
    keys.set_team_key(team_a, KEY)

    assert not keys.is_demo_mode() and not keys.is_demo_mode(team_b)
    assert keys.team_api_key(team_a) == KEY
    assert keys.team_api_key(team_b) == "sk-shared-deployment-key"
    settings.STUDIO_ALLOW_PRIVATE_RESULT_URLS = True
    assert keys.private_results_allowed(team_b)


def test_the_demo_client_reaches_the_demo_provider(studio_on_demo_provider, team_a):
    with keys.client_for_team(team_a) as client:
        task = client.create_task(prompt="A kite over a beach", duration=3)
    assert list(studio_on_demo_provider.server.tasks) == [task.id]


def test_accounts_imports_nothing_from_videos():
    """One import direction: videos builds on accounts, never the other way round."""
    root = Path(__file__).resolve().parent.parent / "studio" / "accounts"
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            found += [f"{path.relative_to(root)}: {n}" for n in names if n.startswith("studio.videos")]
    assert root.is_dir() and not found
