"""A video's page keeps itself up to date: its live refresh, and what a page without a video offers."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from studio.videos import review
from studio.videos.models import Comment, Generation, Status
from tests.factories import make_generation, make_ready_generation

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ready(team_a, alice):
    return make_ready_generation(team_a, alice)


def live_query(html: str) -> dict[str, str]:
    """What the page's live element asks with: its version and its parts' tokens."""
    match = re.search(r'id="detail-live"[^>]*hx-get="([^"]+)"', html)
    assert match, "no live element"
    query = parse_qs(urlsplit(unescape(match.group(1))).query, keep_blank_values=True)
    return {key: values[0] for key, values in query.items()}


def changes(client, generation, query: dict[str, str]):
    return client.get(reverse("generation_changes", args=[generation.code]), query, **HTMX)


def page_query(client, generation) -> dict[str, str]:
    return live_query(client.get(reverse("generation_detail", args=[generation.code])).content.decode())


def test_nothing_changed_is_a_204_from_one_query(alice_client, ready):
    query = page_query(alice_client, ready)
    assert set(query) == {"v", "c", "r", "n", "s"}
    with CaptureQueriesContext(connection) as queries:
        response = changes(alice_client, ready, query)
    assert response.status_code == 204
    # The session, the user and the membership, then one query on the generations.
    generation_queries = [q for q in queries.captured_queries if "videos_generation" in q["sql"]]
    assert len(generation_queries) == 1


def test_open_pages_ask_every_4_s_unless_the_setting_says_otherwise(alice_client, ready, settings):
    # The browser tests shorten it (conftest's new_page) so that they wait less for what they watch.
    detail, gallery = reverse("generation_detail", args=[ready.code]), reverse("home")
    for url, element in ((detail, "detail-live"), (gallery, "gallery-live")):
        html = alice_client.get(url).content.decode()
        assert re.search(rf'id="{element}"[^>]*hx-trigger="every 4s, wake"', html, re.DOTALL), url
    settings.STUDIO_LIVE_REFRESH_SECONDS = 0.5
    for url in (detail, gallery):
        assert 'hx-trigger="every 0.5s, wake"' in alice_client.get(url).content.decode()


def test_a_teammate_s_comment_arrives_with_only_the_comments(alice_client, ready, bob):
    query = page_query(alice_client, ready)
    review.add_comment(generation=ready, author=bob, body="Lovely snow", at_seconds=1.5)
    response = changes(alice_client, ready, query)
    html = response.content.decode()
    assert response.status_code == 200
    assert '<div id="comment-list" class="comment-list" hx-swap-oob="true"' in html and "Lovely snow" in html
    assert 'data-announce="New comment from Bob Brown"' in html
    assert 'id="review"' not in html and "detail-versions" not in html
    # The new live element carries the newer version: asking with it is quick again.
    newer = live_query(html)
    assert newer["v"] != query["v"] and newer["c"] != query["c"]
    assert changes(alice_client, ready, newer).status_code == 204


def test_your_own_comment_is_not_announced_to_you(alice_client, alice, ready):
    query = page_query(alice_client, ready)
    review.add_comment(generation=ready, author=alice, body="Mine", at_seconds=None)
    html = changes(alice_client, ready, query).content.decode()
    assert "Mine" in html and "data-announce" not in html


def test_edits_deletes_and_resolving_reach_the_page(alice_client, ready, bob):
    comment = review.add_comment(generation=ready, author=bob, body="First take", at_seconds=None)
    for change, expected in (
        (lambda: review.edit_comment(comment=comment, body="Second take"), "Second take"),
        (lambda: review.resolve_comment(comment=comment, user=bob), "Show resolved (1)"),
        (lambda: review.reopen_comment(comment=comment), "Second take"),
        (lambda: review.reply_to(comment=comment, author=bob, body="And a reply"), "And a reply"),
        (lambda: review.delete_comment(comment=comment), "No comments yet."),
    ):
        query = page_query(alice_client, ready)
        change()
        html = changes(alice_client, ready, query).content.decode()
        assert 'id="comment-list"' in html and expected in html, expected


def test_a_teammate_s_review_arrives_with_only_the_review(bob_client, ready, alice):
    query = page_query(bob_client, ready)
    review.set_review_status(generation=ready, actor=alice, status="approved")
    html = changes(bob_client, ready, query).content.decode()
    assert '<section class="card card-tight review-card" id="review"' in html and 'hx-swap-oob="true"' in html
    assert 'data-announce="Alice Adams set the review to Approved"' in html
    assert "comment-list" not in html
    # bob is a reviewer: the panel he gets has no buttons either.
    assert "review-buttons" not in html


def test_a_new_version_arrives_in_the_versions(alice_client, ready, bob):
    query = page_query(alice_client, ready)
    make_generation(ready.team, bob, parent=ready, lineage=ready.lineage, status=Status.QUEUED)
    html = changes(alice_client, ready, query).content.decode()
    assert '<div id="detail-versions" hx-swap-oob="true"' in html and "v2" in html
    assert 'data-announce="Bob Brown started a new version"' in html
    assert "comment-list" not in html and 'id="review"' not in html


def test_a_version_s_progress_reaches_the_versions(alice_client, ready, bob):
    version = make_generation(ready.team, bob, parent=ready, lineage=ready.lineage, status=Status.PROCESSING)
    query = page_query(alice_client, ready)
    Generation.objects.filter(pk=version.pk).update(progress=40, updated=timezone.now())  # what a poll writes
    html = changes(alice_client, ready, query).content.decode()
    assert '<div id="detail-versions" hx-swap-oob="true"' in html  # its badge and state live there


def test_a_status_change_reloads_the_page(alice_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.UNKNOWN)
    query = page_query(alice_client, generation)
    generation.status = Status.PROCESSING
    generation.save()
    response = changes(alice_client, generation, query)
    assert response.status_code == 200 and response["HX-Refresh"] == "true"


def test_progress_of_the_video_itself_does_not_reload(alice_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.PENDING)
    query = page_query(alice_client, generation)
    generation.status = Status.PROCESSING
    generation.save()
    response = changes(alice_client, generation, query)
    assert response.status_code == 200 and "HX-Refresh" not in response


def test_a_deleted_video_says_so_and_stops_asking(alice_client, ready):
    query = page_query(alice_client, ready)
    ready.delete()
    response = changes(alice_client, ready, query)
    html = response.content.decode()
    assert response.status_code == 404 and "This video was deleted" in html and "hx-trigger" not in html


def test_another_team_gets_404(charlie_client, ready):
    assert changes(charlie_client, ready, {"v": ""}).status_code == 404


def test_a_reviewer_gets_changes_too(bob_client, ready, alice):
    query = page_query(bob_client, ready)
    review.add_comment(generation=ready, author=alice, body="Hello bob", at_seconds=None)
    assert "Hello bob" in changes(bob_client, ready, query).content.decode()


def test_a_malformed_query_gets_the_whole_picture_not_an_error(alice_client, ready):
    for query in ({}, {"v": "abc", "c": "x", "r": "", "n": "-1", "s": "ready"}, {"v": "1e309"}):
        response = changes(alice_client, ready, query)
        assert response.status_code in (200, 286) or response["HX-Refresh"] == "true"


def test_changes_refuses_post(alice_client, ready):
    assert alice_client.post(reverse("generation_changes", args=[ready.code])).status_code == 405


def test_your_own_change_brings_the_new_version_with_it(alice_client, ready):
    """After a comment, the page's live element is the newer one: its next ask is a 204."""
    response = alice_client.post(reverse("comment_add", args=[ready.code]), {"body": "Noted"}, **HTMX)
    query = live_query(response.content.decode())
    assert changes(alice_client, ready, query).status_code == 204
    response = alice_client.post(
        reverse("generation_review", args=[ready.code]), {"status": "approved"}, **HTMX
    )
    query = live_query(response.content.decode())
    assert changes(alice_client, ready, query).status_code == 204


