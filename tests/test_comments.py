"""Comments on a video: anyone in the team, optionally at a moment; edit and delete your own."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studio.videos.models import Comment
from tests.factories import make_ready_generation

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
