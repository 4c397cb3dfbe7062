"""The review room in a real browser: two people on one video's page, live.

bob comments, edits, replies and deletes while alice watches without reloading (and
keeps what she is typing); alice resolves and approves while bob watches; a range
comment; a drawing on the frame saved and drawn again over the video after a reload;
a hidden tab asks nothing; a failed generation's page.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from studio.videos import review
from studio.videos.models import Comment, ReviewStatus, Status
from tests.conftest import screenshot, sign_in, watch_console
from tests.factories import make_generation, make_ready_generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/work/notes/shots-comments")
PHONE = (390, 844)


def shot(page, name: str) -> None:
    """A screenshot kept in test-artifacts/ and, when the notes folder exists, copied there to look at."""
    path = screenshot(page, f"review-live-{name}")
    if SHOTS.parent.is_dir():
        SHOTS.mkdir(exist_ok=True)
        shutil.copy(path, SHOTS / f"{name}.png")


def wait_until(page, expression: str, timeout: float = 10.0) -> None:
    """page.wait_for_function compiles its predicate with eval, which our CSP forbids."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def open_video(page, email: str, generation) -> None:
    sign_in(page, email)
    page.goto(f"/videos/{generation.code}/")
    wait_until(page, "document.getElementById('player') && document.getElementById('player').readyState >= 1")
    # Marks this document: if the page reloaded, the mark would be gone.
    page.evaluate("window.__stillTheSamePage = true")


def seek(page, seconds: float) -> None:
    page.evaluate(
        f"(() => {{ const v = document.getElementById('player'); v.pause(); v.currentTime = {seconds}; }})()"
    )
    wait_until(page, f"Math.abs(document.getElementById('player').currentTime - {seconds}) < 0.05")


def comment(page, text: str) -> None:
    page.locator("#comment-form textarea[name=body]").fill(text)
    page.locator("#comment-form").get_by_role("button", name="Comment", exact=True).click()
    expect(page.locator("#comment-list")).to_contain_text(text)
    expect(page.locator("#comment-form textarea[name=body]")).to_have_value("")


