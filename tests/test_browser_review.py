# ruff: noqa: RUF001 - Chinese punctuation in Chinese prompts is intended
"""The review loop in a real browser, through the real pipeline and the demo provider.

alice generates from the composer; bob, already looking at the gallery, sees the
card appear and finish without reloading, opens it, plays and seeks, and leaves a
comment pinned to a moment; alice approves; charlie, in another team, gets 404.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from studio.videos import review
from studio.videos.models import Comment, Generation, ReviewStatus, Status
from tests.conftest import screenshot, sign_in
from tests.factories import (
    make_generation,
    make_one_between_two_approved,
    make_ready_generation,
    poll_until_ready,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What studio.js makes of a recent time: "just now", "2 minutes ago", ...
AGE = re.compile(r"ago|now|second|minute")


def wait_until(page, expression: str, timeout: float = 10.0) -> None:
    """page.wait_for_function compiles its predicate with eval, which our CSP forbids."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def test_a_team_reviews_a_new_video_together(new_page, alice, bob, charlie, studio_on_demo_provider):
    # Nothing runs the queued submit until run_pipeline_until_ready below, so the card
    # stays in flight for as long as bob needs to see it, however slow the machine.
    bob_page = new_page()
    sign_in(bob_page, "bob@example.org")
    bob_page.goto("/")
    expect(bob_page.get_by_text("Your studio is ready")).to_be_visible()
    # Marks this document: if the gallery reloaded, the mark would be gone.
    bob_page.evaluate("window.__stillTheSamePage = true")

    alice_page = new_page()
    sign_in(alice_page, "alice@example.org")
    alice_page.goto("/compose/")
    alice_page.get_by_label("Prompt", exact=True).fill(
        "A red fox leaps over a frozen stream in a snowy birch forest at dawn"
    )
    alice_page.get_by_role("button", name="Generate video").click()
    # The composer confirms once the generation is stored (generous: CI machines get busy).
    expect(alice_page.get_by_text("is on its way")).to_be_visible(timeout=30_000)
    generation = Generation.objects.get()
    card = bob_page.locator(f"#card-{generation.code}")

    # The new card arrives on its own, in flight, with its progress bar.
    expect(card).to_be_visible(timeout=10_000)
    expect(card.locator("progress")).to_be_visible()
    expect(bob_page.locator("#gallery-empty")).to_have_count(0)
    screenshot(bob_page, "gallery-live-in-flight")

    poll_until_ready(generation)
    expect(card.locator("progress")).to_have_count(0, timeout=10_000)
    expect(card.locator("img.gcard-poster")).to_be_visible()
    assert bob_page.evaluate("window.__stillTheSamePage") is True

    # A few more cards, so the screenshot shows a gallery as a team sees it.
    make_ready_generation(
        generation.team, alice, prompt="一只红狐狸在雪地里奔跑，回头看镜头", aspect_ratio="9:16"
    )
    make_generation(
        generation.team,
        alice,
        prompt="Neon rain on a Tokyo street at night, handheld tracking shot",
        status=Status.PROCESSING,
        progress=64,
    )
    make_ready_generation(
        generation.team,
        alice,
        prompt="Slow aerial shot of waves breaking on black volcanic sand",
        review_status=ReviewStatus.APPROVED,
    )
    make_generation(
        generation.team,
        alice,
        prompt="A ballet dancer spins in an empty warehouse",
        status=Status.FAILED,
        error_message="The provider could not make this video: content policy.",
    )
    expect(bob_page.locator("article.gcard")).to_have_count(5, timeout=10_000)
    assert bob_page.evaluate("window.__stillTheSamePage") is True

    # Hovering a card plays it, muted.
    card.locator(".gcard-media").hover()
    expect(card.locator(".gcard-media")).to_have_class(re.compile("is-playing"), timeout=10_000)
    assert card.locator("video").evaluate("v => v.muted && !v.paused")
    bob_page.mouse.move(5, 5)
    screenshot(bob_page, "gallery-desktop")

    # bob opens it, plays and seeks; the file comes in ranges.
    video_responses: list[int] = []
    bob_page.on("response", lambda r: video_responses.append(r.status) if "/video.mp4" in r.url else None)
    card.locator(".gcard-media").click()
    bob_page.wait_for_url(f"**/videos/{generation.code}/")
    player = bob_page.locator("#player")
    player.evaluate("v => v.play()")
    wait_until(bob_page, "document.getElementById('player').currentTime > 0.2")
    player.evaluate("v => { v.pause(); v.currentTime = 2.5; }")
    wait_until(bob_page, "Math.abs(document.getElementById('player').currentTime - 2.5) < 0.05")
    assert 206 in video_responses

    # A comment pinned to 0:02.
    expect(bob_page.locator("[data-player-time]")).to_have_text("0:02")
    bob_page.get_by_label("Comment", exact=True).fill("The jump lands too early <b>here</b>")
    bob_page.locator("[data-at-toggle]").check()
    bob_page.get_by_role("button", name="Comment", exact=True).click()
    comment_el = bob_page.locator("li.thread").first
    expect(comment_el).to_contain_text("The jump lands too early <b>here</b>")
    expect(comment_el.locator(".timecode")).to_have_text("0:02")
    comment = Comment.objects.get()
    assert comment.author == bob and 2.4 < comment.at_seconds < 2.6

    # Clicking the timecode seeks back there.
    player.evaluate("v => { v.pause(); v.currentTime = 0; }")
    comment_el.locator(".timecode").click()
    wait_until(bob_page, "Math.abs(document.getElementById('player').currentTime - 2.5) < 0.6")
    # A reviewer has no review buttons.
    expect(bob_page.get_by_role("button", name="Approve")).to_have_count(0)
    player.evaluate("v => v.pause()")
    screenshot(bob_page, "detail-reviewer-commented")

    # alice approves; the history says who.
    alice_page.goto(f"/videos/{generation.code}/")
    expect(alice_page.locator("li.thread")).to_contain_text("The jump lands too early")
    alice_page.get_by_role("button", name="Approve").click()
    expect(alice_page.locator("#review .review-last")).to_contain_text("by Alice Adams")
    expect(alice_page.locator("#review .card-head .badge")).to_have_text("Approved")
    generation.refresh_from_db()
    assert generation.review_status == ReviewStatus.APPROVED
    screenshot(alice_page, "detail-owner-approved")

    # charlie, from another team, cannot open the page or the file.
    charlie_page = new_page()
    sign_in(charlie_page, "charlie@example.org")
    response = charlie_page.goto(f"/videos/{generation.code}/")
    assert response.status == 404
    assert charlie_page.request.get(f"/videos/{generation.code}/video.mp4").status == 404
    assert charlie_page.request.get(f"/videos/{generation.code}/poster.jpg").status == 404


