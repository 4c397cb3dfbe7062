# ruff: noqa: RUF001 - the player writes rates with a multiplication sign and ranges with an en dash
"""The video page's player in a real browser, over real files from the demo provider.

Portrait, landscape and auto-shaped clips show their whole frame with the control bar in view
on a laptop and on a phone; the shortcuts (frame step, J/K/L, speed, loop marks, the sheet) do
what they say and never fire while someone types; comment markers sit at their moment on the
scrubber and open their comment; a phone plays with a tap.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from studio.videos.models import Comment, Generation
from tests.conftest import ARTIFACTS, sign_in, watch_console
from tests.factories import make_generation, poll_until_ready

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FPS = 24  # the demo provider's clips
VIEWPORTS = [(1440, 900), (1280, 800), (390, 844)]
# Prompts whose "auto" shape the demo provider makes portrait (studio/demoprovider/render.py pick_size).
AUTO_PORTRAIT = "A cat naps in a sunny window"


def ready_video(
    team, author, *, aspect_ratio: str = "16:9", prompt: str = "A red fox trots through snow"
) -> Generation:
    """A generation made by the demo provider through the real pipeline, stored and ready."""
    generation = make_generation(team, author, prompt=prompt, aspect_ratio=aspect_ratio, duration="5")
    return poll_until_ready(generation)


def wait_until(page, expression: str, timeout: float = 15.0) -> None:
    """page.wait_for_function compiles its predicate with eval, which the CSP forbids."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.03)


def open_player(page, generation: Generation) -> None:
    page.goto(f"/videos/{generation.code}/")
    # Metadata in: the player knows the duration and the frame's shape.
    wait_until(page, "window.StudioPlayer && window.StudioPlayer.video.readyState >= 1")
    wait_until(page, "document.querySelector('[data-player]').classList.contains('is-ready')")


def seek(page, seconds: float) -> None:
    page.evaluate(f"StudioPlayer.pause(); StudioPlayer.seek({seconds})")
    wait_until(
        page, f"!StudioPlayer.video.seeking && Math.abs(StudioPlayer.video.currentTime - {seconds}) < 1e-4"
    )


def current_time(page) -> float:
    return page.evaluate("StudioPlayer.video.currentTime")


