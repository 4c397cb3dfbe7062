"""Cached gallery cards: a card is drawn again whenever what it shows changes."""

from __future__ import annotations

import datetime as dt
import re
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache, caches
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from studio.videos.models import Comment, Favourite, Generation, ReviewStatus, Status
from tests.factories import make_generation


def clear_caches() -> None:
    for each in caches.all():
        each.clear()


@pytest.fixture(autouse=True)
def _empty_cache():
    clear_caches()
    yield
    clear_caches()


def card_html(client, generation: Generation) -> str:
    html = client.get(reverse("home")).content.decode()
    match = re.search(rf'<article[^>]*id="card-{generation.code}".*?</article>', html, re.S)
    assert match, "the card is not in the gallery"
    return match.group(0)


def test_the_second_visit_serves_cached_cards(alice_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.READY, progress=100)
    first = card_html(alice_client, generation)
    assert any("gcard:" in key for key in cache._cache)  # the local-memory cache's entries
    assert card_html(alice_client, generation) == first


def test_a_review_status_change_is_shown_even_without_a_new_updated(alice_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.READY, review_status=ReviewStatus.IN_REVIEW)
    assert "In review" in card_html(alice_client, generation)
    # A queryset update leaves `updated` alone: the key must not rely on it.
    Generation.objects.filter(pk=generation.pk).update(review_status=ReviewStatus.APPROVED)
    card = card_html(alice_client, generation)
    assert "Approved" in card
    assert "In review" not in card


def test_progress_moves_on_the_card(alice_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.PROCESSING, progress=20)
    assert 'value="20"' in card_html(alice_client, generation)
    Generation.objects.filter(pk=generation.pk).update(progress=65)
    card = card_html(alice_client, generation)
    assert 'value="65"' in card
    assert f"{generation.code}:processing:65" in card


def test_a_new_comment_changes_the_count(alice_client, team_a, alice, bob):
    generation = make_generation(team_a, alice, status=Status.READY)
    assert 'title="0 comments"' in card_html(alice_client, generation)
    Comment.objects.create(generation=generation, author=bob, body="Lovely light")
    assert 'title="1 comment"' in card_html(alice_client, generation)


def test_the_favourite_mark_is_the_viewer_s_own(alice_client, team_a, alice, bob):
    generation = make_generation(team_a, alice, status=Status.READY)
    assert "gcard-fav" not in card_html(alice_client, generation)
    Favourite.objects.create(generation=generation, user=alice)
    assert "gcard-fav" in card_html(alice_client, generation)
    # Bob has not marked it: he never gets Alice's cached card.
    bob_client = Client()
    bob_client.force_login(bob)
    assert "gcard-fav" not in card_html(bob_client, generation)


def test_a_renamed_author_is_never_stale(alice_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.READY)
    assert "Alice Adams" in card_html(alice_client, generation)
    User.objects.filter(pk=alice.pk).update(first_name="Alicia")
    assert "Alicia Adams" in card_html(alice_client, generation)


def gallery_card_keys() -> set[str]:
    return {key for key in cache._cache if "gcard:" in key}


def test_a_card_does_not_change_as_time_passes(alice_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.READY)
    created = dt.datetime(2025, 5, 3, 14, 15, 7, 123456, tzinfo=dt.UTC)
    Generation.objects.filter(pk=generation.pk).update(created=created)
    card = card_html(alice_client, generation)
    # The age is the browser's job (studio.js): the server writes the absolute time.
    assert '<time datetime="2025-05-03T14:15:07.123456+00:00" data-relative' in card
    assert ">3 May 2025, 14:15</time>" in card
    assert "ago" not in card
    keys = gallery_card_keys()

    # Three days on, the card is drawn afresh under the same key, identical.
    clear_caches()
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() + dt.timedelta(days=3)):
        assert card_html(alice_client, generation) == card
    assert gallery_card_keys() == keys


def test_a_card_shows_the_time_in_the_studio_s_zone(alice_client, team_a, alice, settings):
    settings.TIME_ZONE = "Europe/Paris"
    generation = make_generation(team_a, alice, status=Status.READY)
    created = dt.datetime(2025, 5, 3, 14, 15, tzinfo=dt.UTC)
    Generation.objects.filter(pk=generation.pk).update(created=created)
    card = card_html(alice_client, generation)
    assert '<time datetime="2025-05-03T16:15:00+02:00" data-relative' in card
    assert ">3 May 2025, 16:15</time>" in card