def test_two_people_review_one_video_live(new_page, team_a, alice, bob):
    generation = make_ready_generation(team_a, alice, prompt="A red fox trots through fresh snow")
    alice_page = new_page()
    alice_console = watch_console(alice_page, [])
    open_video(alice_page, "alice@example.org", generation)
    bob_page = new_page()
    bob_console = watch_console(bob_page, [])
    open_video(bob_page, "bob@example.org", generation)

    # alice starts a comment of her own, and is still writing when bob's arrives.
    alice_page.locator("#comment-form textarea[name=body]").fill("Half-written thought")
    alice_page.locator("#comment-form textarea[name=body]").focus()
    seek(bob_page, 1.5)
    comment(bob_page, "The fox's ears pop at this moment")
    bobs = Comment.objects.get(author=bob)
    thread = alice_page.locator(f"#thread-{bobs.code}")
    expect(thread).to_contain_text("The fox's ears pop at this moment", timeout=10_000)
    expect(thread.locator(".timecode")).to_have_text("0:01")
    # Said once through the page's one live region (never a region the refresh re-renders).
    expect(alice_page.locator("#announcer")).to_have_text("New comment from Bob Brown")
    expect(alice_page.locator("#comment-form textarea[name=body]")).to_have_value("Half-written thought")
    assert alice_page.evaluate("document.activeElement && document.activeElement.name") == "body"

    # bob edits it; alice sees the new words.
    bob_page.locator(f"#comment-{bobs.code}").get_by_role("button", name="Edit").click()
    bob_page.locator(f"#edit-{bobs.code}").fill("The fox's ears pop: hold the frame")
    bob_page.locator(f"#comment-{bobs.code}").get_by_role("button", name="Save").click()
    expect(bob_page.locator(f"#comment-{bobs.code}")).to_contain_text("(edited)")
    expect(thread).to_contain_text("hold the frame", timeout=10_000)

    # alice replies; bob, with a reply of his own half-typed in another thread, gets it.
    alice_page.locator("#comment-form textarea[name=body]").fill("")
    comment(alice_page, "Colour is a touch cold")
    alices = Comment.objects.get(author=alice, parent=None)
    bob_page.locator(f"#reply-{alices.code} > summary").click()
    bob_page.locator(f"#reply-body-{alices.code}").fill("Agreed, warmer please")
    alice_page.locator(f"#reply-{bobs.code} > summary").click()
    alice_page.locator(f"#reply-body-{bobs.code}").fill("Yes, hold it 12 frames")
    alice_page.locator(f"#reply-form-{bobs.code}").get_by_role("button", name="Reply").click()
    expect(alice_page.locator(f"#thread-{bobs.code} .replies")).to_contain_text("hold it 12 frames")
    expect(bob_page.locator(f"#thread-{bobs.code} .replies")).to_contain_text(
        "hold it 12 frames", timeout=10_000
    )
    expect(bob_page.locator(f"#reply-body-{alices.code}")).to_have_value("Agreed, warmer please")
    bob_page.locator(f"#reply-form-{alices.code}").get_by_role("button", name="Reply").click()
    expect(alice_page.locator(f"#thread-{alices.code} .replies")).to_contain_text(
        "warmer please", timeout=10_000
    )

    # alice resolves bob's thread: it folds away on both pages.
    alice_page.locator(f"#comment-{bobs.code}").get_by_role("button", name="Resolve").click()
    expect(alice_page.locator("#resolved-threads > summary")).to_have_text("Show resolved (1)")
    expect(bob_page.locator("#resolved-threads > summary")).to_have_text("Show resolved (1)", timeout=10_000)
    expect(bob_page.locator(f"#thread-{bobs.code}")).to_be_hidden()
    bob_page.locator("#resolved-threads > summary").click()
    expect(bob_page.locator(f"#thread-{bobs.code}")).to_be_visible()
    expect(bob_page.locator(f"#thread-{bobs.code}")).to_contain_text("Resolved")
    shot(bob_page, "live-replies-resolved-desktop")
    bob_page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
    assert bob_page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    shot(bob_page, "live-replies-resolved-phone")
    bob_page.set_viewport_size({"width": 1280, "height": 860})
    # bob may reopen his own.
    bob_page.locator(f"#comment-{bobs.code}").get_by_role("button", name="Reopen").click()
    expect(alice_page.locator("#resolved-threads")).to_have_count(0, timeout=10_000)
    alice_page.locator(f"#comment-{bobs.code}").get_by_role("button", name="Resolve").click()
    expect(bob_page.locator("#resolved-threads > summary")).to_have_text("Show resolved (1)", timeout=10_000)
    # A reviewer resolves only his own: alice's thread has no Resolve for bob.
    expect(bob_page.locator(f"#comment-{alices.code}").get_by_role("button", name="Resolve")).to_have_count(0)

    # alice approves; bob's panel follows.
    alice_page.get_by_role("button", name="Approve").click()
    expect(alice_page.locator("#review .badge").first).to_have_text("Approved")
    expect(bob_page.locator("#review .badge").first).to_have_text("Approved", timeout=10_000)
    expect(bob_page.locator("#review")).to_contain_text("by Alice Adams")
    generation.refresh_from_db()
    assert generation.review_status == ReviewStatus.APPROVED

    # alice is editing her comment when bob's next one arrives: her editor stays as it is.
    alice_page.locator(f"#comment-{alices.code}").get_by_role("button", name="Edit").click()
    alice_page.locator(f"#edit-{alices.code}").fill("Colour is a touch cold; warm it by")
    comment(bob_page, "One more thing")
    expect(alice_page.locator("#comment-list")).to_contain_text("One more thing", timeout=10_000)
    expect(alice_page.locator(f"#edit-{alices.code}")).to_have_value("Colour is a touch cold; warm it by")
    alice_page.locator(f"#comment-{alices.code}").get_by_role("button", name="Cancel").click()
    expect(alice_page.locator(f"#comment-{alices.code}")).to_contain_text("Colour is a touch cold")

    # alice deletes her comment (and its replies): gone from bob's page too.
    alice_page.once("dialog", lambda dialog: dialog.accept())
    alice_page.locator(f"#comment-{alices.code}").get_by_role("button", name="Delete").click()
    expect(alice_page.locator(f"#thread-{alices.code}")).to_have_count(0)
    expect(bob_page.locator(f"#thread-{alices.code}")).to_have_count(0, timeout=10_000)

    assert alice_page.evaluate("window.__stillTheSamePage") is True
    assert bob_page.evaluate("window.__stillTheSamePage") is True
    assert alice_console == [] and bob_console == []


