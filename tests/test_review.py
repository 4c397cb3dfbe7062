"""The review services, called the way views and tasks call them."""

from __future__ import annotations

import json
import os

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from studio.accounts.models import Membership, Role
from studio.videos import review
from studio.videos.models import Favourite, Generation, ReviewEvent, ReviewStatus
from tests.conftest import make_user
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


# --- Who resolves comments ----------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "writes_it", "made_the_video", "expected"),
    [
        (Role.OWNER, False, False, True),
        (Role.ADMIN, False, False, True),
        (Role.CREATOR, False, False, False),
        (Role.CREATOR, False, True, True),
        (Role.CREATOR, True, False, True),
        (Role.REVIEWER, True, False, True),
        (Role.REVIEWER, False, False, False),
    ],
)
def test_who_may_resolve_a_comment(team_a, role, writes_it, made_the_video, expected):
    person = make_user(f"{role}@example.org", "Pat Person")
    membership = Membership.objects.create(team=team_a, user=person, role=role)
    someone_else = 999_999
    allowed = membership.may_resolve(
        comment_author_id=person.pk if writes_it else someone_else,
        video_author_id=person.pk if made_the_video else someone_else,
    )
    assert allowed is expected


def test_a_former_member_s_comment_is_resolved_by_managers_only(team_a):
    creator = Membership.objects.create(team=team_a, user=make_user("c@example.org", "C"), role=Role.CREATOR)
    assert creator.may_resolve(comment_author_id=None, video_author_id=None) is False


# --- Comments: threads, resolving ---------------------------------------------------


def test_a_thread_is_resolved_once_and_reopened(team_a, alice, bob):
    generation = make_generation(team_a, alice)
    comment = review.add_comment(generation=generation, author=bob, body="Hm", at_seconds=None)
    assert review.resolve_comment(comment=comment, user=alice) is True
    assert review.resolve_comment(comment=comment, user=bob) is False
    comment.refresh_from_db()
    assert comment.resolved_by == alice
    assert review.reopen_comment(comment=comment) is True
    assert review.reopen_comment(comment=comment) is False


def test_threads_come_open_first_with_their_replies(team_a, alice, bob):
    generation = make_generation(team_a, alice)
    done = review.add_comment(generation=generation, author=bob, body="Done", at_seconds=None)
    review.resolve_comment(comment=done, user=bob)
    open_one = review.add_comment(generation=generation, author=bob, body="Open", at_seconds=None)
    review.reply_to(comment=open_one, author=alice, body="Yes")
    threads = review.comment_threads(generation=generation)
    assert [t.body for t in threads.open] == ["Open"] and [t.body for t in threads.resolved] == ["Done"]
    assert [r.body for r in threads.open[0].replies.all()] == ["Yes"]
    assert threads.count == 3


def test_a_range_of_nothing_is_a_moment(team_a, alice):
    generation = make_ready_generation(team_a, alice)
    comment = review.add_comment(generation=generation, author=alice, body="x", at_seconds=2, end_seconds=2)
    assert comment.end_seconds is None and not comment.is_range
    comment = review.add_comment(generation=generation, author=alice, body="x", at_seconds=1, end_seconds=9)
    assert comment.end_seconds == 4.0 and comment.is_range


# --- Drawings ----------------------------------------------------------------------


def test_a_drawing_keeps_only_what_may_be_drawn():
    shapes = review.clean_drawing(
        json.dumps(
            [
                {"type": "pen", "colour": "cyan", "points": [[0, 0], [0.33333333, 1]], "extra": "<svg>"},
                {"type": "rect", "points": [[1, 1], [0.5, 0.5]]},
            ]
        )
    )
    assert shapes == [
        {"type": "pen", "colour": "cyan", "points": [[0.0, 0.0], [0.3333, 1.0]]},
        {"type": "rect", "colour": "pink", "points": [[1.0, 1.0], [0.5, 0.5]]},
    ]
    assert review.clean_drawing("") == [] and review.clean_drawing(None) == []


@pytest.mark.parametrize(
    "bad",
    [
        "{}",
        "[1]",
        '[{"type": "arrow", "points": [[0, 0], [true, 0]]}]',
        '[{"type": "arrow", "points": [[0, 0], [NaN, 0]]}]',
        '[{"type": "arrow", "points": [[0, 0], [0, -0.1]]}]',
        '[{"type": "arrow", "points": [[0, 0], [0, 0], [1, 1]]}]',
        '[{"type": "arrow", "points": [[0, 0], [0, "1"]]}]',
        '[{"type": "arrow", "points": "0,0 1,1"}]',
    ],
)
def test_a_bad_drawing_is_refused(bad):
    with pytest.raises(ValidationError):
        review.clean_drawing(bad)


# --- The page's version ------------------------------------------------------------


def test_the_page_version_moves_with_everything_the_page_shows(team_a, team_b, alice, bob):
    generation = make_ready_generation(team_a, alice)
    seen = [None]

    def moved() -> bool:
        """Whether the version differs from the one an open page saw last (what it compares with)."""
        version = review.page_version(team=team_a, code=generation.code)
        fresh = version != seen[0]
        seen[0] = version
        return fresh

    assert moved()
    assert not moved()
    comment = review.add_comment(generation=generation, author=bob, body="a", at_seconds=None)
    assert moved()
    review.edit_comment(comment=comment, body="b")
    assert moved()
    review.reply_to(comment=comment, author=alice, body="c")
    assert moved()
    review.resolve_comment(comment=comment, user=alice)
    assert moved()
    review.set_review_status(generation=generation, actor=alice, status="approved")
    assert moved()
    version = review.regenerate(generation=generation, author=alice)  # same lineage
    assert moved()
    Generation.objects.filter(pk=version.pk).update(progress=50, updated=timezone.now())
    assert moved()
    version.delete()
    assert moved()
    review.delete_comment(comment=comment)
    assert moved()
    # Another team's page, or a deleted video, has no version.
    assert review.page_version(team=team_b, code=generation.code) is None
    generation.delete()
    assert review.page_version(team=team_a, code=generation.code) is None
