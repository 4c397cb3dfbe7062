"""A video's page and its actions: favourite, review, regenerate, delete."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studio.accounts.models import Membership, Role
from studio.videos.models import Favourite, Generation, ReviewEvent, ReviewStatus, Status
from tests.conftest import make_user
from tests.factories import make_generation, make_ready_generation

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ready(team_a, alice):
    return make_ready_generation(
        team_a,
        alice,
        prompt="A red fox trots through fresh snow",
        compiled_prompt="A red fox trots through fresh snow. Camera: slow dolly-in. No music.",
        parts={"camera": "slow dolly-in"},
        negatives=["no_music"],
    )


def detail_url(generation) -> str:
    return reverse("generation_detail", args=[generation.code])


def test_the_page_shows_everything_about_the_video(alice_client, ready):
    response = alice_client.get(detail_url(ready))
    html = response.content.decode()
    assert response.status_code == 200
    assert "A red fox trots through fresh snow. Camera: slow dolly-in. No music." in html
    assert "slow dolly-in" in html and "No music" in html  # the parts and negatives
    assert f'src="{reverse("generation_video", args=[ready.code])}"' in html
    assert '<video id="player"' in html and "controls" in html
    assert "320 \u00d7 180" in html and "4.0 s" in html and "24 fps" in html
    assert "Audio</dt><dd>Yes" in html
    assert "task-unified-1234567890-abcdef" in html
    assert "28,960 tokens" in html and "Credits reserved" in html
    assert "Sent to the provider" in html and "Ready to watch" in html
    assert "Alice Adams" in html
    assert "?download=1" in html
    assert f"{reverse('compose')}?from={ready.code}" in html
    assert "Approve" in html and "Delete" in html


def test_a_reviewer_sees_the_page_without_the_controls_they_cannot_use(bob_client, ready):
    html = bob_client.get(detail_url(ready)).content.decode()
    assert "A red fox trots" in html
    assert "Approve" not in html
    assert reverse("generation_delete", args=[ready.code]) not in html
    assert reverse("generation_regenerate", args=[ready.code]) not in html
    assert reverse("comment_add", args=[ready.code]) in html


def test_another_team_gets_404(charlie_client, ready):
    assert charlie_client.get(detail_url(ready)).status_code == 404


def test_an_unknown_code_is_404(alice_client):
    assert alice_client.get("/videos/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_signed_out_goes_to_sign_in(client, ready):
    response = client.get(detail_url(ready))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_post_is_not_allowed(alice_client, ready):
    assert alice_client.post(detail_url(ready)).status_code == 405


def test_prompts_are_shown_as_text(alice_client, team_a, alice):
    generation = make_generation(
        team_a, alice, prompt="<script>alert(1)</script>", parts={"scene": "<b>bold</b>"}
    )
    html = alice_client.get(detail_url(generation)).content.decode()
    assert "<script>alert(1)" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (Status.FAILED, "Content policy: the prompt was refused.", "Content policy: the prompt was refused."),
        (Status.EXPIRED, "", "download link expired"),
        (Status.UNKNOWN, "", "lost track of this generation"),
    ],
)
def test_a_generation_without_a_video_explains_what_happened(
    alice_client, team_a, alice, status, message, expected
):
    generation = make_generation(
        team_a, alice, status=status, error_message=message, error_code="content_policy"
    )
    html = alice_client.get(detail_url(generation)).content.decode()
    assert expected in html
    assert "<video" not in html
    # Nothing to pin a comment to: the empty list does not say to tick a box that is not there.
    assert "data-at-toggle" not in html and "at 0:00" not in html


def test_an_in_flight_generation_shows_its_progress_and_polls(alice_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.PROCESSING, progress=35)
    html = alice_client.get(detail_url(generation)).content.decode()
    assert 'hx-trigger="every 3s"' in html and 'value="35"' in html
    url = reverse("generation_status", args=[generation.code])
    response = alice_client.get(url, **HTMX)
    assert response.status_code == 200 and 'hx-trigger="every 3s"' in response.content.decode()
    generation.status = Status.READY
    generation.save()
    response = alice_client.get(url, **HTMX)
    assert response["HX-Refresh"] == "true"


def test_the_status_box_is_404_for_another_team(charlie_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.PROCESSING)
    assert charlie_client.get(reverse("generation_status", args=[generation.code])).status_code == 404


def test_versions_link_parent_and_children(alice_client, team_a, alice, ready):
    child = make_generation(team_a, alice, parent=ready, lineage=ready.lineage, derivation="regenerated")
    html = alice_client.get(detail_url(ready)).content.decode()
    assert detail_url(child) in html and "v1, this one" in html
    html = alice_client.get(detail_url(child)).content.decode()
    assert detail_url(ready) in html and "Regenerated from v1" in html


# --- Favourite --------------------------------------------------------------------


def test_favourite_toggles_with_htmx(alice_client, alice, ready):
    url = reverse("generation_favourite", args=[ready.code])
    response = alice_client.post(url, **HTMX)
    assert response.status_code == 200
    assert 'aria-pressed="true"' in response.content.decode()
    assert Favourite.objects.filter(generation=ready, user=alice).exists()
    response = alice_client.post(url, **HTMX)
    assert 'aria-pressed="false"' in response.content.decode()
    assert not Favourite.objects.filter(generation=ready, user=alice).exists()


def test_favourite_without_htmx_redirects_back(alice_client, ready):
    response = alice_client.post(reverse("generation_favourite", args=[ready.code]))
    assert response.status_code == 302 and response["Location"] == detail_url(ready)


def test_favourites_are_per_person(bob_client, alice, bob, ready):
    Favourite.objects.create(generation=ready, user=alice)
    # Reviewers may keep their own favourites: it changes nothing anyone else sees.
    assert bob_client.post(reverse("generation_favourite", args=[ready.code]), **HTMX).status_code == 200
    assert Favourite.objects.filter(generation=ready).count() == 2


def test_favourite_is_404_for_another_team_and_405_for_get(charlie_client, ready):
    url = reverse("generation_favourite", args=[ready.code])
    assert charlie_client.post(url).status_code == 404
    assert charlie_client.get(url).status_code == 405


# --- Review -------------------------------------------------------------------------


def test_an_owner_approves_and_it_is_recorded(alice_client, alice, ready):
    url = reverse("generation_review", args=[ready.code])
    response = alice_client.post(url, {"status": "approved"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="review"' in html and "Approved</span>" in html and "by Alice Adams" in html
    # The badge says where the review stands; the buttons are the moves from there.
    assert ">Approve<" not in html and ">Reject<" in html and ">Back to review<" in html
    ready.refresh_from_db()
    assert ready.review_status == ReviewStatus.APPROVED
    event = ReviewEvent.objects.get(generation=ready)
    assert event.actor == alice and event.status == ReviewStatus.APPROVED


def test_a_creator_may_review(client, team_a, ready):
    carol = make_user("carol@example.org", "Carol Cruz")
    Membership.objects.create(team=team_a, user=carol, role=Role.CREATOR)
    client.force_login(carol)
    response = client.post(reverse("generation_review", args=[ready.code]), {"status": "changes_requested"})
    assert response.status_code == 302
    ready.refresh_from_db()
    assert ready.review_status == ReviewStatus.CHANGES_REQUESTED


def test_a_reviewer_cannot_change_the_review(bob_client, ready):
    response = bob_client.post(reverse("generation_review", args=[ready.code]), {"status": "approved"})
    assert response.status_code == 403
    ready.refresh_from_db()
    assert ready.review_status == ReviewStatus.IN_REVIEW
    assert not ReviewEvent.objects.exists()


def test_review_is_404_for_another_team(charlie_client, ready):
    response = charlie_client.post(reverse("generation_review", args=[ready.code]), {"status": "approved"})
    assert response.status_code == 404


def test_review_refuses_get_and_unknown_statuses(alice_client, ready):
    url = reverse("generation_review", args=[ready.code])
    assert alice_client.get(url).status_code == 405
    assert alice_client.post(url, {"status": "published"}).status_code == 400


def test_review_signed_out_goes_to_sign_in(client, ready):
    response = client.post(reverse("generation_review", args=[ready.code]), {"status": "approved"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- Regenerate -------------------------------------------------------------------


def test_regenerate_sends_the_same_settings_as_a_new_version(alice_client, alice, ready):
    ready.duration, ready.aspect_ratio, ready.negative_text = "8", "9:16", "No snow on the lens"
    ready.save()
    response = alice_client.post(reverse("generation_regenerate", args=[ready.code]))
    version = Generation.objects.get(parent=ready)
    assert response.status_code == 302 and response["Location"] == detail_url(version)
    assert version.author == alice and version.team == ready.team
    assert version.prompt == ready.prompt and version.parts == ready.parts
    assert version.negatives == ready.negatives and version.negative_text == "No snow on the lens"
    assert (version.duration, version.aspect_ratio) == ("8", "9:16")
    assert version.status == Status.QUEUED


def test_regenerate_with_htmx_redirects_the_client(alice_client, ready):
    response = alice_client.post(reverse("generation_regenerate", args=[ready.code]), **HTMX)
    assert response["HX-Redirect"] == detail_url(Generation.objects.get(parent=ready))


def test_a_reviewer_cannot_regenerate(bob_client, ready):
    assert bob_client.post(reverse("generation_regenerate", args=[ready.code])).status_code == 403
    assert not Generation.objects.filter(parent=ready).exists()


def test_regenerate_is_404_for_another_team_and_405_for_get(charlie_client, ready):
    url = reverse("generation_regenerate", args=[ready.code])
    assert charlie_client.post(url).status_code == 404
    assert charlie_client.get(url).status_code == 405
    assert not Generation.objects.filter(parent=ready).exists()


# --- Delete -------------------------------------------------------------------------


def test_delete_removes_the_row_and_its_files_and_nothing_else(
    alice_client, team_a, alice, ready, django_capture_on_commit_callbacks
):
    sibling = make_ready_generation(team_a, alice)
    paths = [ready.video.path, ready.poster.path]
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("generation_delete", args=[ready.code]))
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert not Generation.objects.filter(pk=ready.pk).exists()
    import os

    assert not any(os.path.exists(path) for path in paths)
    assert os.path.exists(sibling.video.path) and os.path.exists(sibling.poster.path)
    assert alice_client.get(reverse("generation_video", args=[sibling.code])).status_code == 200


def test_a_creator_deletes_their_own_but_not_others(client, team_a, alice, ready):
    carol = make_user("carol@example.org", "Carol Cruz")
    Membership.objects.create(team=team_a, user=carol, role=Role.CREATOR)
    client.force_login(carol)
    assert client.post(reverse("generation_delete", args=[ready.code])).status_code == 403
    own = make_generation(team_a, carol)
    assert client.post(reverse("generation_delete", args=[own.code])).status_code == 302
    assert not Generation.objects.filter(pk=own.pk).exists()


def test_a_reviewer_cannot_delete(bob_client, ready):
    assert bob_client.post(reverse("generation_delete", args=[ready.code])).status_code == 403
    assert Generation.objects.filter(pk=ready.pk).exists()


def test_delete_is_404_for_another_team_and_405_for_get(charlie_client, ready):
    url = reverse("generation_delete", args=[ready.code])
    assert charlie_client.post(url).status_code == 404
    assert charlie_client.get(url).status_code == 405
    assert Generation.objects.filter(pk=ready.pk).exists()


def test_delete_asks_first(alice_client, ready):
    assert 'data-confirm="Delete this video' in alice_client.get(detail_url(ready)).content.decode()


@pytest.mark.parametrize(
    "name", ["generation_favourite", "generation_regenerate", "generation_delete", "comment_add"]
)
def test_actions_signed_out_go_to_sign_in(client, ready, name):
    response = client.post(reverse(name, args=[ready.code]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- A link into another of the person's teams ------------------------------------


def test_a_link_into_another_of_my_teams_opens_it_there(alice_client, alice, team_a, team_b, charlie):
    Membership.objects.create(team=team_b, user=alice, role=Role.REVIEWER)
    alice_client.get(reverse("home"))  # working in team A
    generation = make_generation(team_b, charlie, status=Status.READY, prompt="Team B's lighthouse")
    url = reverse("generation_detail", args=[generation.code])
    response = alice_client.get(url)
    assert response.status_code == 302 and response["Location"] == url
    html = alice_client.get(url).content.decode()
    assert "Switched to Team B to show this video." in html
    assert "Team B&#x27;s lighthouse" in html or "Team B's lighthouse" in html
    # The gallery is team B's now too.
    assert "lighthouse" in alice_client.get(reverse("home")).content.decode()


def test_a_link_into_a_team_i_am_not_in_is_still_404(charlie_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.READY)
    url = reverse("generation_detail", args=[generation.code])
    assert charlie_client.get(url).status_code == 404
    assert charlie_client.get(reverse("generation_video", args=[generation.code])).status_code == 404


def test_htmx_and_media_requests_never_switch_teams(alice_client, alice, team_a, team_b, charlie):
    Membership.objects.create(team=team_b, user=alice, role=Role.REVIEWER)
    alice_client.get(reverse("home"))
    generation = make_generation(team_b, charlie, status=Status.READY)
    detail = reverse("generation_detail", args=[generation.code])
    assert alice_client.get(detail, HTTP_HX_REQUEST="true").status_code == 404
    assert alice_client.get(reverse("generation_video", args=[generation.code])).status_code == 404
    assert alice_client.session["team"] == str(team_a.code)