def test_a_range_comment_takes_the_player_s_in_and_out(new_page, team_a, alice):
    generation = make_ready_generation(team_a, alice)
    page = new_page()
    messages = watch_console(page, [])
    open_video(page, "alice@example.org", generation)
    seek(page, 1.0)
    page.locator("body").press("i")
    seek(page, 2.5)
    page.locator("body").press("o")
    wait_until(page, "window.StudioPlayer && window.StudioPlayer.getRange() !== null")
    page.locator("[data-range-toggle]").check()
    expect(page.locator("[data-range-label]")).to_have_text("0:01\u20130:02")
    comment(page, "This stretch drags")
    saved = Comment.objects.get()
    assert abs(saved.at_seconds - 1.0) < 0.1 and abs(saved.end_seconds - 2.5) < 0.1
    thread = page.locator(f"#thread-{saved.code}")
    expect(thread.locator(".timecode")).to_have_text("0:01\u20130:02")
    assert thread.get_attribute("data-comment-end") == f"{saved.end_seconds:.3f}"
    assert messages == []


def drag(page, svg_box: dict, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
    x0, y0 = svg_box["x"] + svg_box["width"] * start[0], svg_box["y"] + svg_box["height"] * start[1]
    x1, y1 = svg_box["x"] + svg_box["width"] * end[0], svg_box["y"] + svg_box["height"] * end[1]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=steps)
    page.mouse.up()


