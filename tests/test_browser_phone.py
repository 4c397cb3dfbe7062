"""Every page fits a 390 px phone with the name a team gets at sign-up ("Olive's team")."""

from __future__ import annotations

import pytest

from studio.accounts.models import Team
from tests.conftest import screenshot, sign_in
from tests.factories import make_generation, make_ready_generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = (390, 844)


def assert_fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    # The logo stays: the top bar does not squeeze it away to make room.
    assert page.evaluate("document.querySelector('.brand img').getBoundingClientRect().width") > 20


@pytest.mark.parametrize("where", ["gallery", "video", "compose", "team", "unknown"])
def test_pages_fit_a_phone(new_page, alice, team_a, where):
    Team.objects.filter(pk=team_a.pk).update(name="Alice Adams's team")
    ready = make_ready_generation(team_a, alice)
    unknown = make_generation(
        team_a, alice, status="unknown", error_code="outcome_unknown",
        error_message="Outcome unknown — may have been charged.",
    )  # fmt: skip
    url = {
        "gallery": "/",
        "video": f"/videos/{ready.code}/",
        "compose": "/compose/",
        "team": "/team/",
        "unknown": f"/videos/{unknown.code}/",
    }[where]
    page = new_page(viewport=PHONE)
    sign_in(page, "alice@example.org")
    page.goto(url)
    assert_fits(page)
    screenshot(page, f"phone-{where}")


def test_the_team_menu_opens_inside_a_phone_screen(new_page, alice, team_a):
    Team.objects.filter(pk=team_a.pk).update(name="Alice Adams's team")
    page = new_page(viewport=PHONE)
    sign_in(page, "alice@example.org")
    page.goto("/")
    for summary in ("Switch team", "Account"):
        page.get_by_label(summary, exact=True).click()
        panel = page.locator("details[open] .menu-panel")
        box = panel.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0]
        page.get_by_label(summary, exact=True).click()


@pytest.mark.parametrize("viewport", [PHONE, (1280, 900)])
def test_a_problem_card_keeps_its_words_clear_of_the_pills(new_page, alice, team_a, viewport):
    make_generation(
        team_a, alice, status="unknown", error_code="outcome_unknown",
        error_message=(
            "Outcome unknown — may have been charged. The studio sent this prompt to the provider at "
            "2026-12-01 11:12:14 UTC and lost the answer, so it cannot tell whether the video was started."
        ),
    )  # fmt: skip
    page = new_page(viewport=viewport)
    sign_in(page, "alice@example.org")
    page.goto("/")
    words_bottom = page.evaluate(
        "Math.max(...[...document.querySelectorAll('.gcard-failed > *')]"
        ".filter(e => e.offsetParent).map(e => e.getBoundingClientRect().bottom))"
    )
    media = page.locator(".gcard-media").bounding_box()
    pills = page.locator(".gcard-bottom").bounding_box()
    assert words_bottom <= pills["y"] and words_bottom <= media["y"] + media["height"]
    screenshot(page, f"problem-card-{viewport[0]}")
