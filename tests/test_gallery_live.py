"""The live refresh for finished cards: a teammate's review, comment or delete shows up without a reload.

Finished cards send "code.version" (`seen`); the version is the row's `updated`, which
every change to what a card shows moves in the same call. The page also sends the newest
`updated` it has seen (v): "nothing changed" is read from the rows, never announced.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from studio.videos import gallery, review
from studio.videos.models import Comment, Favourite, ReviewStatus, Status
from tests.factories import live_refresh, make_generation, make_one_between_two_approved

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice_acts(alice) -> Client:
    """alice in her own browser, while bob_client watches the gallery."""
    client = Client()
    client.force_login(alice)
    return client


def open_gallery(client, **params) -> dict:
    """What the live refresh of a freshly opened gallery sends: top and every card's seen/watch."""
    html = client.get(reverse("home"), params).content.decode()
    return {
        **live_refresh(html),
        "seen": re.findall(r'name="seen" value="([^"]+)"', html),
        "watch": re.findall(r'name="watch" value="([^"]+)"', html),
        **params,
    }


def changes(client, shown: dict):
    return client.get(reverse("gallery_changes"), shown, **HTMX)


def oob_card(html: str, generation) -> str:
    match = re.search(
        rf'<article[^>]*id="card-{generation.code}" hx-swap-oob="true".*?</article>', html, re.S
    )
    assert match, "no out-of-band card for this generation"
    return match.group(0)


def nothing_to_swap(response) -> bool:
    """No card, delete or new top: a 204, or only the live element with a new version."""
    html = response.content.decode()
    return response.status_code == 204 or (
        response.status_code == 200 and "<article" not in html and "hx-swap-oob" not in html
    )


def test_a_finished_card_sends_its_version(bob_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.READY)
    shown = open_gallery(bob_client)
    assert shown["seen"] == [f"{generation.code.hex}.{gallery.card_version(generation.updated)}"]
    assert shown["watch"] == []


def test_nothing_changed_on_screen_is_a_cheap_204(bob_client, team_a, alice, django_assert_max_num_queries):
    for _ in range(3):
        make_generation(team_a, alice, status=Status.READY)
    make_generation(team_a, alice, status=Status.PROCESSING, progress=10)
    shown = open_gallery(bob_client)
    assert len(shown["seen"]) == 3 and len(shown["watch"]) == 1
    # Who is asking (session, person, memberships with their teams), then one
    # query over two index look-ups: no row of the team moved since the
    # page's version, and the cards on screen all still exist.
    with django_assert_max_num_queries(4):
        response = changes(bob_client, shown)
    assert response.status_code == 204
    assert response.content == b""


def test_a_change_elsewhere_only_moves_the_version_on(bob_client, alice_acts, team_a, alice, bob):
    shown = open_gallery(bob_client, review="approved")
    generation = make_generation(team_a, alice, status=Status.READY, review_status=ReviewStatus.REJECTED)
    response = changes(bob_client, shown)
    # Nothing for this screen (the new card is not approved): the live element
    # again with the new version, so the next ask is the free 204.
    assert response.status_code == 200
    html = response.content.decode()
    assert "<article" not in html and "hx-swap-oob" not in html
    assert str(generation.code) not in html
    shown.update(live_refresh(html))
    assert changes(bob_client, shown).status_code == 204


def test_an_approval_is_swapped_in_out_of_band(bob_client, alice_acts, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.READY)
    other = make_generation(team_a, alice, status=Status.READY)
    shown = open_gallery(bob_client)
    response = alice_acts.post(reverse("generation_review", args=[generation.code]), {"status": "approved"})
    assert response.status_code == 302
    response = changes(bob_client, shown)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Approved" in oob_card(html, generation)
    assert f"card-{other.code}" not in html  # only what changed
    assert 'hx-swap-oob="afterbegin' not in html  # nothing new on top
    # The swapped card carries its new version and the live element the
    # gallery's: asked again with them, nothing changed.
    shown["seen"] = re.findall(r'name="seen" value="([^"]+)"', html) + [
        value for value in shown["seen"] if value.startswith(other.code.hex)
    ]
    shown.update(live_refresh(html))
    assert changes(bob_client, shown).status_code == 204


def test_a_new_comment_and_its_deletion_change_the_count(bob_client, alice_acts, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.READY)
    shown = open_gallery(bob_client)
    alice_acts.post(reverse("comment_add", args=[generation.code]), {"body": "Lovely light"}, **HTMX)
    html = changes(bob_client, shown).content.decode()
    assert 'title="1 comment"' in oob_card(html, generation)

    shown = open_gallery(bob_client)
    comment = Comment.objects.get()
    alice_acts.post(reverse("comment_edit", args=[comment.code]), {"body": "Lovely light!"}, **HTMX)
    assert changes(bob_client, shown).status_code == 204  # the card does not show the text

    response = alice_acts.post(reverse("comment_delete", args=[comment.code]), **HTMX)
    assert response.status_code == 200
    html = changes(bob_client, shown).content.decode()
    assert 'title="0 comments"' in oob_card(html, generation)


