"""Comparing two videos in a real browser: one set of controls keeps both in step.

Two real MP4s of the team (a landscape one and a portrait one, 8 s at 24 fps): after a seek
and after three seconds of play both currentTimes are within 0.1 s of each other;
the wipe cuts B at the slider; the prompt diff marks the changed word; picking two
cards in the gallery leads to the page. Waits are on the videos' own state (their
time, their seeks), never a fixed sleep.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from playwright.sync_api import expect

from studio.videos.models import Derivation
from tests.conftest import ARTIFACTS, sign_in, watch_console
from tests.factories import make_ready_generation, sample_mp4

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Screenshots to look at by eye: test-artifacts/, or STUDIO_SHOTS_DIR.
SHOTS = Path(os.environ.get("STUDIO_SHOTS_DIR") or ARTIFACTS)
VIDEOS = "Array.from(document.querySelectorAll('video[data-compare-video]'))"
# Both videos loaded enough to show a frame, and neither seeking: what a person sees is settled.
SETTLED = f"{VIDEOS}.every(v => v.readyState >= 2 && !v.seeking)"
GAP = f"Math.abs({VIDEOS}[0].currentTime - {VIDEOS}[1].currentTime)"


def wait_until(page, expression: str, timeout: float = 15.0) -> None:
    """Polls the page until the expression holds (page.wait_for_function compiles its
    predicate with eval, which the studio's CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.03)


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def with_longer_clip(generation, seconds: int = 8):
    """The generation's file replaced by a longer clip of the same shape: 3 s of play
    then a pause must not run into the end on a busy machine."""
    data = sample_mp4(generation.video_width, generation.video_height, seconds=seconds)
    generation.video.storage.delete(generation.video.name)
    generation.video.save("video.mp4", ContentFile(data), save=False)
    generation.video_duration = float(seconds)
    generation.video_bytes = len(data)
    generation.save(update_fields=["video", "video_duration", "video_bytes", "updated"])
    return generation


@pytest.fixture
def two_takes(team_a, alice):
    first = make_ready_generation(
        team_a, alice, prompt="A red fox trots through fresh snow at dawn, slow dolly shot"
    )
    second = make_ready_generation(
        team_a,
        alice,
        prompt="A red fox runs through fresh snow at dawn, slow dolly shot",
        aspect_ratio="9:16",
        parent=first,
        lineage=first.lineage,
        derivation=Derivation.REMIXED,
    )
    return with_longer_clip(first), with_longer_clip(second)


def open_compare(page, first, second, mode: str = "") -> None:
    sign_in(page, "alice@example.org")
    page.goto(f"/compare/?a={first.code}&b={second.code}" + (f"&mode={mode}" if mode else ""))
    wait_until(page, SETTLED)


def test_one_seek_and_one_play_move_both_videos_together(new_page, alice, two_takes):
    first, second = two_takes
    page = new_page((1440, 900))
    messages = watch_console(page, [])
    open_compare(page, first, second)
    shoot(page, "compare-side-1440")

    # One seek (the shared scrubber) moves both.
    page.locator("[data-compare-scrubber]").fill("2.5")
    wait_until(page, f"{SETTLED} && {VIDEOS}.every(v => Math.abs(v.currentTime - 2.5) < 0.05)")
    assert page.evaluate(GAP) < 0.1
    expect(page.locator("[data-compare-time]")).to_have_text("00:02:12")

    # Back to the start, then play both from the one button for three seconds.
    page.locator("[data-compare-scrubber]").fill("0")
    wait_until(page, f"{SETTLED} && {VIDEOS}.every(v => v.currentTime < 0.05)")
    page.get_by_role("button", name="Play both").click()
    # Read while neither is seeking: a correcting seek reads as its target until it lands.
    wait_until(page, f"{VIDEOS}[0].currentTime >= 3 && {VIDEOS}.every(v => !v.seeking)", timeout=20)
    assert page.evaluate(GAP) < 0.1
    page.get_by_role("button", name="Pause both").click()
    wait_until(page, f"{VIDEOS}.every(v => v.paused) && {SETTLED}")
    assert page.evaluate(GAP) < 0.1

    # A frame step moves both by one frame (1/24 s) from where they stand.
    before = page.evaluate(f"{VIDEOS}[0].currentTime")
    page.get_by_role("button", name="One frame forward").click()
    wait_until(page, f"{SETTLED} && {VIDEOS}[0].currentTime > {before} + 0.02")
    after = page.evaluate(f"{VIDEOS}.map(v => v.currentTime)")
    assert abs(after[0] - after[1]) < 0.1
    assert round((after[0] - before) * 24) == 1
    assert messages == []


def test_the_wipe_cuts_b_where_the_slider_is(new_page, alice, two_takes):
    first, second = two_takes
    page = new_page((1440, 900))
    messages = watch_console(page, [])
    open_compare(page, first, second)
    page.get_by_role("button", name="Wipe").click()
    expect(page.locator("[data-compare]")).to_have_attribute("data-mode", "wipe")
    assert "mode=wipe" in page.url
    wipe = page.get_by_label("Wipe: how much of A shows")
    expect(wipe).to_be_visible()
    wipe.fill("30")
    pane_b = page.locator("[data-compare-pane=B]")
    assert pane_b.evaluate("el => getComputedStyle(el).clipPath") == "inset(0px 0px 0px 30%)"
    # Both videos share one frame: B lies over A.
    boxes = [page.locator(f"[data-compare-pane={side}]").bounding_box() for side in "AB"]
    assert boxes[0] == boxes[1]
    shoot(page, "compare-wipe-1440")
    # Dragging across the picture moves the wipe too.
    stage = page.locator("[data-compare-stage]").bounding_box()
    page.mouse.move(stage["x"] + stage["width"] * 0.7, stage["y"] + stage["height"] / 2)
    page.mouse.down()
    page.mouse.up()
    assert 68 <= float(wipe.input_value()) <= 72
    page.get_by_role("button", name="Side by side").click()
    assert pane_b.evaluate("el => getComputedStyle(el).clipPath") == "none"
    assert messages == []


def test_the_diff_shows_the_changed_word_and_the_changed_settings(page, alice, two_takes):
    first, second = two_takes
    open_compare(page, first, second)
    expect(page.locator("[data-prompt-diff] del")).to_have_text(["trots"])
    expect(page.locator("[data-prompt-diff] ins")).to_have_text(["runs"])
    changed = page.locator(".compare-table tr.is-changed th")
    expect(changed.filter(has_text="Aspect ratio")).to_have_count(1)
    expect(changed.filter(has_text="Length asked")).to_have_count(0)


@pytest.mark.parametrize("viewport", [(1440, 900), (390, 844)])
def test_portrait_beside_landscape_fits_the_screen(new_page, alice, two_takes, viewport):
    first, second = two_takes
    page = new_page(viewport)
    open_compare(page, first, second)
    width, height = viewport
    for side in "AB":
        box = page.locator(f"[data-compare-pane={side}] video").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
        assert box["y"] + box["height"] <= height
    controls = page.locator("[data-compare-controls]").bounding_box()
    assert controls["y"] + controls["height"] <= height
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    name = "desktop" if width > 1000 else "phone"
    shoot(page, f"compare-side-{name}-{width}")
    if width < 1000:
        page.get_by_role("button", name="Wipe").click()
        page.get_by_label("Wipe: how much of A shows").fill("40")
        shoot(page, f"compare-wipe-phone-{width}")


def test_picking_two_cards_in_the_gallery_opens_them_side_by_side(new_page, alice, team_a):
    one = make_ready_generation(team_a, alice, prompt="A lighthouse in a storm")
    other = make_ready_generation(team_a, alice, prompt="A lighthouse at dawn")
    page = new_page((1440, 900))
    messages = watch_console(page, [])
    sign_in(page, "alice@example.org")
    page.goto("/")
    page.get_by_role("button", name="Compare two…").click()
    page.locator(f"#card-{one.code} .gcard-media").click()  # while comparing, a click picks
    expect(page.locator("[data-compare-note]")).to_have_text("Pick one more")
    page.locator(f"#card-{other.code}").get_by_label("Compare").check()
    shoot(page, "gallery-compare-picking-1440")
    page.get_by_role("link", name="Compare", exact=True).click()
    page.wait_for_url(f"**/compare/?a={one.code}&b={other.code}")
    expect(page.locator("[data-compare-pane]")).to_have_count(2)
    assert messages == []


def test_the_gallery_stacks_versions_and_the_video_page_lists_them(new_page, alice, team_a, two_takes):
    first, second = two_takes
    make_ready_generation(team_a, alice, prompt="A lighthouse in a storm")
    for viewport in ((1440, 900), (390, 844)):
        page = new_page(viewport)
        sign_in(page, "alice@example.org")
        page.goto("/")
        expect(page.locator(f"#card-{second.code}")).to_contain_text("2 versions")
        expect(page.locator(f"#card-{first.code}")).to_have_count(0)
        shoot(page, f"gallery-stack-{viewport[0]}")
    page.goto(f"/videos/{second.code}/")
    versions = page.locator("#versions")
    expect(versions).to_contain_text("v2, this one")
    expect(versions).to_contain_text("Remixed from v1")
    versions.get_by_role("link", name="Compare v1 with this one").click()
    page.wait_for_url(f"**/compare/?a={first.code}&b={second.code}")


@pytest.mark.parametrize("viewport", [(1440, 900), (390, 844)], ids=["desktop", "phone"])
def test_compare_pages_have_no_serious_accessibility_violations(new_page, alice, team_a, two_takes, viewport):
    from tests.test_browser_a11y import serious_violations

    first, second = two_takes
    page = new_page(viewport)
    open_compare(page, first, second)
    problems = {"side": serious_violations(page)}
    page.get_by_role("button", name="Wipe").click()
    problems["wipe"] = serious_violations(page)
    page.goto(f"/compare/?a={first.code}")
    problems["picker"] = serious_violations(page)
    page.goto("/")
    page.get_by_role("button", name="Compare two…").click()
    problems["gallery picking"] = serious_violations(page)
    assert problems == {name: [] for name in problems}


def test_a_new_version_takes_its_stack_s_place_live(new_page, alice, team_a):
    from studio.videos import review

    first = make_ready_generation(team_a, alice, prompt="A paper boat drifts down a rain-soaked street")
    page = new_page((1440, 900))
    messages = watch_console(page, [])
    sign_in(page, "alice@example.org")
    page.goto("/")
    expect(page.locator(f"#card-{first.code}")).to_be_visible()
    page.evaluate("window.__stillTheSamePage = true")
    # A teammate presses Regenerate (its submit is queued; nothing runs it here).
    second = review.regenerate(generation=first, author=alice)
    expect(page.locator(f"#card-{second.code}")).to_contain_text("2 versions", timeout=30_000)
    expect(page.locator(f"#card-{first.code}")).to_have_count(0)
    assert page.evaluate("window.__stillTheSamePage") is True
    assert messages == []
