"""The team's gallery version: every change a gallery shows moves it, and pages are cached under it.

Whole gallery parts are cached under (team, gallery version, viewer, query),
so a change that did not move the version would stay out of sight: each
service that changes what a gallery shows is checked here, and so are the
changes that must not move it (a worker's claim, a poll that saw nothing new).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.admin.sites import site
from django.core.cache import caches
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from studio.accounts import services as accounts
from studio.accounts.models import Membership, Role, Team
from studio.lib import pagecache
from studio.videos import review, services
from studio.videos.models import Comment, Generation, ReviewStatus, Status
from tests.factories import make_generation


@pytest.fixture(autouse=True)
def _empty_page_cache():
    caches["pages"].clear()
    yield
    caches["pages"].clear()


def version(team: Team) -> int:
    return Team.objects.values_list("gallery_version", flat=True).get(pk=team.pk)


class Moves:
    """`with Moves(team):` fails unless the block moved the team's gallery version on."""

    def __init__(self, team: Team, *, expected: bool = True) -> None:
        self.team, self.expected = team, expected

    def __enter__(self) -> None:
        self.before = version(self.team)

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            moved = version(self.team) != self.before
            assert moved == self.expected, "version moved" if moved else "version did not move"


def stays(team: Team) -> Moves:
    return Moves(team, expected=False)


def test_every_team_starts_with_its_own_version(team_a, team_b):
    assert version(team_a) != version(team_b)


def test_making_and_deleting_a_generation_move_it(team_a, team_b, alice):
    with Moves(team_a), stays(team_b):
        generation = services.create_generation(
            team=team_a,
            author=alice,
            prompt="A lighthouse in a storm",
            parts={},
            negatives=[],
            negative_text="",
            duration="5",
            aspect_ratio="16:9",
        )
    with Moves(team_a), stays(team_b):
        review.delete_generation(generation=generation)


def test_review_comments_and_favourites_move_it(team_a, team_b, alice, bob):
    generation = make_generation(team_a, alice, status=Status.READY)
    with Moves(team_a), stays(team_b):
        review.set_review_status(generation=generation, actor=alice, status=ReviewStatus.APPROVED)
    with stays(team_a):  # the same status again changes nothing
        review.set_review_status(generation=generation, actor=alice, status=ReviewStatus.APPROVED)
    with Moves(team_a):
        comment = review.add_comment(generation=generation, author=bob, body="Nice", at_seconds=None)
    with stays(team_a):  # a card shows the count, not the words
        review.edit_comment(comment=comment, body="Nice!")
    with Moves(team_a):
        review.delete_comment(comment=Comment.objects.get(pk=comment.pk))
    with Moves(team_a):
        assert review.toggle_favourite(generation=generation, user=bob) is True
    with Moves(team_a):
        assert review.toggle_favourite(generation=generation, user=bob) is False


def test_the_pipeline_moves_it_only_when_a_card_changes(team_a, alice):
    generation = make_generation(team_a, alice, status=Status.PROCESSING, progress=10, task_id="task-1")
    later = timezone.now() + dt.timedelta(seconds=5)
    with stays(team_a):  # a worker takes the row: the card does not change
        assert generation.claim(statuses=[Status.PROCESSING], seconds=60)
    with stays(team_a):  # a poll that saw the same progress
        assert generation.mark_progress(
            status=Status.PROCESSING, progress=10, usage={}, raw={}, next_poll_at=later
        )
    assert generation.claim(statuses=[Status.PROCESSING], seconds=60)
    with Moves(team_a):
        assert generation.mark_progress(
            status=Status.PROCESSING, progress=55, usage={}, raw={}, next_poll_at=later
        )
    generation.claim(statuses=[Status.PROCESSING], seconds=60)
    with Moves(team_a):
        assert generation.mark_failed(message="The provider gave up.")


def test_members_joining_and_leaving_move_it(team_a, alice, bob):
    owner = Membership.objects.get(user=alice)
    invitation = accounts.invite(team=team_a, by=owner, role=Role.CREATOR, email="dan@example.org")
    dan = accounts.create_account(email="dan@example.org", password="a long passphrase 42", name="Dan")
    with Moves(team_a):  # the author filter lists the team's people
        membership = accounts.accept_invitation(invitation=invitation, user=dan)
    with Moves(team_a):
        accounts.remove_member(membership=membership, by=owner)


def test_changes_made_in_the_admin_move_it(team_a, alice, admin_user):
    generation = make_generation(team_a, alice, status=Status.READY)
    request = RequestFactory().post("/")
    request.user = admin_user
    model_admin = site._registry[Generation]
    generation.review_status = ReviewStatus.REJECTED
    with Moves(team_a):
        model_admin.save_model(request, generation, form=None, change=True)
    with Moves(team_a):
        model_admin.delete_model(request, generation)


