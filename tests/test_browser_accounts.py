"""A new visitor signs up, lands in an empty studio and invites a reviewer."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from studio.accounts.models import Membership, Role
from tests.conftest import PASSWORD, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_land_in_the_empty_studio_and_invite_a_reviewer(new_page):
    owner = new_page()
    owner.goto("/")
    assert "/login/" in owner.url
    screenshot(owner, "accounts-sign-in")

    owner.get_by_role("link", name="Create an account").click()
    owner.get_by_label("Name").fill("Olivia Owens")
    owner.get_by_label("Email").fill("olivia@example.org")
    owner.get_by_label("Password").fill(PASSWORD)
    owner.get_by_role("button", name="Create account").click()

    owner.get_by_role("heading", name="Your studio is ready").wait_for()
    assert owner.get_by_text("Olivia's team").first.is_visible()
    screenshot(owner, "accounts-empty-studio")

    owner.get_by_label("Switch team").click()
    owner.get_by_role("link", name="Team settings").click()
    owner.get_by_label("Email", exact=True).fill("rex@example.org")
    owner.get_by_label("Role").select_option("reviewer")
    owner.get_by_role("button", name="Create invitation").click()
    link = owner.locator("#invite-link").input_value()
    assert "/invite/" in link
    screenshot(owner, "accounts-team-settings")

    guest = new_page()
    guest.goto(link)
    guest.get_by_role("link", name="Create an account and join").click()
    guest.get_by_label("Name").fill("Rex Reviewer")
    # The invitation's address, filled in and fixed: the link was mailed there.
    assert guest.get_by_label("Email").input_value() == "rex@example.org"
    guest.get_by_label("Password").fill(PASSWORD)
    guest.get_by_role("button", name="Create account").click()
    guest.get_by_text("Olivia's team").first.wait_for()

    rex = User.objects.get(email="rex@example.org")
    membership = Membership.objects.get(user=rex)
    assert membership.role == Role.REVIEWER
    assert membership.team.name == "Olivia's team"

    owner.reload()
    assert owner.locator("#members").get_by_text("Rex Reviewer").is_visible()


def test_mobile_layout_of_team_settings(new_page, alice, bob):
    from tests.conftest import sign_in

    page = new_page(viewport=(390, 844))
    sign_in(page, "alice@example.org")
    page.goto("/team/")
    page.get_by_role("heading", name="Members").wait_for()
    screenshot(page, "accounts-team-settings-mobile")
