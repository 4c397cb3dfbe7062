"""The review services, called the way views and tasks call them."""

from __future__ import annotations

import os

from studio.videos import review
from studio.videos.models import Favourite, Generation, ReviewEvent, ReviewStatus
from tests.factories import make_generation, make_ready_generation


def test_a_review_change_is_recorded_once(team_a, alice):
    generation = make_generation(team_a, alice)
    event = review.set_review_status(generation=generation, actor=alice, status="approved")
    assert event is not None and event.actor == alice
    assert review.set_review_status(generation=generation, actor=alice, status="approved") is None
    review.set_review_status(generation=generation, actor=alice, status=ReviewStatus.REJECTED)
    generation.refresh_from_db()
    assert generation.review_status == ReviewStatus.REJECTED
    assert list(ReviewEvent.objects.values_list("status", flat=True)) == ["rejected", "approved"]


def test_toggle_favourite(team_a, alice):
    generation = make_generation(team_a, alice)
    assert review.toggle_favourite(generation=generation, user=alice) is True
    assert review.toggle_favourite(generation=generation, user=alice) is False
    assert not Favourite.objects.exists()


def test_delete_generation_removes_only_its_own_files(team_a, alice, django_capture_on_commit_callbacks):
    doomed = make_ready_generation(team_a, alice)
    sibling = make_ready_generation(team_a, alice)
    doomed_paths = [doomed.video.path, doomed.poster.path]
    with django_capture_on_commit_callbacks(execute=True):
        review.delete_generation(generation=doomed)
    assert not Generation.objects.filter(pk=doomed.pk).exists()
    assert not any(os.path.exists(path) for path in doomed_paths)
    assert os.path.exists(sibling.video.path) and os.path.exists(sibling.poster.path)


def test_deleting_a_parent_keeps_its_versions(team_a, alice):
    parent = make_generation(team_a, alice)
    child = make_generation(team_a, alice, parent=parent)
    review.delete_generation(generation=parent)
    child.refresh_from_db()
    assert child.parent is None


def test_regenerate_creates_a_queued_version(team_a, alice, bob):
    parent = make_generation(team_a, alice, parts={"scene": "snowy forest"}, negatives=["no_text"])
    version = review.regenerate(generation=parent, author=bob)
    assert version.parent == parent and version.author == bob
    assert version.parts == {"scene": "snowy forest"} and version.negatives == ["no_text"]
