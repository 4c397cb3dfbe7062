"""Cached gallery cards: a card is drawn again whenever what it shows changes."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from studio.videos.models import Comment, Favourite, Generation, ReviewStatus, Status
from tests.factories import make_generation


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


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


def test_a_renamed_author_and_the_age_are_never_stale(alice_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.READY)
    assert "Alice Adams" in card_html(alice_client, generation)
    User.objects.filter(pk=alice.pk).update(first_name="Alicia")
    assert "Alicia Adams" in card_html(alice_client, generation)
    Generation.objects.filter(pk=generation.pk).update(created=timezone.now() - dt.timedelta(hours=3))
    assert "3\xa0hours ago" in card_html(alice_client, generation)