def press(page, key: str) -> None:
    """A key pressed with nothing focused (the page itself)."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press(key)


GEOMETRY = """() => {
  const box = e => { const r = e.getBoundingClientRect(); return {l: r.left, t: r.top, r: r.right, b: r.bottom, w: r.width, h: r.height}; };
  const root = document.querySelector('[data-player]');
  const video = document.getElementById('player');
  const stage = root.querySelector('[data-player-stage]');
  const v = box(video);
  // What object-fit: contain shows of the file inside the element's box.
  const scale = Math.min(v.w / video.videoWidth, v.h / video.videoHeight);
  const fw = video.videoWidth * scale, fh = video.videoHeight * scale;
  const frame = {l: v.l + (v.w - fw) / 2, t: v.t + (v.h - fh) / 2, w: fw, h: fh};
  frame.r = frame.l + fw; frame.b = frame.t + fh;
  const play = root.querySelector('[data-player-play]');
  const full = root.querySelector('[data-player-fullscreen]');
  const centre = e => { const r = e.getBoundingClientRect(); return document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2); };
  return {
    player: box(root), stage: box(stage), video: v, frame, bar: box(root.querySelector('[data-player-bar]')),
    overlay: box(root.querySelector('[data-player-overlay]')), fit: getComputedStyle(video).objectFit,
    natural: [video.videoWidth, video.videoHeight], viewport: [innerWidth, innerHeight],
    playHit: centre(play) === play || play.contains(centre(play)),
    fullHit: centre(full) === full || full.contains(centre(full)),
    full: box(full), scrollWidth: document.documentElement.scrollWidth,
    nativeControls: video.controls,
  };
}"""


def inside(inner: dict, outer: dict, slack: float = 1.0) -> bool:
    return (
        inner["l"] >= outer["l"] - slack
        and inner["t"] >= outer["t"] - slack
        and inner["r"] <= outer["r"] + slack
        and inner["b"] <= outer["b"] + slack
    )


@pytest.mark.parametrize(
    ("aspect_ratio", "prompt", "natural"),
    [
        ("9:16", "A skater drops into a concrete bowl", [720, 1280]),
        ("16:9", "Waves break on black volcanic sand", [1280, 720]),
        ("auto", AUTO_PORTRAIT, [720, 1280]),
    ],
)
def test_every_shape_shows_its_whole_frame_and_its_controls(
    page, team_a, alice, studio_on_demo_provider, aspect_ratio, prompt, natural
):
    generation = ready_video(team_a, alice, aspect_ratio=aspect_ratio, prompt=prompt)
    assert [generation.video_width, generation.video_height] == natural
    messages = watch_console(page, [])
    sign_in(page, "alice@example.org")
    for width, height in VIEWPORTS:
        page.set_viewport_size({"width": width, "height": height})
        open_player(page, generation)
        page.evaluate("window.scrollTo(0, 0)")
        g = page.evaluate(GEOMETRY)
        where = f"{aspect_ratio} at {width}x{height}: {g}"
        assert g["natural"] == natural, where
        assert g["fit"] == "contain" and g["nativeControls"] is False, where
        # The whole frame is inside the stage, the stage inside the player, the player on screen.
        assert inside(g["frame"], g["stage"]), where
        assert inside(g["stage"], g["player"]), where
        assert g["player"]["l"] >= 0 and g["player"]["r"] <= width + 0.5, where
        assert g["scrollWidth"] <= width, where
        # The frame touches the stage on two sides: no crop, no needless shrink.
        assert abs(g["frame"]["w"] - g["stage"]["w"]) < 1.5 or abs(g["frame"]["h"] - g["stage"]["h"]) < 1.5, (
            where
        )
        # At its real shape.
        assert abs(g["frame"]["w"] / g["frame"]["h"] - natural[0] / natural[1]) < 0.01, where
        # The drawing overlay lies exactly over the frame, not over the bars beside it.
        for side in ("l", "t", "w", "h"):
            assert abs(g["overlay"][side] - g["frame"][side]) < 1.0, (side, where)
        # The control bar: below the frame, inside the window without scrolling, its ends clickable.
        assert g["bar"]["t"] >= g["frame"]["b"] - 0.5, where
        assert g["bar"]["b"] <= height, where
        assert g["playHit"] and g["fullHit"], where
        assert g["full"]["r"] <= width, where
        # A portrait clip gets most of the window's height, not a thumbnail.
        if natural[1] > natural[0]:
            assert g["frame"]["h"] >= 0.55 * height, where
        else:
            assert g["frame"]["w"] >= 0.6 * min(width, 1000) - 1, where
    assert messages == []


@pytest.fixture
def landscape(team_a, alice, studio_on_demo_provider):
    return ready_video(team_a, alice)


def test_frame_step_moves_exactly_one_frame(page, alice, landscape):
    messages = watch_console(page, [])
    sign_in(page, "alice@example.org")
    open_player(page, landscape)
    assert page.evaluate("StudioPlayer.fps") == FPS
    seek(page, 1.0)
    expect(page.locator("[data-player-now]")).to_have_text("00:01:00")

    press(page, ".")
    wait_until(page, "!StudioPlayer.video.seeking")
    assert abs(current_time(page) - (1.0 + 1 / FPS)) < 1e-3
    expect(page.locator("[data-player-now]")).to_have_text("00:01:01")

    press(page, ",")
    press(page, ",")
    wait_until(page, "!StudioPlayer.video.seeking")
    assert abs(current_time(page) - (1.0 - 1 / FPS)) < 1e-3
    expect(page.locator("[data-player-now]")).to_have_text("00:00:23")

    # The arrows step too; the buttons as well; and from the API.
    press(page, "ArrowRight")
    assert abs(current_time(page) - 1.0) < 1e-3
    page.get_by_role("button", name="Next frame").click()
    assert abs(current_time(page) - (1.0 + 1 / FPS)) < 1e-3
    page.evaluate("StudioPlayer.frameStep(-1)")
    assert abs(current_time(page) - 1.0) < 1e-3
    assert page.evaluate("StudioPlayer.video.paused")

    # The scrubber is a slider that says where the playhead is.
    slider = page.get_by_role("slider", name="Seek")
    expect(slider).to_have_attribute("aria-valuetext", "00:01:00 of 00:05:00")
    slider.focus()
    page.keyboard.press("ArrowLeft")
    assert abs(current_time(page) - (1.0 - 1 / FPS)) < 1e-3
    assert messages == []


def test_j_k_l_speed_and_mute(page, alice, landscape):
    messages = watch_console(page, [])
    sign_in(page, "alice@example.org")
    open_player(page, landscape)
    seek(page, 0.5)
    video = "StudioPlayer.video"
    # Looping, so a slow machine never sees the clip end (and the shuttle stop) between two keys.
    page.get_by_role("button", name="Loop", exact=True).click()
    assert page.evaluate(f"{video}.loop")

    press(page, "l")
    wait_until(page, f"!{video}.paused && {video}.currentTime > 0.6")
    assert page.evaluate(f"{video}.playbackRate") == 1
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    press(page, "l")
    assert page.evaluate(f"{video}.playbackRate") == 2
    press(page, "l")
    assert page.evaluate(f"{video}.playbackRate") == 4
    press(page, "k")
    assert page.evaluate(f"{video}.paused && {video}.playbackRate === 1")
    expect(page.get_by_role("button", name="Play", exact=True)).to_be_visible()

    # J plays backwards (by stepping: Chromium has no negative rate); K stops it there.
    seek(page, 4.5)
    press(page, "j")
    wait_until(page, f"{video}.currentTime < 4.2")
    assert page.evaluate("document.querySelector('[data-player]').classList.contains('is-playing')")
    press(page, "k")
    wait_until(page, f"!{video}.seeking")
    stopped = current_time(page)
    assert 0 < stopped < 4.2
    page.wait_for_timeout(400)  # nothing else moves it: a still playhead stays still
    assert current_time(page) == stopped and page.evaluate(f"{video}.paused")

    # The speed menu, by pointer and by keys.
    page.get_by_role("button", name="Speed 1×").click()
    menu = page.get_by_role("menu", name="Playback speed")
    expect(menu).to_be_visible()
    menu.get_by_role("menuitemradio", name="0.5×").click()
    expect(menu).to_be_hidden()
    assert page.evaluate(f"{video}.playbackRate") == 0.5
    expect(page.get_by_role("button", name="Speed 0.5×")).to_be_visible()
    press(page, ">")
    assert page.evaluate(f"{video}.playbackRate") == 0.75
    page.get_by_role("button", name="Speed 0.75×").click()
    expect(menu.get_by_role("menuitemradio", name="0.75×")).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert page.evaluate(f"{video}.playbackRate") == 1
    expect(page.get_by_role("button", name="Speed 1×")).to_be_focused()
    page.get_by_role("button", name="Speed 1×").press("Enter")
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    for _ in range(8):
        press(page, "<")
    assert page.evaluate(f"{video}.playbackRate") == 0.25

    # Mute.
    press(page, "m")
    assert page.evaluate(f"{video}.muted")
    expect(page.get_by_role("button", name="Unmute")).to_be_visible()
    page.get_by_role("button", name="Unmute").click()
    assert not page.evaluate(f"{video}.muted")
    assert messages == []


def test_loop_a_marked_range(page, alice, landscape):
    messages = watch_console(page, [])
    sign_in(page, "alice@example.org")
    open_player(page, landscape)
    seek(page, 1.0)
    press(page, "i")
    seek(page, 2.0)
    press(page, "o")
    assert page.evaluate("StudioPlayer.getRange()") == {"in": 1.0, "out": 2.0}
    chip = page.get_by_role("button", name="Clear in and out marks")
    expect(chip).to_have_text("00:01:00 – 00:02:00")
    expect(page.get_by_role("button", name="Loop the marked range")).to_have_attribute("aria-pressed", "true")

    # Played from before the range it starts at the in mark and comes back to it at the out mark.
    seek(page, 0.2)
    page.get_by_role("button", name="Play", exact=True).click()
    wait_until(page, "StudioPlayer.video.currentTime > 1.8")
    assert current_time(page) >= 1.0
    wait_until(page, "!StudioPlayer.video.paused && StudioPlayer.video.currentTime < 1.5")
    press(page, "k")

    press(page, "x")
    assert page.evaluate("StudioPlayer.getRange()") is None
    expect(chip).to_be_hidden()
    assert messages == []


def test_shortcut_sheet_and_typing(page, alice, landscape):
    messages = watch_console(page, [])
    sign_in(page, "alice@example.org")
    open_player(page, landscape)
    seek(page, 1.0)

    press(page, "?")
    sheet = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(sheet).to_be_visible()
    expect(sheet).to_contain_text("Previous / next frame")
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(sheet).to_be_visible()
    sheet.get_by_role("button", name="Close").click()
    expect(sheet).to_be_hidden()
    expect(page.get_by_role("button", name="Keyboard shortcuts")).to_be_focused()

    # Typing in the comment box: every letter is a letter, not a shortcut.
    box = page.get_by_label("Comment", exact=True)
    box.click()
    box.type("Jump at , and . looks off? I/O kl m f x")
    expect(box).to_have_value("Jump at , and . looks off? I/O kl m f x")
    assert page.evaluate("StudioPlayer.video.paused && !StudioPlayer.video.muted")
    assert abs(current_time(page) - 1.0) < 1e-3
    assert page.evaluate("StudioPlayer.getRange()") is None
    expect(sheet).to_be_hidden()

    # A key another script has handled (defaultPrevented) is left alone.
    page.evaluate(
        "document.addEventListener('keydown', e => { if (e.key === '.') e.preventDefault(); }, true)"
    )
    press(page, ".")
    assert abs(current_time(page) - 1.0) < 1e-3

    # The "Comment at" toggle still takes the player's moment.
    expect(page.locator("[data-player-time]")).to_have_text("0:01")
    box.fill("The horizon tilts here")
    page.get_by_role("button", name="Comment", exact=True).click()
    expect(page.locator("li.thread").first).to_contain_text("The horizon tilts here")
    assert 0.99 < Comment.objects.get().at_seconds < 1.01
    assert messages == []


MARKERS = """() => {
  const host = document.createElement('div');
  host.id = 'fake-comments';
  host.innerHTML = '<p data-comment-at="1.5" data-comment-code="c-one" data-comment-label="Bob: too early"></p>'
    + '<p data-comment-at="1.5" data-comment-code="c-one"></p>'
    + '<p data-comment-at="3" data-comment-end="4" data-comment-code="c-two"></p>';
  document.body.appendChild(host);
  window.__opened = [];
  window.__times = 0;
  document.addEventListener('studio:comment-open', e => { window.__opened.push(e.detail.code); e.preventDefault(); });
  document.addEventListener('studio:player-time', () => { window.__times++; });
  document.dispatchEvent(new CustomEvent('studio:comments-changed'));
}"""


def test_comment_markers_sit_at_their_moment_and_open_their_comment(page, alice, landscape):
    messages = watch_console(page, [])
    sign_in(page, "alice@example.org")
    open_player(page, landscape)
    page.evaluate(MARKERS)
    markers = page.locator(".player-marker")
    expect(markers).to_have_count(2)  # the two elements of one comment make one marker
    track = page.locator(".player-track").bounding_box()
    point = markers.nth(0).bounding_box()
    bar = markers.nth(1).bounding_box()
    duration = page.evaluate("StudioPlayer.video.duration")
    assert abs(point["x"] + point["width"] / 2 - (track["x"] + track["width"] * 1.5 / duration)) < 2
    assert abs(bar["x"] - (track["x"] + track["width"] * 3 / duration)) < 2
    assert abs(bar["width"] - track["width"] / duration) < 2
    expect(markers.nth(0)).to_have_attribute("aria-label", "Comment at 00:01:12: Bob: too early")

    markers.nth(0).click()
    wait_until(page, "!StudioPlayer.video.seeking")
    assert abs(current_time(page) - 1.5) < 1e-3
    assert page.evaluate("StudioPlayer.video.paused")
    assert page.evaluate("window.__opened") == ["c-one"]
    assert page.evaluate("window.__times") >= 1
    markers.nth(1).focus()
    page.keyboard.press("Enter")
    wait_until(page, "!StudioPlayer.video.seeking")
    assert abs(current_time(page) - 3.0) < 1e-3
    assert page.evaluate("window.__opened") == ["c-one", "c-two"]

    # A comment removed from the page takes its marker away.
    page.evaluate(
        "document.querySelector('[data-comment-end]').remove();"
        "document.dispatchEvent(new CustomEvent('studio:comments-changed'))"
    )
    expect(markers).to_have_count(1)
    assert messages == []


def test_the_team_s_comments_are_markers(page, alice, bob, landscape):
    messages = watch_console(page, [])
    early = Comment.objects.create(
        generation=landscape, author=bob, body="The horizon tilts here", at_seconds=1.2
    )
    stretch = Comment.objects.create(
        generation=landscape, author=alice, body="Hold this longer", at_seconds=2.0, end_seconds=3.5
    )
    Comment.objects.create(generation=landscape, author=bob, body="About the whole clip")
    Comment.objects.create(
        generation=landscape, author=bob, body="Done", at_seconds=4.0, resolved_at=timezone.now()
    )
    sign_in(page, "alice@example.org")
    open_player(page, landscape)
    markers = page.locator(".player-marker")
    expect(markers).to_have_count(2)  # no moment, no marker; a resolved comment is put away
    expect(page.locator(".player-marker.is-range")).to_have_count(1)

    markers.first.click()
    wait_until(page, "!StudioPlayer.video.seeking")
    assert abs(current_time(page) - 1.2) < 1e-3
    expect(page.locator(f"#thread-{early.code}")).to_have_class(re.compile(r"\bis-open\b"))
    page.locator(".player-marker.is-range").click()
    expect(page.locator(f"#thread-{stretch.code}")).to_have_class(re.compile(r"\bis-open\b"))
    assert abs(current_time(page) - 2.0) < 1e-3

    # A new comment at the playhead becomes a marker as soon as it is posted (htmx swap, no reload).
    seek(page, 0.5)
    page.get_by_label("Comment", exact=True).fill("Cut in here")
    page.get_by_role("button", name="Comment", exact=True).click()
    expect(markers).to_have_count(3)
    assert messages == []


def test_drag_the_scrubber_and_go_full_screen(page, alice, landscape):
    messages = watch_console(page, [])
    page.add_init_script(
        "window.__ready = []; document.addEventListener('studio:player-ready', e => window.__ready.push("
        "[e.detail.fps, e.detail.video.id]))"
    )
    sign_in(page, "alice@example.org")
    open_player(page, landscape)
    assert page.evaluate("window.__ready") == [[FPS, "player"]]
    track = page.locator(".player-track").bounding_box()
    y = track["y"] + track["height"] / 2
    page.mouse.move(track["x"] + track["width"] * 0.1, y)
    page.mouse.down()
    page.mouse.move(track["x"] + track["width"] * 0.35, y, steps=4)
    page.mouse.move(track["x"] + track["width"] * 0.6, y, steps=4)
    page.mouse.up()
    wait_until(page, "!StudioPlayer.video.seeking")
    assert abs(current_time(page) - 3.0) < 0.1
    assert page.evaluate("StudioPlayer.video.paused")

    page.get_by_role("button", name="Full screen").click()
    wait_until(page, "document.fullscreenElement === document.querySelector('[data-player]')")
    expect(page.get_by_role("button", name="Exit full screen")).to_be_visible()
    g = page.evaluate(GEOMETRY)
    assert inside(g["frame"], g["stage"]) and g["bar"]["b"] <= g["viewport"][1] + 0.5
    for side in ("l", "t", "w", "h"):
        assert abs(g["overlay"][side] - g["frame"][side]) < 1.0, side
    press(page, "f")
    wait_until(page, "!document.fullscreenElement")
    assert messages == []


def test_a_file_that_does_not_play_says_so(page, alice, landscape):
    messages = watch_console(page, [])
    sign_in(page, "alice@example.org")
    # Not a video: the browser cannot decode it, the second try neither.
    page.route(
        "**/video.mp4", lambda route: route.fulfill(status=200, content_type="video/mp4", body=b"not a video")
    )
    page.goto(f"/videos/{landscape.code}/")
    expect(page.get_by_role("alert")).to_contain_text("This video could not be played")
    assert messages == []


def test_a_phone_plays_with_a_tap_and_scrubs_with_a_thumb(
    browser, live_server, team_a, alice, studio_on_demo_provider
):
    generation = ready_video(team_a, alice, aspect_ratio="9:16")
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    try:
        page = context.new_page()
        messages = watch_console(page, [])
        sign_in(page, "alice@example.org")
        open_player(page, generation)
        stage = page.locator("[data-player-stage]")
        stage.tap()
        wait_until(page, "!StudioPlayer.video.paused")
        stage.tap()
        wait_until(page, "StudioPlayer.video.paused")
        scrub = page.locator("[data-player-scrub]")
        box = scrub.bounding_box()
        assert box["height"] >= 40  # a thumb's worth
        scrub.tap(position={"x": box["width"] / 2, "y": box["height"] / 2})
        wait_until(page, "!StudioPlayer.video.seeking")
        assert abs(current_time(page) - 2.5) < 0.1
        for name in ("Play", "Previous frame", "Next frame", "Full screen", "Mute"):
            button = page.get_by_role("button", name=name, exact=True).bounding_box()
            assert button["width"] >= 40 and button["height"] >= 40, name
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        # Marks add a chip to the bar; the bar wraps instead of pushing the page sideways.
        page.get_by_role("button", name="Mark in").tap()
        page.evaluate("StudioPlayer.seek(4)")
        page.get_by_role("button", name="Mark out").tap()
        expect(page.get_by_role("button", name="Clear in and out marks")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        assert messages == []
    finally:
        context.close()


def test_screenshots_of_the_video_page(new_page, team_a, alice, bob, studio_on_demo_provider):
    """Not an assertion: pictures to look at, in test-artifacts/ (or STUDIO_SHOTS_DIR)."""
    studio_on_demo_provider.server.render = "full"
    folder = Path(os.environ.get("STUDIO_SHOTS_DIR") or ARTIFACTS)
    folder.mkdir(parents=True, exist_ok=True)
    shots = {
        "landscape": ready_video(
            team_a, alice, prompt="Slow aerial shot of waves breaking on black volcanic sand at dusk"
        ),
        "portrait": ready_video(
            team_a,
            alice,
            aspect_ratio="9:16",
            prompt="A skater drops into a concrete bowl, golden hour, handheld",
        ),
    }
    for generation in shots.values():
        Comment.objects.create(
            generation=generation, author=bob, body="The horizon tilts here", at_seconds=1.2
        )
        Comment.objects.create(
            generation=generation,
            author=alice,
            body="Love the light in this stretch",
            at_seconds=3.0,
            end_seconds=4.2,
        )
    for (name, generation), viewport in [(s, v) for s in shots.items() for v in ((1440, 900), (390, 844))]:
        page = new_page(viewport=viewport)
        sign_in(page, "alice@example.org")
        open_player(page, generation)
        # Opened from its marker: the comment is highlighted and the playhead on its moment.
        page.locator(".player-marker").first.click()
        seek(page, 1.2)
        stem = f"player-{name}-{viewport[0]}x{viewport[1]}"
        page.screenshot(path=str(folder / f"{stem}.png"))
        if name == "landscape" and viewport[0] == 1440:
            press(page, "?")
            expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
            page.screenshot(path=str(folder / "player-shortcuts-1440x900.png"))
            page.keyboard.press("Escape")