def test_the_gallery_fits_a_phone(new_page, team_a, alice):
    make_ready_generation(team_a, alice, prompt="A red fox trots through fresh snow")
    make_ready_generation(team_a, alice, prompt="Vertical: a skater drops into a bowl", aspect_ratio="9:16")
    make_generation(team_a, alice, status=Status.PROCESSING, progress=30)
    page = new_page(viewport=(390, 844))
    sign_in(page, "alice@example.org")
    page.goto("/")
    expect(page.locator("article.gcard")).to_have_count(3)
    screenshot(page, "gallery-mobile")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_filters_live_in_the_url(page, team_a, alice):
    make_ready_generation(team_a, alice, prompt="A red fox trots through fresh snow")
    make_ready_generation(team_a, alice, prompt="一只红狐狸在雪中奔跑", aspect_ratio="9:16")
    sign_in(page, "alice@example.org")
    page.goto("/")
    page.get_by_placeholder("Search prompts").fill("狐狸")
    expect(page.locator("article.gcard")).to_have_count(1)
    page.wait_for_url(re.compile(r"q=%E7%8B%90%E7%8B%B8"))
    page.locator("select[name=aspect]").select_option("16:9")
    expect(page.locator("article.gcard")).to_have_count(0)
    expect(page.get_by_text("Nothing matches these filters")).to_be_visible()
    page.wait_for_url(re.compile(r"aspect=16%3A9"))
    # The URL is the view: opening it again shows the same thing.
    page.goto(page.url)
    expect(page.get_by_text("Nothing matches these filters")).to_be_visible()
    expect(page.locator("select[name=aspect]")).to_have_value("16:9")


