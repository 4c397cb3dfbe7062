"""Accessibility: axe-core over the main pages, keyboard focus, the skip link and the one live region.

axe-core comes bundled in axe-playwright-python (tests/requirements.in) and is injected from
disk through Playwright (no CDN, and the page's Content-Security-Policy does not apply to it).
"""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.conftest import sign_in
from tests.factories import make_generation, make_ready_generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BLOCKING = {"serious", "critical"}


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] in BLOCKING:
            targets = ", ".join(str(node["target"]) for node in violation["nodes"][:5])
            found.append(f"{violation['impact']} {violation['id']}: {violation['help']} at {targets}")
    return found


@pytest.fixture
def pages(alice, bob, team_a):
    ready = make_ready_generation(team_a, alice, prompt="A paper boat drifts down a rain-soaked street")
    make_ready_generation(team_a, bob, aspect_ratio="9:16")
    failed = make_generation(
        team_a, alice, status="failed", error_code="content_policy_violation",
        error_message="The provider could not make this video: content policy.",
    )  # fmt: skip
    make_generation(team_a, alice, status="processing", progress=40)
    return {
        "gallery": "/",
        "compose": "/compose/",
        "video-ready": f"/videos/{ready.code}/",
        "video-failed": f"/videos/{failed.code}/",
        "team-settings": "/team/",
    }


@pytest.mark.parametrize("viewport", [(1440, 900), (390, 844)], ids=["desktop", "phone"])
def test_the_main_pages_have_no_serious_accessibility_violations(new_page, pages, viewport):
    page = new_page(viewport=viewport)
    problems = {}
    for name, url in (("sign-in", "/login/"), ("sign-up", "/signup/")):
        page.goto(url)
        problems[name] = serious_violations(page)
    sign_in(page, "alice@example.org")
    for name, url in pages.items():
        page.goto(url)
        page.wait_for_load_state("networkidle")
        problems[name] = serious_violations(page)
    report = [f"{name}: {line}" for name, found in problems.items() for line in found]
    assert not report, "\n".join(report)


def test_the_skip_link_is_the_first_stop_and_jumps_to_the_content(page, alice):
    sign_in(page, "alice@example.org")
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    page.keyboard.press("Tab")  # the next stop is in the page, not back in the top bar
    assert page.evaluate("document.querySelector('main').contains(document.activeElement)")


@pytest.mark.parametrize("url", ["/", "/compose/", "/team/", "video"])
def test_every_control_reached_by_tab_shows_a_focus_ring(page, alice, team_a, url):
    ready = make_ready_generation(team_a, alice)
    sign_in(page, "alice@example.org")
    page.goto(f"/videos/{ready.code}/" if url == "video" else url)
    seen = 0
    for _ in range(60):
        page.keyboard.press("Tab")
        ring = page.evaluate(
            """() => { const el = document.activeElement;
                 if (!el || el === document.body) return null;
                 const target = el.matches('.chip input, .tile input') ? el.nextElementSibling : el;
                 const style = getComputedStyle(target);
                 const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
                 const box = el.getBoundingClientRect();
                 return {ring: outline || style.boxShadow !== 'none', tag: el.outerHTML.slice(0, 120),
                         sized: box.width > 0 || el.matches('.chip input, .tile input')}; }"""
        )
        if ring is None:
            break
        assert ring["ring"], f"no visible focus on {ring['tag']}"
        assert ring["sized"], f"focus on something unseen: {ring['tag']}"
        seen += 1
    assert seen >= 8


def test_announcements_go_through_the_one_live_region(page, alice):
    sign_in(page, "alice@example.org")
    page.goto("/compose/")
    live = page.locator("[aria-live]")
    expect(live).to_have_count(1)
    expect(live).to_have_attribute("id", "announcer")
    page.evaluate("document.dispatchEvent(new CustomEvent('studio:announce', {detail: 'Hello there'}))")
    expect(page.locator("#announcer")).to_have_text("Hello there")
    # Markup the page came with is not news; a swapped-in [data-announce] is, once.
    page.get_by_label("Prompt", exact=True).fill("x" * 2100)
    expect(page.locator("#announcer")).to_contain_text("characters over the limit")
    expect(page.locator("[aria-live]")).to_have_count(1)  # the swaps brought no region of their own


def test_a_polled_status_is_announced_when_it_changes_not_every_poll(page, alice, team_a):
    from studio.videos.models import Generation

    generation = make_generation(team_a, alice, status="queued")
    sign_in(page, "alice@example.org")
    page.goto(f"/videos/{generation.code}/")
    status = page.locator("#generation-status")
    expect(status).to_be_visible()
    assert status.get_attribute("role") is None and status.get_attribute("aria-live") is None
    # A poll that brings the same status swaps in a new box, and says nothing.
    status.evaluate("el => el.dataset.before = 'yes'")
    page.wait_for_function(
        "() => { const el = document.getElementById('generation-status'); return el && !el.dataset.before }"
    )
    # Past the announcer's own 60 ms delay (a browser timer, no server work raced).
    page.evaluate("() => new Promise(resolve => setTimeout(resolve, 300))")
    expect(page.locator("#announcer")).to_have_text("")
    Generation.objects.filter(pk=generation.pk).update(status="processing", progress=30)
    expect(page.locator("#announcer")).to_have_text("Processing", timeout=10_000)
    expect(page.locator("[aria-live]")).to_have_count(1)


def test_a_card_that_finishes_in_the_gallery_is_announced(page, alice, team_a):
    from django.utils import timezone

    from studio.videos.models import Generation

    generation = make_generation(
        team_a, alice, prompt="A kite over the dunes", status="processing", progress=50
    )
    sign_in(page, "alice@example.org")
    page.goto("/")
    expect(page.locator(f"#card-{generation.code}")).to_have_attribute("data-status", "processing")
    Generation.objects.filter(pk=generation.pk).update(
        status="failed", error_message="No.", updated=timezone.now()
    )
    expect(page.locator(f"#card-{generation.code}")).to_have_attribute(
        "data-status", "failed", timeout=15_000
    )
    expect(page.locator("#announcer")).to_have_text("“A kite over the dunes” failed.")