def test_a_deleted_card_is_removed(bob_client, alice_acts, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.READY)
    kept = make_generation(team_a, alice, status=Status.READY)
    shown = open_gallery(bob_client)
    response = alice_acts.post(reverse("generation_delete", args=[generation.code]))
    assert response.status_code == 302
    response = changes(bob_client, shown)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<div id="card-{generation.code}" hx-swap-oob="delete"></div>' in html
    assert f"card-{kept.code}" not in html


def test_a_card_that_leaves_the_review_filter_is_removed(bob_client, alice_acts, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.READY)
    shown = open_gallery(bob_client, review=ReviewStatus.IN_REVIEW)
    assert len(shown["seen"]) == 1
    alice_acts.post(reverse("generation_review", args=[generation.code]), {"status": "approved"})
    html = changes(bob_client, shown).content.decode()
    assert f'<div id="card-{generation.code}" hx-swap-oob="delete"></div>' in html
    assert "<article" not in html


def test_a_card_that_starts_to_match_the_filter_appears_in_its_place(bob_client, alice_acts, team_a, alice):
    oldest, middle, newest = make_one_between_two_approved(team_a, alice)
    shown = open_gallery(bob_client, review=ReviewStatus.APPROVED)
    assert len(shown["seen"]) == 2  # oldest and newest, both near the viewport
    alice_acts.post(reverse("generation_review", args=[middle.code]), {"status": "approved"})
    html = changes(bob_client, shown).content.decode()
    # Between the two on screen, so it goes before the older one: not at the top, not after a reload.
    match = re.search(rf'<div hx-swap-oob="beforebegin:#card-{oldest.code}">(.*?)</div>\s*$', html, re.S)
    assert match and f'id="card-{middle.code}"' in html
    assert 'hx-swap-oob="afterbegin' not in html  # it is not new
    assert f"card-{newest.code}" not in html.replace(f"card-{middle.code}", "")
    # Asked again with it on screen, nothing is missing.
    shown["seen"] = re.findall(r'name="seen" value="([^"]+)"', html) + shown["seen"]
    shown.update(live_refresh(html))
    assert changes(bob_client, shown).status_code == 204


def test_a_card_below_what_the_person_looks_at_is_left_for_a_reload(bob_client, alice_acts, team_a, alice):
    now = timezone.now()
    older = make_generation(team_a, alice, status=Status.READY, created=now - dt.timedelta(minutes=30))
    make_generation(team_a, alice, status=Status.READY, review_status="approved")
    shown = open_gallery(bob_client, review=ReviewStatus.APPROVED)
    assert len(shown["seen"]) == 1  # one card to place by: nothing is known of what lies below it
    alice_acts.post(reverse("generation_review", args=[older.code]), {"status": "approved"})
    assert nothing_to_swap(changes(bob_client, shown))


def test_a_change_nobody_announced_shows_up(bob_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.READY)
    shown = open_gallery(bob_client)
    assert changes(bob_client, shown).status_code == 204
    # As the admin or a data fix would: the row moves on, and nothing else is told.
    generation.review_status = ReviewStatus.APPROVED
    generation.save()
    assert "Approved" in oob_card(changes(bob_client, shown).content.decode(), generation)


def test_a_card_deleted_without_moving_anything_else_goes(bob_client, team_a, alice):
    kept, doomed = (make_generation(team_a, alice, status=Status.READY) for _ in range(2))
    shown = open_gallery(bob_client)
    doomed.delete()  # no row of the team is newer than the page: the missing code says it
    html = changes(bob_client, shown).content.decode()
    assert f'<div id="card-{doomed.code}" hx-swap-oob="delete"></div>' in html
    assert f"card-{kept.code}" not in html


def test_a_version_that_is_not_one_asks_about_everything(bob_client, team_a, alice):
    make_generation(team_a, alice, status=Status.READY)
    shown = open_gallery(bob_client)
    for version in ("", "not-a-version", "zzzzzzzzzzzzzzzzzzzzzzzzzz"):
        response = changes(bob_client, {**shown, "v": version})
        assert response.status_code == 200 and nothing_to_swap(response)


def test_favourites_stay_the_viewer_s_own(bob_client, alice_acts, team_a, alice, bob):
    generation = make_generation(team_a, alice, status=Status.READY)
    shown = open_gallery(bob_client)
    # alice's favourite is hers: bob's gallery has nothing to update.
    alice_acts.post(reverse("generation_favourite", args=[generation.code]))
    assert Favourite.objects.filter(user=alice).exists()
    assert nothing_to_swap(changes(bob_client, shown))
    # When the card does change, bob gets his own mark (none), not alice's.
    review.set_review_status(generation=generation, actor=alice, status=ReviewStatus.APPROVED)
    card = oob_card(changes(bob_client, shown).content.decode(), generation)
    assert "Approved" in card
    assert "gcard-fav" not in card