def test_a_drawing_is_saved_and_drawn_again_over_the_video(new_page, team_a, alice, bob):
    generation = make_ready_generation(team_a, alice)
    page = new_page()
    messages = watch_console(page, [])
    open_video(page, "bob@example.org", generation)  # a reviewer draws: it is commenting
    seek(page, 1.0)

    page.get_by_role("button", name="Rectangle").click()
    overlay = page.locator("svg[data-player-overlay]")
    expect(overlay).to_have_class(re.compile("is-drawing"))
    # Picking a tool brings the frame into view (the tools sit with the comment form, below).
    wait_until(page, "document.querySelector('svg[data-player-overlay]').getBoundingClientRect().top >= -1")
    box = overlay.bounding_box()
    assert box and box["width"] > 100
    drag(page, box, (0.2, 0.25), (0.6, 0.75))
    page.locator("[data-draw-colour=yellow]").click()
    page.get_by_role("button", name="Arrow").click()
    drag(page, box, (0.9, 0.1), (0.65, 0.3))
    expect(page.locator("[data-draw-count]")).to_have_text("2 shapes")
    page.keyboard.press("Escape")
    comment(page, "Crop to this, and look here")

    saved = Comment.objects.get()
    assert abs(saved.at_seconds - 1.0) < 0.05
    rect, arrow = saved.drawing
    assert rect["type"] == "rect" and rect["colour"] == "pink"
    for point, expected in zip(rect["points"], [[0.2, 0.25], [0.6, 0.75]], strict=True):
        assert abs(point[0] - expected[0]) < 0.02 and abs(point[1] - expected[1]) < 0.02
    assert arrow["type"] == "arrow" and arrow["colour"] == "yellow"
    # The draft is gone from the overlay once the comment is posted.
    expect(page.locator("g[data-annotate=draft] > *")).to_have_count(0)

    # After a reload, at the comment's moment the drawing is over the frame again.
    page.reload()
    wait_until(page, "document.getElementById('player').readyState >= 1")
    seek(page, 0.0)
    expect(page.locator("g[data-annotate=shown] > *")).to_have_count(0)
    seek(page, 1.1)
    shown = page.locator("g[data-annotate=shown]")
    expect(shown.locator("rect.shape-pink")).to_have_count(1)
    expect(shown.locator("g.shape-yellow line")).to_have_count(1)
    x, y, w, h = (float(shown.locator("rect").get_attribute(name)) for name in ("x", "y", "width", "height"))
    assert abs(x - 0.2) < 0.02 and abs(y - 0.25) < 0.02 and abs(w - 0.4) < 0.02 and abs(h - 0.5) < 0.02
    # Far from its moment it is not drawn; opening the comment brings it back, paused there.
    seek(page, 3.5)
    expect(shown.locator("> *")).to_have_count(0)
    page.locator(f"#thread-{saved.code} .timecode").click()
    expect(shown.locator("rect")).to_have_count(1)
    wait_until(page, "Math.abs(document.getElementById('player').currentTime - 1.0) < 0.1")
    assert page.evaluate("document.getElementById('player').paused")
    # The overlay lies over the picture itself.
    frame = page.locator("#player").bounding_box()
    box = overlay.bounding_box()
    assert box["x"] >= frame["x"] - 1 and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1
    shot(page, "drawn-comment-desktop")
    assert messages == []

    phone = new_page(viewport=PHONE)
    open_video(phone, "alice@example.org", generation)
    phone.locator(f"#thread-{saved.code} .timecode").click()
    expect(phone.locator("g[data-annotate=shown] rect")).to_have_count(1)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    shot(phone, "drawn-comment-phone")