# --- The cached gallery -----------------------------------------------------------


def test_a_page_opened_again_comes_from_the_cache(alice_client, team_a, alice, django_assert_num_queries):
    make_generation(team_a, alice, status=Status.READY, prompt="A fox in the snow")
    first = alice_client.get(reverse("home")).content.decode()
    with django_assert_num_queries(4):  # session, person, memberships, their teams
        again = alice_client.get(reverse("home")).content.decode()
    assert "A fox in the snow" in again
    # The shell around it is drawn afresh: its CSRF token is this response's own.
    assert first.split("x-csrftoken", 1)[1][:80] != again.split("x-csrftoken", 1)[1][:80]
    assert first.split("<h1>", 1)[1] == again.split("<h1>", 1)[1]


def test_a_change_is_seen_on_the_next_visit(alice_client, bob_client, team_a, alice, bob):
    generation = make_generation(team_a, alice, status=Status.READY)
    assert "In review" in alice_client.get(reverse("home")).content.decode()
    review.set_review_status(generation=generation, actor=alice, status=ReviewStatus.APPROVED)
    assert "Approved" in alice_client.get(reverse("home")).content.decode()


def test_cached_pages_stay_the_viewer_s_own(team_a, alice, bob):
    generation = make_generation(team_a, alice, status=Status.READY)
    review.toggle_favourite(generation=generation, user=alice)
    alice_browser, bob_browser = Client(), Client()
    alice_browser.force_login(alice)
    bob_browser.force_login(bob)
    assert "gcard-fav" in alice_browser.get(reverse("home")).content.decode()
    # bob opens the same URL at the same version: his own page, without alice's mark.
    html = bob_browser.get(reverse("home")).content.decode()
    assert "gcard-fav" not in html
    # And a reviewer is never handed the creator's "New video" button.
    assert reverse("compose") not in html.split('id="main"', 1)[1]


def test_another_team_never_gets_a_cached_page(alice_client, team_a, alice, charlie):
    make_generation(team_a, alice, status=Status.READY, prompt="Team A's secret fox")
    assert "secret fox" in alice_client.get(reverse("home")).content.decode()
    charlie_browser = Client()
    charlie_browser.force_login(charlie)
    for htmx in ({}, {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "gallery-results"}):
        response = charlie_browser.get(reverse("home"), **htmx)
        assert response.status_code == 200
        assert "secret fox" not in response.content.decode()


def test_the_live_refresh_of_a_cached_page_asks_with_its_version(alice_client, team_a, alice):
    make_generation(team_a, alice, status=Status.READY)
    alice_client.get(reverse("home"))
    html = alice_client.get(reverse("home")).content.decode()  # from the cache
    assert f"v={version(team_a)}" in html


def test_a_cached_page_carries_this_response_s_working_csrf_token(team_a, alice):
    make_generation(team_a, alice, status=Status.READY)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    browser.get(reverse("home"))
    html = browser.get(reverse("home")).content.decode()  # from the cache
    assert pagecache.csrf_hole() not in html
    token = re.search(r'"x-csrftoken": "([^"]+)"', html).group(1)
    assert f'name="csrfmiddlewaretoken" value="{token}"' in html  # the menus' forms too
    response = browser.post(reverse("team_rename"), {"name": "Renamed", "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_the_top_bar_is_never_stale(alice_client, team_a, alice):
    alice_client.get(reverse("home"))
    alice_client.post(reverse("team_rename"), {"name": "Night Crew"})
    html = alice_client.get(reverse("home")).content.decode()
    # The rename's message is shown once, on a page drawn for it...
    assert "Night Crew" in html.split('id="main"', 1)[0]
    # ...and the next visit, from the cache, still says the new name.
    assert "Night Crew" in alice_client.get(reverse("home")).content.decode().split('id="main"', 1)[0]
    alice.first_name = "Alicia"
    alice.save()
    assert "Alicia" in alice_client.get(reverse("home")).content.decode()


def test_a_message_is_shown_once_and_never_cached(alice_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.READY)
    alice_client.get(reverse("home"))
    response = alice_client.post(reverse("generation_delete", args=[generation.code]), follow=True)
    flashes = re.findall(r'class="flash[^"]*"', response.content.decode())
    assert flashes, "the delete's message is shown"
    assert not re.findall(r'class="flash[^"]*"', alice_client.get(reverse("home")).content.decode())