def test_a_teammate_s_review_reaches_an_open_gallery(new_page, team_a, alice, bob):
    generation = make_ready_generation(team_a, alice, prompt="A red fox trots through fresh snow")
    doomed = make_ready_generation(team_a, alice, prompt="An outtake nobody wants")
    bob_page = new_page()
    sign_in(bob_page, "bob@example.org")
    bob_page.goto("/")
    card = bob_page.locator(f"#card-{generation.code}")
    expect(card.locator(".gcard-top .badge")).to_have_text("In review")
    expect(card.locator(".gcard-comments")).to_have_attribute("title", "0 comments")
    # The server writes the absolute time; studio.js tells the age.
    expect(card.locator("time[data-relative]")).to_have_text(AGE)
    # Marks this document: if the gallery reloaded, the mark would be gone.
    bob_page.evaluate("window.__stillTheSamePage = true")

    # alice, on the video's page, comments and approves.
    alice_page = new_page()
    sign_in(alice_page, "alice@example.org")
    alice_page.goto(f"/videos/{generation.code}/")
    alice_page.get_by_label("Comment", exact=True).fill("Ship it")
    alice_page.get_by_role("button", name="Comment", exact=True).click()
    expect(alice_page.locator("li.thread")).to_contain_text("Ship it")
    alice_page.get_by_role("button", name="Approve").click()
    expect(alice_page.locator("#review .review-last")).to_contain_text("by Alice Adams")
    expect(alice_page.locator("#review .card-head .badge")).to_have_text("Approved")

    # bob's card follows within a refresh or two, in place.
    expect(card.locator(".gcard-top .badge")).to_have_text("Approved", timeout=10_000)
    expect(card.locator(".gcard-comments")).to_have_attribute("title", "1 comment")
    expect(card.locator(".gcard-comments")).to_contain_text("1")
    expect(card.locator("time[data-relative]")).to_have_text(AGE)  # the swapped-in card too

    # alice deletes the outtake; it leaves bob's gallery too.
    alice_page.goto(f"/videos/{doomed.code}/")
    alice_page.once("dialog", lambda dialog: dialog.accept())
    alice_page.get_by_role("button", name="Delete").click()
    alice_page.wait_for_url("**/")
    expect(bob_page.locator(f"#card-{doomed.code}")).to_have_count(0, timeout=10_000)
    expect(bob_page.locator("article.gcard")).to_have_count(1)
    assert bob_page.evaluate("window.__stillTheSamePage") is True
    screenshot(bob_page, "gallery-live-approved")


def test_a_card_that_starts_to_match_the_filter_appears_in_its_place(new_page, team_a, alice, bob):
    oldest, middle, newest = make_one_between_two_approved(team_a, alice)
    bob_page = new_page()
    sign_in(bob_page, "bob@example.org")
    bob_page.goto("/?review=approved")
    expect(bob_page.locator("article.gcard")).to_have_count(2)
    bob_page.evaluate("window.__stillTheSamePage = true")
    review.set_review_status(generation=middle, actor=alice, status=ReviewStatus.APPROVED)
    expect(bob_page.locator("article.gcard")).to_have_count(3, timeout=10_000)
    order = bob_page.locator("article.gcard").evaluate_all("cards => cards.map(card => card.id)")
    assert order == [f"card-{newest.code}", f"card-{middle.code}", f"card-{oldest.code}"]
    assert bob_page.evaluate("window.__stillTheSamePage") is True