def test_a_hidden_tab_asks_nothing_until_it_is_shown(new_page, team_a, alice, bob):
    generation = make_ready_generation(team_a, alice)
    page = new_page()
    page.clock.install()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/changes/" in request.url else None)
    open_video(page, "alice@example.org", generation)
    with page.expect_request("**/changes/**"):  # a visible page asks every few seconds
        page.clock.run_for(5_000)

    page.evaluate(
        """() => {
          Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
          Object.defineProperty(document, "hidden", {value: true, configurable: true});
          document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    before = len(asked)
    review.add_comment(generation=generation, author=bob, body="Said while nobody looked", at_seconds=None)
    page.clock.run_for(60_000)
    page.evaluate("1")  # a round trip: requests made meanwhile have been reported
    assert len(asked) == before, "a hidden tab must not ask"

    # Shown again: it asks at once and the comment arrives.
    with page.expect_request("**/changes/**"):
        page.evaluate(
            """() => {
              Object.defineProperty(document, "visibilityState", {value: "visible", configurable: true});
              Object.defineProperty(document, "hidden", {value: false, configurable: true});
              document.dispatchEvent(new Event("visibilitychange"));
            }"""
        )
    expect(page.locator("#comment-list")).to_contain_text("Said while nobody looked")


@pytest.mark.parametrize("viewport", [(1440, 900), PHONE])
def test_a_failed_generation_s_page_says_what_failed_and_offers_try_again(new_page, team_a, alice, viewport):
    generation = make_generation(
        team_a,
        alice,
        status=Status.FAILED,
        error_code="content_policy",
        error_message="The provider could not make this video: the prompt was refused by its content policy.",
    )
    page = new_page(viewport=viewport)
    messages = watch_console(page, [])
    sign_in(page, "alice@example.org")
    page.goto(f"/videos/{generation.code}/")
    expect(page.get_by_text("refused by its content policy")).to_be_visible()
    expect(page.get_by_role("button", name="Try again")).to_be_visible()
    expect(page.get_by_role("link", name="Remix")).to_be_visible()
    for absent in ("Approve", "Reject", "Request changes", "Add to favourites"):
        expect(page.get_by_role("button", name=absent)).to_have_count(0)
    expect(page.get_by_role("link", name="Download")).to_have_count(0)
    expect(page.get_by_text("In review")).to_have_count(0)
    expect(page.locator("[data-at-toggle]")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport[0]
    shot(page, f"failed-{'phone' if viewport == PHONE else 'desktop'}")
    page.get_by_role("button", name="Try again").click()
    expect(page.get_by_text("This is the new version")).to_be_visible()
    assert messages == []


def wait_for_held(page, held: list, timeout: float = 15.0) -> None:
    """Waits until a routed request is held. The page may have sent it (its htmx-request class is
    set) before Playwright ran the route's handler: that happens while Playwright dispatches its
    events, which page.wait_for_timeout does and time.sleep does not."""
    deadline = time.monotonic() + timeout
    while not held:
        assert time.monotonic() < deadline, "the request never reached its route"
        page.wait_for_timeout(20)
    assert len(held) == 1


def test_an_answer_on_its_way_when_the_live_refresh_swaps_the_list_still_lands(new_page, team_a, alice, bob):
    # The race behind an intermittent "htmx:oobErrorNoTarget #comment-list": the live refresh
    # replaced the comment list (and with it the reply form) while the reply's answer was on its
    # way, and htmx looked for that answer's targets around the detached form. Held here for sure.
    generation = make_ready_generation(team_a, alice)
    first = review.add_comment(
        generation=generation, author=bob, body="Is the snow too bright?", at_seconds=None
    )
    page = new_page()
    open_video(page, "alice@example.org", generation)
    held = []
    page.route(f"**/comments/{first.code}/reply/", lambda route: held.append(route))
    page.locator(f"#reply-{first.code} > summary").click()
    page.locator(f"#reply-body-{first.code}").fill("A little, yes")
    page.locator(f"#reply-form-{first.code}").get_by_role("button", name="Reply").click()
    wait_until(page, f"document.querySelector('#reply-form-{first.code}.htmx-request') !== null")
    wait_for_held(page, held)

    # Meanwhile bob comments: alice's page swaps the new list in while her reply is held.
    review.add_comment(generation=generation, author=bob, body="And the sky?", at_seconds=None)
    expect(page.locator("#comment-list")).to_contain_text("And the sky?")
    held[0].continue_()
    expect(page.locator(f"#thread-{first.code} .replies")).to_contain_text("A little, yes")
    expect(page.locator(f"#reply-body-{first.code}")).to_have_value("")
    assert page.evaluate("window.__stillTheSamePage") is True


def test_a_live_refresh_answered_after_its_element_was_replaced_is_dropped(new_page, team_a, alice, bob):
    # The other side of that race: alice's comment's answer brings a newer live element while the
    # old one's refresh is on its way; that refresh's answer then had no page to land in.
    generation = make_ready_generation(team_a, alice)
    page = new_page()
    open_video(page, "alice@example.org", generation)
    held = []

    def hold_the_first(route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route(f"**/videos/{generation.code}/changes/**", hold_the_first)
    wait_until(page, "document.getElementById('detail-live').classList.contains('htmx-request')")
    wait_for_held(page, held)
    comment(page, "Mine, while the refresh waits")
    review.add_comment(generation=generation, author=bob, body="Bob's, since then", at_seconds=None)
    with page.expect_event("requestfinished", lambda request: request.url == held[0].request.url):
        held[0].continue_()
    expect(page.locator("#comment-list")).to_contain_text("Bob's, since then")
    expect(page.locator("#comment-list")).to_contain_text("Mine, while the refresh waits")
    assert page.evaluate("window.__stillTheSamePage") is True