def test_another_team_s_changes_never_appear(bob_client, team_a, team_b, alice, charlie):
    ours = make_generation(team_a, alice, status=Status.READY)
    theirs = make_generation(team_b, charlie, status=Status.READY)
    shown = open_gallery(bob_client)
    assert [value.split(".")[0] for value in shown["seen"]] == [ours.code.hex]
    review.set_review_status(generation=theirs, actor=charlie, status=ReviewStatus.APPROVED)
    review.add_comment(generation=theirs, author=charlie, body="Ours only", at_seconds=None)
    assert changes(bob_client, shown).status_code == 204


def test_another_team_s_card_is_never_sent(charlie_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.READY, prompt="A secret fox")
    # charlie guesses a code of team A with a stale version: he gets his own input back, nothing else.
    response = changes(charlie_client, {"top": "", "seen": [f"{generation.code.hex}.0"]})
    html = response.content.decode()
    assert "<article" not in html
    assert "secret" not in html
    assert f'<div id="card-{generation.code}" hx-swap-oob="delete"></div>' in html


def test_garbage_seen_values_are_ignored(bob_client, team_a, alice):
    shown = {"top": "", "seen": ["x", "not-a-uuid.1", ".", "a.b.c", ""]}
    assert nothing_to_swap(changes(bob_client, shown))


def test_no_more_than_max_seen_cards_are_looked_at():
    values = [f"{i:032x}.1" for i in range(gallery.MAX_SEEN + 10)]
    assert len(gallery.parse_seen(values)) == gallery.MAX_SEEN


def _changes_queries(watcher, team, author, count: int) -> int:
    """Queries of the partial after an approval, a comment and a delete, with `count` cards in the team."""
    cards = [make_generation(team, author, status=Status.READY) for _ in range(count)]
    shown = open_gallery(watcher)
    newest = cards[::-1]
    review.set_review_status(generation=newest[0], actor=author, status=ReviewStatus.APPROVED)
    review.add_comment(generation=newest[1], author=author, body="Tighter cut", at_seconds=None)
    review.delete_generation(generation=newest[2])
    with CaptureQueriesContext(connection) as queries:
        response = changes(watcher, shown)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Approved" in oob_card(html, newest[0])
    assert 'title="1 comment"' in oob_card(html, newest[1])
    assert f'<div id="card-{newest[2].code}" hx-swap-oob="delete"></div>' in html
    return len(queries)


def test_queries_of_the_partial_do_not_grow_with_the_team(
    bob_client, team_a, team_b, alice, charlie, django_assert_max_num_queries
):
    bob_client.get(reverse("home"))  # the first visit also stores the team in the session
    few = _changes_queries(bob_client, team_a, alice, 10)
    # Same again in a team with 200 cards: charlie watches team B.
    charlie_client = Client()
    charlie_client.force_login(charlie)
    charlie_client.get(reverse("home"))
    many = _changes_queries(charlie_client, team_b, charlie, 200)
    assert many == few
    # And with 200 cards, a refresh where nothing changed stays a few small queries.
    shown = open_gallery(charlie_client)
    assert len(shown["seen"]) == gallery.PAGE_SIZE
    with django_assert_max_num_queries(4):
        assert changes(charlie_client, shown).status_code == 204
    # Asked with an old version (a row elsewhere moved on since), the cards
    # on screen are checked: who is asking, "anything newer", the newest
    # version, the new cards' ids, the states of those on screen.
    shown["v"] = "1"
    with django_assert_max_num_queries(7):
        response = changes(charlie_client, shown)
    assert response.status_code == 200 and nothing_to_swap(response)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="reads SQLite's query plans")
def test_cards_on_screen_are_looked_up_by_code_not_by_walking_the_team(bob_client, team_a, alice):
    for _ in range(30):
        make_generation(team_a, alice, status=Status.READY)
    shown = open_gallery(bob_client)
    review.set_review_status(generation=team_a.generations.first(), actor=alice, status=ReviewStatus.APPROVED)
    with CaptureQueriesContext(connection) as queries:
        assert changes(bob_client, {**shown, "q": "fox"}).status_code == 200
    by_code = [q["sql"] for q in queries if '"videos_generation"."code" IN' in q["sql"]]
    assert len(by_code) == 3  # "did anything move", the states with the filter check, the changed card
    # "Anything newer than the page?" and "the newest" ride the (team, updated) index.
    by_updated = [
        q["sql"]
        for q in queries
        if 'MAX("videos_generation"."updated")' in q["sql"] or '"videos_generation"."updated" >' in q["sql"]
    ]
    assert len(by_updated) == 2
    with connection.cursor() as cursor:
        for sql, index in [(sql, "(code=?)") for sql in by_code] + [
            (sql, "gen_team_updated") for sql in by_updated
        ]:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = " ".join(row[3] for row in cursor.fetchall())
            assert index in plan, plan
