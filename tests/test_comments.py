"""Comments on a video: anyone in the team, optionally at a moment; edit and delete your own."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from studio.videos.models import Comment, Status
from tests.factories import make_generation, make_ready_generation

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ready(team_a, alice):
    return make_ready_generation(team_a, alice)


@pytest.fixture
def bobs_comment(ready, bob):
    return Comment.objects.create(generation=ready, author=bob, body="The fox looks great", at_seconds=2.5)


def add_url(generation) -> str:
    return reverse("comment_add", args=[generation.code])


def test_a_comment_at_a_moment_is_added_in_place(alice_client, alice, ready):
    response = alice_client.post(
        add_url(ready), {"body": "Hold this frame longer", "at_seconds": "3.25"}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    # An empty form in the old one's place; the list and the page's live version out of band.
    assert html.lstrip().startswith('<form method="post"') and 'id="comment-form"' in html
    assert '<div id="comment-list" class="comment-list" hx-swap-oob="true"' in html
    assert '<div id="detail-live"' in html and 'hx-swap-oob="true"' in html
    comment = Comment.objects.get(generation=ready)
    assert (comment.author, comment.body, comment.at_seconds) == (alice, "Hold this frame longer", 3.25)
    assert 'data-comment-at="3.250"' in html and 'data-at="3.250"' in html and ">0:03" in html
    assert "Hold this frame longer" in html


def test_a_comment_about_the_whole_video_has_no_moment(alice_client, ready):
    alice_client.post(add_url(ready), {"body": "Love it", "at_seconds": ""}, **HTMX)
    assert Comment.objects.get(generation=ready).at_seconds is None


def test_a_moment_past_the_end_is_kept_inside_the_video(alice_client, ready):
    alice_client.post(add_url(ready), {"body": "End", "at_seconds": "4.7"}, **HTMX)
    assert Comment.objects.get(generation=ready).at_seconds == 4.0


def test_a_reviewer_may_comment(bob_client, bob, ready):
    response = bob_client.post(add_url(ready), {"body": "Approved from my side"}, **HTMX)
    assert response.status_code == 200
    assert Comment.objects.get(generation=ready).author == bob


def test_without_htmx_it_redirects_to_the_comments(alice_client, ready):
    response = alice_client.post(add_url(ready), {"body": "Plain form"})
    assert response.status_code == 302
    assert response["Location"] == reverse("generation_detail", args=[ready.code]) + "#comments"


def test_an_empty_comment_shows_an_error(alice_client, ready):
    response = alice_client.post(add_url(ready), {"body": "   "}, **HTMX)
    assert "Write something first." in response.content.decode()
    assert not Comment.objects.exists()


def test_a_negative_moment_is_refused(alice_client, ready):
    alice_client.post(add_url(ready), {"body": "x", "at_seconds": "-3"}, **HTMX)
    assert not Comment.objects.exists()


def test_comments_are_shown_as_text(alice_client, ready):
    alice_client.post(add_url(ready), {"body": "<script>alert(1)</script>\n<b>hi</b>"}, **HTMX)
    html = alice_client.get(reverse("generation_detail", args=[ready.code])).content.decode()
    assert "<script>alert(1)" not in html and "<b>hi</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<br>&lt;b&gt;hi&lt;/b&gt;" in html


def test_another_team_cannot_comment(charlie_client, ready):
    assert charlie_client.post(add_url(ready), {"body": "hello"}).status_code == 404
    assert not Comment.objects.exists()


def test_comment_add_refuses_get(alice_client, ready):
    assert alice_client.get(add_url(ready)).status_code == 405


def test_you_edit_your_own_comment_in_place(bob_client, bobs_comment):
    url = reverse("comment_edit", args=[bobs_comment.code])
    form = bob_client.get(url, **HTMX)
    assert form.status_code == 200 and "The fox looks great</textarea>" in form.content.decode()
    response = bob_client.post(url, {"body": "The fox looks superb"}, **HTMX)
    assert response.status_code == 200
    assert "The fox looks superb" in response.content.decode() and "(edited)" in response.content.decode()
    bobs_comment.refresh_from_db()
    assert bobs_comment.body == "The fox looks superb" and bobs_comment.edited is not None
    assert bobs_comment.at_seconds == 2.5


def test_editing_without_htmx_works_too(bob_client, bobs_comment):
    url = reverse("comment_edit", args=[bobs_comment.code])
    assert "<html" in bob_client.get(url).content.decode()
    assert bob_client.post(url, {"body": "Changed"}).status_code == 302


def test_cancel_shows_the_comment_again(bob_client, bobs_comment):
    response = bob_client.get(reverse("comment_detail", args=[bobs_comment.code]), **HTMX)
    assert "The fox looks great" in response.content.decode()


def test_an_empty_edit_is_refused(bob_client, bobs_comment):
    response = bob_client.post(reverse("comment_edit", args=[bobs_comment.code]), {"body": ""}, **HTMX)
    assert "Write something first." in response.content.decode()
    bobs_comment.refresh_from_db()
    assert bobs_comment.body == "The fox looks great"


def test_you_cannot_edit_or_delete_someone_else_s_comment(alice_client, bobs_comment):
    assert alice_client.get(reverse("comment_edit", args=[bobs_comment.code])).status_code == 403
    assert (
        alice_client.post(reverse("comment_edit", args=[bobs_comment.code]), {"body": "x"}).status_code == 403
    )
    assert alice_client.post(reverse("comment_delete", args=[bobs_comment.code])).status_code == 403
    bobs_comment.refresh_from_db()
    assert bobs_comment.body == "The fox looks great"


def test_other_people_s_comments_have_no_edit_buttons(alice_client, ready, bobs_comment):
    html = alice_client.get(reverse("generation_detail", args=[ready.code])).content.decode()
    assert reverse("comment_edit", args=[bobs_comment.code]) not in html


def test_you_delete_your_own_comment(bob_client, bobs_comment):
    response = bob_client.post(reverse("comment_delete", args=[bobs_comment.code]), **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="comment-list"' in html and "The fox looks great" not in html
    assert not Comment.objects.exists()


def test_delete_refuses_get(bob_client, bobs_comment):
    assert bob_client.get(reverse("comment_delete", args=[bobs_comment.code])).status_code == 405


@pytest.mark.parametrize("name", ["comment_detail", "comment_edit", "comment_delete"])
def test_another_team_gets_404_on_a_comment(charlie_client, bobs_comment, name):
    url = reverse(name, args=[bobs_comment.code])
    response = charlie_client.get(url) if name != "comment_delete" else charlie_client.post(url)
    assert response.status_code == 404


@pytest.mark.parametrize("name", ["comment_detail", "comment_edit", "comment_delete"])
def test_signed_out_goes_to_sign_in(client, bobs_comment, name):
    response = client.post(reverse(name, args=[bobs_comment.code]))
    assert response.status_code in (302, 405)
    response = client.get(reverse(name, args=[bobs_comment.code]))
    assert response.status_code in (302, 405)
    if response.status_code == 302:
        assert response["Location"].startswith(reverse("login"))


# --- Replies, resolving, ranges and drawings ------------------------------------------

ARROW = {"type": "arrow", "colour": "yellow", "points": [[0.1, 0.2], [0.5, 0.6]]}
RECT = {"type": "rect", "colour": "pink", "points": [[0.2, 0.25], [0.6, 0.75]]}


def test_a_reviewer_replies_in_the_thread(bob_client, bob, ready, alice):
    first = Comment.objects.create(generation=ready, author=alice, body="Too dark?")
    response = bob_client.post(reverse("comment_reply", args=[first.code]), {"body": "A little"}, **HTMX)
    assert response.status_code == 200
    reply = Comment.objects.get(parent=first)
    assert (reply.author, reply.body, reply.generation) == (bob, "A little", ready)
    html = response.content.decode()
    assert 'id="comment-list"' in html and "A little" in html and 'class="replies"' in html


def test_a_reply_to_a_reply_joins_the_thread(bob_client, ready, alice):
    first = Comment.objects.create(generation=ready, author=alice, body="Too dark?")
    reply = Comment.objects.create(generation=ready, author=alice, parent=first, body="Or fine")
    bob_client.post(reverse("comment_reply", args=[reply.code]), {"body": "Fine"}, **HTMX)
    assert Comment.objects.get(body="Fine").parent == first


def test_an_empty_reply_says_so_next_to_its_field(bob_client, ready, alice):
    first = Comment.objects.create(generation=ready, author=alice, body="Too dark?")
    response = bob_client.post(reverse("comment_reply", args=[first.code]), {"body": "  "}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "Write something first." in html
    assert f'id="reply-{first.code}" open' in html
    assert not Comment.objects.filter(parent=first).exists()


def test_an_empty_reply_without_htmx_shows_the_page_with_the_error(bob_client, ready, alice):
    first = Comment.objects.create(generation=ready, author=alice, body="Too dark?")
    response = bob_client.post(reverse("comment_reply", args=[first.code]), {"body": ""})
    assert response.status_code == 400 and "Write something first." in response.content.decode()


def test_another_team_cannot_reply(charlie_client, bobs_comment):
    response = charlie_client.post(reverse("comment_reply", args=[bobs_comment.code]), {"body": "hi"})
    assert response.status_code == 404
    assert not Comment.objects.filter(parent=bobs_comment).exists()


def test_reply_refuses_get(bob_client, bobs_comment):
    assert bob_client.get(reverse("comment_reply", args=[bobs_comment.code])).status_code == 405


def test_the_author_resolves_and_reopens_their_comment(bob_client, bob, bobs_comment):
    response = bob_client.post(reverse("comment_resolve", args=[bobs_comment.code]), **HTMX)
    assert response.status_code == 200
    bobs_comment.refresh_from_db()
    assert bobs_comment.resolved_at is not None and bobs_comment.resolved_by == bob
    html = response.content.decode()
    assert "Show resolved (1)" in html and "Every comment is resolved." in html
    # A resolved comment is no marker on the scrubber.
    assert "data-comment-at" not in html
    response = bob_client.post(reverse("comment_reopen", args=[bobs_comment.code]), **HTMX)
    bobs_comment.refresh_from_db()
    assert bobs_comment.resolved_at is None and "Show resolved" not in response.content.decode()


def test_the_video_s_author_resolves_a_reviewer_s_comment(alice_client, alice, bobs_comment):
    assert alice_client.post(reverse("comment_resolve", args=[bobs_comment.code])).status_code == 302
    bobs_comment.refresh_from_db()
    assert bobs_comment.resolved_by == alice


def test_a_reviewer_may_not_resolve_someone_else_s_comment(bob_client, ready, alice):
    comment = Comment.objects.create(generation=ready, author=alice, body="Mine")
    assert bob_client.post(reverse("comment_resolve", args=[comment.code]), **HTMX).status_code == 403
    comment.refresh_from_db()
    assert comment.resolved_at is None
    html = bob_client.get(reverse("generation_detail", args=[ready.code])).content.decode()
    assert reverse("comment_resolve", args=[comment.code]) not in html


def test_another_team_cannot_resolve(charlie_client, bobs_comment):
    assert charlie_client.post(reverse("comment_resolve", args=[bobs_comment.code])).status_code == 404
    assert charlie_client.post(reverse("comment_reopen", args=[bobs_comment.code])).status_code == 404


def test_resolving_a_reply_resolves_its_thread(bob_client, bobs_comment, bob):
    reply = Comment.objects.create(
        generation=bobs_comment.generation, author=bob, parent=bobs_comment, body="ok"
    )
    bob_client.post(reverse("comment_resolve", args=[reply.code]), **HTMX)
    bobs_comment.refresh_from_db()
    reply.refresh_from_db()
    assert bobs_comment.resolved_at is not None and reply.resolved_at is None


def test_a_range_comment_keeps_both_ends(alice_client, ready):
    response = alice_client.post(
        add_url(ready), {"body": "This stretch drags", "at_seconds": "1", "end_seconds": "2.5"}, **HTMX
    )
    comment = Comment.objects.get()
    assert (comment.at_seconds, comment.end_seconds) == (1.0, 2.5)
    html = response.content.decode()
    assert (
        'data-comment-at="1.000" data-comment-end="2.500" data-comment-label' in html
        and "0:01\u20130:02" in html
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"at_seconds": "3", "end_seconds": "1"}, "The range ends (0:01) before it starts (0:03)"),
        ({"end_seconds": "2"}, "Pin the comment to a moment first"),
        ({"at_seconds": "9"}, "past the end of the video (0:04)"),
        ({"at_seconds": "1", "end_seconds": "40"}, "past the end of the video (0:04)"),
        ({"at_seconds": "1", "end_seconds": "x"}, "could not be read"),
        ({"drawing": json.dumps([ARROW])}, "Pin the comment to a moment first"),
        ({"at_seconds": "1", "drawing": "{nope"}, "The drawing could not be read"),
        (
            {"at_seconds": "1", "drawing": json.dumps([{**ARROW, "type": "circle"}])},
            "Only arrows, rectangles",
        ),
        ({"at_seconds": "1", "drawing": json.dumps([{**ARROW, "points": [[0.1, 1.5], [0, 0]]}])}, "outside"),
        (
            {"at_seconds": "1", "drawing": json.dumps([{**ARROW, "points": [[0.1, 0.2]]}])},
            "missing its points",
        ),
        ({"at_seconds": "1", "drawing": json.dumps([{**ARROW, "colour": "red"}])}, "drawing colours"),
        ({"at_seconds": "1", "drawing": json.dumps([ARROW] * 31)}, "at most 30 shapes"),
        (
            {"at_seconds": "1", "drawing": json.dumps([{"type": "pen", "points": [[0.5, 0.5]] * 401}])},
            "too long; split it",
        ),
        ({"at_seconds": "1", "drawing": "[" + "1," * 40000 + "1]"}, "too detailed"),
    ],
)
def test_a_bad_moment_or_drawing_is_explained_and_nothing_is_saved(alice_client, ready, data, message):
    response = alice_client.post(add_url(ready), {"body": "Look here", **data}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and message in html
    assert "Look here</textarea>" in html  # what was typed stays
    assert not Comment.objects.exists()
    # The same without htmx: the page again, with the message.
    response = alice_client.post(add_url(ready), {"body": "Look here", **data})
    assert response.status_code == 400 and message in response.content.decode()


def test_a_drawing_is_saved_rounded_and_rendered_as_data(alice_client, ready):
    hostile = {**RECT, "points": [[0.123456789, 0.25], [0.6, 0.75]], "onload": "alert(1)", "html": "<b>x</b>"}
    alice_client.post(
        add_url(ready),
        {"body": "Crop to this", "at_seconds": "2", "drawing": json.dumps([ARROW, hostile])},
        **HTMX,
    )
    comment = Comment.objects.get()
    assert comment.drawing == [ARROW, {**RECT, "points": [[0.1235, 0.25], [0.6, 0.75]]}]
    html = alice_client.get(reverse("generation_detail", args=[ready.code])).content.decode()
    assert 'data-drawing="[{&quot;type&quot;:&quot;arrow&quot;' in html
    assert "onload" not in html and "&lt;b&gt;x" not in html
    assert 'data-drawing-at="2.000"' in html and "has-drawing" in html


def test_a_failed_generation_takes_comments_but_no_moments(alice_client, team_a, alice):
    failed = make_generation(team_a, alice, status=Status.FAILED, error_message="Content policy")
    response = alice_client.post(add_url(failed), {"body": "Try a softer prompt"}, **HTMX)
    assert response.status_code == 200 and Comment.objects.get().generation == failed
    response = alice_client.post(add_url(failed), {"body": "At 1s", "at_seconds": "1"}, **HTMX)
    assert "no video to point at" in response.content.decode()
    html = alice_client.get(reverse("generation_detail", args=[failed.code])).content.decode()
    assert "data-at-toggle" not in html and "data-draw-tool" not in html and "Tick" not in html


def test_a_long_comment_is_refused_with_its_length(alice_client, ready):
    response = alice_client.post(add_url(ready), {"body": "x" * 4001}, **HTMX)
    assert "at most 4000 characters; this one has 4001" in response.content.decode()


def test_deleting_a_thread_s_comment_takes_its_replies(bob_client, bobs_comment, alice):
    Comment.objects.create(generation=bobs_comment.generation, author=alice, parent=bobs_comment, body="ok")
    bob_client.post(reverse("comment_delete", args=[bobs_comment.code]), **HTMX)
    assert not Comment.objects.exists()


def test_the_page_reads_its_threads_in_a_constant_number_of_queries(
    alice_client, ready, alice, bob, django_assert_max_num_queries
):
    for index in range(6):
        thread = Comment.objects.create(
            generation=ready, author=bob, body=f"Note {index}", at_seconds=index / 2
        )
        Comment.objects.create(generation=ready, author=alice, parent=thread, body="Reply")
    with django_assert_max_num_queries(30) as queries:
        alice_client.get(reverse("generation_detail", args=[ready.code]))
    few = len(queries)
    for index in range(6):
        thread = Comment.objects.create(generation=ready, author=bob, body=f"More {index}")
        Comment.objects.create(generation=ready, author=bob, parent=thread, body="Reply")
    with django_assert_max_num_queries(few):
        alice_client.get(reverse("generation_detail", args=[ready.code]))
