"""Issue 11's "Fix first" items 2, 3, 5, 6 and 7, in a real browser.

Every page's console is checked by the new_page fixture (conftest): each test here also
asserts, by finishing, that no error, warning or blocked inline style was logged.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import expect

from studio.accounts.models import Membership, Role, Team
from tests.conftest import ARTIFACTS, make_user, sign_in, watch_console
from tests.factories import make_ready_generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = (390, 844)
DESKTOP = (1440, 900)


def shot(page, name: str) -> None:
    """A screenshot of what the viewport shows, to look at by eye, in test-artifacts/
    (or STUDIO_SHOTS_DIR)."""
    folder = Path(os.environ.get("STUDIO_SHOTS_DIR") or ARTIFACTS)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"))


def in_viewport(page, selector: str) -> bool:
    return page.evaluate(
        """(selector) => { const box = document.querySelector(selector).getBoundingClientRect();
             return box.width > 0 && box.top >= 0 && box.bottom <= window.innerHeight
                    && box.left >= 0 && box.right <= window.innerWidth; }""",
        selector,
    )


# --- 2. The phone layout: nothing sideways (and the desktop, for comparison) ---------


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("where", ["gallery", "compose", "video", "settings"])
def test_every_page_fits_without_sideways_scrolling(new_page, alice, bob, team_a, where, viewport):
    Team.objects.filter(pk=team_a.pk).update(name="Alice Adams's team")
    ready = make_ready_generation(team_a, alice)
    make_ready_generation(team_a, bob, aspect_ratio="9:16")
    url = {"gallery": "/", "compose": "/compose/", "video": f"/videos/{ready.code}/", "settings": "/team/"}[
        where
    ]
    page = new_page(viewport=viewport)
    sign_in(page, "alice@example.org")
    page.goto(url)
    assert page.evaluate("document.documentElement.scrollWidth") == viewport[0]
    assert page.evaluate("document.body.scrollWidth") <= viewport[0]
    # The brand (its logo), the team's name and the avatar are all on the screen.
    for selector in (".brand img", ".topbar .team-name", ".topbar .avatar"):
        assert in_viewport(page, selector), selector
    assert page.evaluate("document.querySelector('.brand img').getBoundingClientRect().width") >= 24
    if where == "gallery":
        # Each card says who made it, and the name fits inside the card.
        for card in page.locator(".gcard").all():
            author = card.locator(".gcard-author")
            expect(author).to_be_visible()
            box, card_box = author.bounding_box(), card.bounding_box()
            assert box["width"] > 20 and box["x"] + box["width"] <= card_box["x"] + card_box["width"]
        expect(page.locator(".gcard-author", has_text="Bob Brown")).to_be_visible()
    shot(page, f"{where}-{viewport[0]}")


# --- 3. A removed member is told, and can leave --------------------------------------


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_removed_member_is_told_which_team_and_can_sign_out(new_page, alice, bob, team_a, viewport):
    make_ready_generation(team_a, alice)
    page = new_page(viewport=viewport)
    sign_in(page, "bob@example.org")
    page.goto("/")
    expect(page.locator(".gcard")).to_have_count(1)
    # An owner removes bob while his gallery is open; his next filter change is an htmx request.
    Membership.objects.filter(user=bob).delete()
    page.locator("#id_status").select_option("ready")
    page.wait_for_url("**/teams/new/")
    expect(page.get_by_role("heading", level=1)).to_have_text("You are no longer a member of Team A")
    expect(page.get_by_role("button", name="Create team")).to_be_visible()
    shot(page, f"stranded-{viewport[0]}")
    # The top bar still has the account menu: sign out from there.
    page.get_by_label("Account", exact=True).click()
    page.get_by_role("button", name="Sign out").first.click()
    page.wait_for_url("**/login/**")


def test_a_removed_member_in_another_team_is_moved_there_and_told(new_page, alice, bob, team_a, team_b):
    Membership.objects.create(team=team_b, user=bob, role=Role.CREATOR)
    page = new_page(viewport=DESKTOP)
    sign_in(page, "bob@example.org")
    page.goto("/")
    expect(page.locator(".team-name")).to_have_text("Team A")
    Membership.objects.filter(user=bob, team=team_a).delete()
    page.goto("/compose/")
    expect(page.locator(".flash")).to_have_text("You are no longer a member of Team A; you are in Team B.")
    expect(page.locator(".team-name")).to_have_text("Team B")
    page.reload()
    expect(page.locator(".flash")).to_have_count(0)  # said once


def test_a_person_in_no_team_gets_a_page_with_a_menu(new_page, db, live_server):
    make_user("dora@example.org", "Dora Diaz")
    page = new_page(viewport=DESKTOP)
    sign_in(page, "dora@example.org")
    page.wait_for_url("**/teams/new/")
    expect(page.get_by_role("heading", level=1)).to_have_text("You are not in a team")
    expect(page.get_by_label("Account", exact=True)).to_be_visible()
    shot(page, "stranded-none-1440")


# --- 5. The demo banner follows the key ------------------------------------------------


def test_the_demo_banner_goes_when_a_key_is_saved_and_comes_back_when_removed(new_page, alice, settings):
    settings.EVOLINK_API_KEY = ""
    settings.STUDIO_ENCRYPTION_KEYS = []
    page = new_page(viewport=DESKTOP)
    sign_in(page, "alice@example.org")
    page.goto("/team/")
    banner = page.locator("#demo-banner .demo-banner")
    expect(banner).to_be_visible()
    page.evaluate("window.notReloaded = true")
    page.get_by_label("EvoLink API key").fill("sk-live-0123456789abcdef")
    page.get_by_role("button", name="Save key").click()
    expect(page.locator("#team-key .flash")).to_contain_text("it ends in cdef")
    expect(banner).to_have_count(0)
    expect(page.locator("#announcer")).to_have_text("EvoLink key saved; it ends in cdef.")
    assert page.evaluate("window.notReloaded") is True
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove key").click()
    expect(banner).to_be_visible()
    assert page.evaluate("window.notReloaded") is True


# --- 6. The console stays clean through the composer's swaps -------------------------


def test_the_composer_swaps_log_nothing(new_page, alice, monkeypatch):
    monkeypatch.setattr("studio.videos.services.async_task", lambda *args, **kwargs: None)
    page = new_page(viewport=DESKTOP)
    messages = watch_console(page, [])
    sign_in(page, "alice@example.org")
    page.goto("/compose/")
    prompt = page.get_by_label("Prompt", exact=True)
    # Typing fast, over previews in flight; chips and tiles; a resized box (an inline style).
    prompt.press_sequentially("A lighthouse in a storm", delay=15)
    page.locator("label.chip", has_text="No dialogue").click()
    page.locator("label.tile", has_text="9:16").click()
    page.get_by_label("Camera").fill("slow push-in")
    page.evaluate("document.querySelector('#id_prompt').style.height = '220px'")
    expect(page.locator("#preview-prompt")).to_contain_text("Camera: slow push-in")
    # A Generate with an error (empty prompt), then one that goes through, then another.
    prompt.fill("")
    page.get_by_label("Camera").fill("")
    page.locator("label.chip", has_text="No dialogue").click()
    page.get_by_role("button", name="Generate video").click()
    expect(page.locator(".prompt-field .errorlist")).to_be_visible()
    expect(prompt).to_be_focused()  # the field to fix gets the focus
    prompt.fill("A lighthouse in a storm, waves crashing")
    page.get_by_role("button", name="Generate video").click()
    expect(page.locator(".notice-sent")).to_contain_text("is on its way")
    page.get_by_role("button", name="Generate video").click()
    expect(page.locator("#recent .gcard")).to_have_count(2)
    assert messages == []


# --- 7. The small ones -------------------------------------------------------------------


def test_changes_requested_fits_in_the_filter_bar(new_page, alice):
    page = new_page(viewport=DESKTOP)
    sign_in(page, "alice@example.org")
    page.goto("/?review=changes_requested")
    select = page.locator("#id_review")
    expect(select).to_have_value("changes_requested")
    # The select is at least as wide as the same select left to size itself.
    fits = page.evaluate(
        """() => { const select = document.querySelector('#id_review');
             const copy = select.cloneNode(true); copy.value = select.value;
             copy.classList.add('measure'); copy.removeAttribute('id');
             copy.style.setProperty('max-width', 'none'); copy.style.setProperty('width', 'auto');
             select.parentNode.appendChild(copy);
             const need = copy.getBoundingClientRect().width; copy.remove();
             return select.getBoundingClientRect().width >= need - 0.5; }"""
    )
    assert fits
    shot(page, "gallery-filter-1440")


def test_the_composer_does_not_say_on_the_right_on_a_phone(new_page, alice):
    page = new_page(viewport=PHONE)
    sign_in(page, "alice@example.org")
    page.goto("/compose/")
    assert "on the right" not in page.locator("main").inner_text()


def test_bookmarks_carry_only_the_filters_set(new_page, alice, team_a):
    make_ready_generation(team_a, alice)
    page = new_page(viewport=DESKTOP)
    sign_in(page, "alice@example.org")
    page.goto("/")
    with page.expect_response(lambda r: "status=ready" in r.url):
        page.locator("#id_status").select_option("ready")
    page.wait_for_url(lambda url: "status=ready" in url)
    query = parse_qsl(urlsplit(page.url).query, keep_blank_values=True)
    assert ("status", "ready") in query and all(value for _, value in query), page.url
    # The next load (a bookmark) keeps the URL short for the live refresh too.
    page.reload()
    live = page.locator("#gallery-live").get_attribute("hx-get")
    assert all(value for _, value in parse_qsl(urlsplit(live).query, keep_blank_values=True)), live
    assert "status=ready" in live
    # Typing a search and clearing it leaves no q= behind.
    with page.expect_response(lambda r: "q=fox" in r.url):
        page.locator("#id_q").fill("fox")
    page.wait_for_url(lambda url: "q=fox" in url)
    with page.expect_response(lambda r: "/?" in r.url and "q=" not in r.url):
        page.locator("#id_q").fill("")
    page.wait_for_url(lambda url: "q=" not in url)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE])
def test_after_generate_the_new_card_is_in_view(new_page, alice, team_a, monkeypatch, viewport):
    monkeypatch.setattr("studio.videos.services.async_task", lambda *args, **kwargs: None)
    for _ in range(3):
        make_ready_generation(team_a, alice)
    page = new_page(viewport=viewport)
    sign_in(page, "alice@example.org")
    page.goto("/compose/")
    page.get_by_label("Prompt", exact=True).fill("A lighthouse in a storm, waves crashing")
    page.get_by_role("button", name="Generate video").click()
    expect(page.locator(".notice-sent")).to_be_visible()
    card_id = page.locator(".notice-sent").get_attribute("data-card")
    card = page.locator(f"#{card_id}")
    expect(card).to_be_visible()
    expect(card).to_be_in_viewport()
    expect(page.locator("#announcer")).to_contain_text("Generation sent.")
    shot(page, f"compose-sent-{viewport[0]}")


def test_on_a_phone_generate_is_always_on_the_screen(new_page, alice):
    page = new_page(viewport=PHONE)
    sign_in(page, "alice@example.org")
    page.goto("/compose/")
    button = page.get_by_role("button", name="Generate video")
    assert in_viewport(page, ".generate-button")
    shot(page, "compose-390")
    page.get_by_label("Other things to avoid").scroll_into_view_if_needed()
    assert in_viewport(page, ".generate-button")
    # The bar covers nothing for good: the last thing on the page scrolls clear of it.
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    last = page.locator("#recent").bounding_box()
    bar = page.locator(".submit-card").bounding_box()
    assert last["y"] + last["height"] <= bar["y"] + 1
    page.get_by_label("Prompt", exact=True).fill("A lighthouse in a storm, waves crashing")
    expect(button).to_be_enabled()