# --- A generation without a video ----------------------------------------------------


@pytest.mark.parametrize("status", [Status.FAILED, Status.EXPIRED, Status.UNKNOWN])
def test_a_generation_without_a_video_offers_only_what_makes_sense(alice_client, team_a, alice, status):
    generation = make_generation(team_a, alice, status=status, error_message="The provider refused it.")
    html = alice_client.get(reverse("generation_detail", args=[generation.code])).content.decode()
    for absent in ("Approve", "Reject", "Request changes", "In review", "favourite", "Download", "Tick"):
        assert absent not in html, absent
    assert ">Try again<" in html and ">Remix<" in html and "The provider refused it." in html


def test_an_unknown_outcome_does_not_say_so_twice(alice_client, team_a, alice):
    message = "Outcome unknown — may have been charged. The studio sent this prompt and lost the answer."
    generation = make_generation(team_a, alice, status=Status.UNKNOWN, error_message=message)
    html = alice_client.get(reverse("generation_detail", args=[generation.code])).content.decode()
    assert "<h2>Outcome unknown</h2>" in html and "<p>May have been charged. The studio sent" in html
    assert "data-at-toggle" not in html and "data-draw-tool" not in html
    # A comment about it as a whole still works.
    assert 'id="comment-form"' in html


@pytest.mark.parametrize("status", [Status.FAILED, Status.PROCESSING])
def test_no_review_or_favourite_without_a_video(alice_client, team_a, alice, status):
    generation = make_generation(team_a, alice, status=status)
    review_url = reverse("generation_review", args=[generation.code])
    assert alice_client.post(review_url, {"status": "approved"}, **HTMX).status_code == 403
    assert (
        alice_client.post(reverse("generation_favourite", args=[generation.code]), **HTMX).status_code == 403
    )
    generation.refresh_from_db()
    assert generation.review_status == "in_review" and not generation.favourites.exists()


def test_an_unknown_outcome_asks_before_sending_again(alice_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.UNKNOWN)
    html = alice_client.get(reverse("generation_detail", args=[generation.code])).content.decode()
    assert "may have started (and billed) this one already" in html


def test_a_reviewer_sees_no_try_again_on_a_failed_one(bob_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.FAILED)
    html = bob_client.get(reverse("generation_detail", args=[generation.code])).content.decode()
    assert ">Try again<" not in html and ">Remix<" not in html


def test_a_ready_video_s_review_panel_does_not_repeat_itself(alice_client, ready, alice):
    review.set_review_status(generation=ready, actor=alice, status="approved")
    html = alice_client.get(reverse("generation_detail", args=[ready.code])).content.decode()
    panel = html[html.index('id="review"') : html.index("</section>", html.index('id="review"'))]
    assert panel.count("Approved") == 1 and "by Alice Adams" in panel


def test_comment_markers_carry_the_player_s_attributes(alice_client, ready, bob):
    point = Comment.objects.create(generation=ready, author=bob, body="p", at_seconds=1.25)
    ranged = Comment.objects.create(generation=ready, author=bob, body="r", at_seconds=1, end_seconds=3)
    html = alice_client.get(reverse("generation_detail", args=[ready.code])).content.decode()
    assert (
        f'data-comment-code="{point.code}" data-comment-at="1.250" data-comment-label="Bob Brown: p"' in html
    )
    assert f'data-comment-code="{ranged.code}" data-comment-at="1.000" data-comment-end="3.000"' in html
