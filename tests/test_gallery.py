"""The team gallery: what it shows, filters in the URL, keyset pages, query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from studio.videos.models import Comment, Favourite, ReviewStatus, Status
from tests.factories import live_refresh, make_generation, make_ready_generation

HTMX = {"HTTP_HX_REQUEST": "true"}


def codes_in(response, generations) -> list:
    """Which of these generations have a card, in page order."""
    html = response.content.decode()
    found = [(html.find(f'id="card-{g.code}"'), g) for g in generations]
    return [g for position, g in sorted(found, key=lambda pair: pair[0]) if position >= 0]


def test_signed_out_goes_to_sign_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_empty_studio_invites_the_first_video(alice_client):
    response = alice_client.get(reverse("home"))
    assert response.status_code == 200
    assert "Your studio is ready" in response.content.decode()
    assert f'href="{reverse("compose")}"' in response.content.decode()


def test_a_reviewer_is_not_asked_to_compose(bob_client):
    html = bob_client.get(reverse("home")).content.decode()
    assert "Your studio is ready" in html
    assert "Compose your first video" not in html


def test_it_shows_the_team_s_videos_newest_first_and_not_other_teams(
    alice_client, team_a, team_b, alice, charlie
):
    now = timezone.now()
    older = make_ready_generation(team_a, alice, created=now - dt.timedelta(hours=2))
    newer = make_generation(
        team_a, alice, created=now - dt.timedelta(minutes=5), prompt="A lighthouse at night"
    )
    theirs = make_generation(team_b, charlie, prompt="Charlie's secret prompt")
    response = alice_client.get(reverse("home"))
    assert codes_in(response, [older, newer, theirs]) == [newer, older]
    assert "secret prompt" not in response.content.decode()


def test_a_card_shows_what_the_team_needs_at_a_glance(alice_client, team_a, alice, bob):
    generation = make_ready_generation(
        team_a, alice, aspect_ratio="9:16", review_status=ReviewStatus.APPROVED
    )
    Comment.objects.create(generation=generation, author=bob, body="Lovely")
    Comment.objects.create(generation=generation, author=alice, body="Thanks")
    Favourite.objects.create(generation=generation, user=alice)
    html = alice_client.get(reverse("home")).content.decode()
    assert reverse("generation_poster", args=[generation.code]) in html
    assert 'preload="none"' in html
    assert "0:04" in html  # the obtained duration
    assert "9:16" in html and "is-portrait" in html
    assert "Alice Adams" in html
    assert "Approved" in html
    assert 'title="2 comments"' in html
    assert "One of your favourites" in html


def test_an_in_flight_card_shows_progress_and_is_watched(alice_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.PROCESSING, progress=42)
    html = alice_client.get(reverse("home")).content.decode()
    assert '<progress max="100" value="42"' in html
    assert f'name="watch" value="{generation.code}:processing:42"' in html


def test_a_failed_card_says_so(alice_client, team_a, alice):
    make_generation(
        team_a, alice, status=Status.FAILED, error_message="The prompt was refused by the provider."
    )
    html = alice_client.get(reverse("home")).content.decode()
    assert "Failed" in html and "The prompt was refused" in html


def test_prompts_are_shown_as_text(alice_client, team_a, alice):
    make_generation(team_a, alice, prompt='<script>alert("x")</script><img src=x onerror=alert(1)>')
    html = alice_client.get(reverse("home")).content.decode()
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert" in html


@pytest.mark.parametrize("query", ["fox", "FOX", "红狐狸", "雪"])
def test_search_finds_english_and_chinese_prompts(alice_client, team_a, alice, query):
    english = make_generation(team_a, alice, prompt="A red fox in the snow")
    chinese = make_generation(team_a, alice, prompt="一只红狐狸在雪中奔跑")
    other = make_generation(team_a, alice, prompt="A city at night")
    response = alice_client.get(reverse("home"), {"q": query})
    found = codes_in(response, [english, chinese, other])
    assert other not in found
    if query.lower() == "fox":
        assert found == [english]
    else:
        assert found == [chinese]


def test_filters_narrow_the_gallery(alice_client, team_a, alice, bob):
    now = timezone.now()
    a = make_generation(
        team_a,
        alice,
        aspect_ratio="9:16",
        duration="8",
        status=Status.EXPIRED,
        created=now - dt.timedelta(days=3),
    )
    b = make_generation(team_a, bob, status=Status.PROCESSING, review_status=ReviewStatus.REJECTED)
    c = make_generation(team_a, alice, status=Status.FAILED, created=now - dt.timedelta(days=10))
    d = make_ready_generation(team_a, alice, review_status=ReviewStatus.APPROVED)
    Favourite.objects.create(generation=d, user=alice)
    Favourite.objects.create(generation=a, user=bob)  # bob's, not alice's
    every = [a, b, c, d]

    def shown(**params):
        return set(codes_in(alice_client.get(reverse("home"), params), every))

    assert shown(author=bob.pk) == {b}
    assert shown(status="in_progress") == {b}
    assert shown(status="failed") == {a, c}
    assert shown(status="ready") == {d}
    assert shown(review="approved") == {d}
    assert shown(review="rejected") == {b}
    assert shown(aspect="9:16") == {a}
    assert shown(duration="8") == {a}
    assert shown(favourites="on") == {d}
    today = timezone.localdate()
    assert shown(start=str(today - dt.timedelta(days=5))) == {a, b, d}
    assert shown(end=str(today - dt.timedelta(days=5))) == {c}
    assert shown(start=str(today - dt.timedelta(days=3)), end=str(today - dt.timedelta(days=3))) == {a}


def test_sort_oldest_first(alice_client, team_a, alice):
    now = timezone.now()
    first = make_generation(team_a, alice, created=now - dt.timedelta(days=1))
    second = make_generation(team_a, alice, created=now)
    response = alice_client.get(reverse("home"), {"sort": "oldest"})
    assert codes_in(response, [first, second]) == [first, second]


@pytest.mark.parametrize(
    "params",
    [
        {"status": "bogus"},
        {"author": "99999"},
        {"author": "not-a-number"},
        {"start": "2024-13-45"},
        {"start": "2024-05-02", "end": "2024-05-01"},
        {"sort": "sideways", "review": "<b>"},
        {"after": "garbage"},
        {"after": "99999999999999999999999_1"},
        {"q": "x" * 500},
    ],
)
def test_invalid_filters_are_ignored_with_a_message(alice_client, team_a, alice, params):
    generation = make_generation(team_a, alice)
    response = alice_client.get(reverse("home"), params)
    assert response.status_code == 200
    assert codes_in(response, [generation]) == [generation]
    if set(params) != {"after"}:
        assert "We ignored a filter we could not read" in response.content.decode()


def test_another_team_s_author_is_not_a_filter(alice_client, team_a, alice, charlie):
    make_generation(team_a, alice)
    response = alice_client.get(reverse("home"), {"author": charlie.pk})
    assert "We ignored a filter" in response.content.decode()


def test_changing_filters_with_htmx_renders_only_the_results(alice_client, team_a, alice):
    make_generation(team_a, alice, prompt="A red fox")
    response = alice_client.get(reverse("home"), {"q": "fox"}, **HTMX, HTTP_HX_TARGET="gallery-results")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<section id="gallery-results"')
    assert "q=fox" in html  # the live refresh keeps the filters


def test_pages_are_cut_by_keyset_without_gaps_or_repeats(alice_client, team_a, alice):
    same_moment = timezone.now()
    # Ties on created must still page correctly: the id breaks them.
    generations = [make_generation(team_a, alice, created=same_moment) for _ in range(20)]
    generations += [
        make_generation(team_a, alice, created=same_moment - dt.timedelta(seconds=i)) for i in range(1, 31)
    ]
    response = alice_client.get(reverse("home"))
    seen = codes_in(response, generations)
    assert len(seen) == 24
    html = response.content.decode()
    assert 'hx-trigger="click, revealed"' in html
    while "after=" in html:
        after = html.split("after=", 1)[1].split('"', 1)[0]
        response = alice_client.get(reverse("home"), {"after": after}, **HTMX)
        html = response.content.decode()
        assert "<html" not in html
        seen += codes_in(response, generations)
    assert len(seen) == len(set(seen)) == 50
    expected = sorted(generations, key=lambda g: (g.created, g.pk), reverse=True)
    assert seen == expected


def test_load_more_keeps_the_filters(alice_client, team_a, alice):
    for _ in range(30):
        make_generation(team_a, alice, prompt="fox")
    html = alice_client.get(reverse("home"), {"q": "fox"}).content.decode()
    assert "?q=fox&amp;after=" in html


def _count_queries(client) -> int:
    """The queries of drawing the gallery."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("home")).status_code == 200
    return len(queries)


def test_queries_per_page_do_not_grow_with_the_cards(
    alice_client, team_a, alice, bob, django_assert_max_num_queries
):
    for _ in range(3):
        generation = make_generation(team_a, alice)
        Comment.objects.create(generation=generation, author=bob, body="hi")
    alice_client.get(reverse("home"))  # the first visit also stores the team in the session
    few = _count_queries(alice_client)
    for index in range(40):
        generation = make_generation(team_a, bob if index % 2 else alice, status=Status.READY)
        Comment.objects.create(generation=generation, author=bob, body="hi")
        Favourite.objects.create(generation=generation, user=alice)
    many = _count_queries(alice_client)
    assert many == few
    # A search adds its own look-up in the prompt index on SQLite (how many match: search.py).
    with django_assert_max_num_queries(few + (connection.vendor == "sqlite")):
        alice_client.get(reverse("home"), {"q": "fox", "favourites": "on", "status": "ready"})


def test_post_is_not_allowed(alice_client):
    assert alice_client.post(reverse("home")).status_code == 405


# --- The live refresh ---------------------------------------------------------


def changes(client, **params):
    return client.get(reverse("gallery_changes"), params, **HTMX)


def test_nothing_changed_is_a_cheap_204(alice_client, team_a, alice, django_assert_max_num_queries):
    generation = make_generation(team_a, alice, status=Status.PROCESSING, progress=10)
    shown = live_refresh(alice_client.get(reverse("home")).content.decode())
    # Session, person, memberships with their teams; then one query: nothing
    # moved since the page's version and the cards on screen still exist.
    with django_assert_max_num_queries(4):
        response = changes(alice_client, **shown, watch=f"{generation.code}:processing:10")
    assert response.status_code == 204
    assert response.content == b""


def test_a_new_generation_is_put_on_top(alice_client, team_a, alice):
    old = make_generation(team_a, alice, created=timezone.now() - dt.timedelta(minutes=1))
    shown = live_refresh(alice_client.get(reverse("home")).content.decode())
    assert changes(alice_client, **shown).status_code == 204
    new = make_generation(team_a, alice, status=Status.QUEUED, prompt="Brand new")
    response = changes(alice_client, **shown)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'hx-swap-oob="afterbegin:#gallery-grid"' in html
    assert f'id="card-{new.code}"' in html
    assert f'id="card-{old.code}"' not in html
    # The poller comes back with the new top and version, so the next answer is 204 again.
    now_shown = live_refresh(html)
    assert now_shown["top"] != shown["top"] and now_shown["v"] != shown["v"]
    assert changes(alice_client, **now_shown).status_code == 204


def test_the_first_video_replaces_the_empty_state(alice_client, team_a, alice):
    assert 'id="gallery-empty"' in alice_client.get(reverse("home")).content.decode()
    make_generation(team_a, alice)
    html = changes(alice_client, top="").content.decode()
    assert '<div id="gallery-empty" hx-swap-oob="delete">' in html


def test_a_card_that_moved_on_is_swapped_out_of_band(alice_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.PROCESSING, progress=10)
    top = live_refresh(alice_client.get(reverse("home")).content.decode())["top"]
    generation.progress = 60
    generation.save()
    html = changes(alice_client, top=top, watch=f"{generation.code}:processing:10").content.decode()
    assert f'id="card-{generation.code}" hx-swap-oob="true"' in html
    assert 'value="60"' in html
    generation.status = Status.READY
    generation.save()
    html = changes(alice_client, top=top, watch=f"{generation.code}:processing:60").content.decode()
    assert f'id="card-{generation.code}" hx-swap-oob="true"' in html
    assert 'name="watch"' not in html  # finished: nothing left to watch


def test_a_card_that_left_the_filter_is_removed(alice_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.PROCESSING, progress=10)
    generation.status = Status.READY
    generation.save()
    html = changes(
        alice_client, status="in_progress", watch=f"{generation.code}:processing:10"
    ).content.decode()
    assert f'<div id="card-{generation.code}" hx-swap-oob="delete">' in html


def test_changes_respect_the_filters(alice_client, team_a, alice):
    shown = live_refresh(alice_client.get(reverse("home"), {"q": "fox"}).content.decode())
    make_generation(team_a, alice, prompt="A city")
    response = changes(alice_client, q="fox", **shown)
    # Not a fox: nothing to show, only the team's new version to ask with next time.
    html = response.content.decode()
    assert response.status_code == 200
    assert "<article" not in html and "hx-swap-oob" not in html
    assert changes(alice_client, q="fox", **live_refresh(html)).status_code == 204


def test_changes_never_leak_another_team(charlie_client, team_a, alice):
    generation = make_generation(team_a, alice, status=Status.PROCESSING, progress=10)
    response = changes(charlie_client, top="", watch=f"{generation.code}:queued:0")
    html = response.content.decode()
    assert str(generation.code) not in html or 'hx-swap-oob="delete"' in html
    assert "fox" not in html


def test_garbage_watch_values_are_ignored(alice_client):
    response = changes(alice_client, top="nope", watch=["x", "not-a-uuid:ready:1", ":", "a:b:c"])
    assert response.status_code == 200
    assert "<article" not in response.content.decode() and "hx-swap-oob" not in response.content.decode()


def test_changes_signed_out_go_to_sign_in(client):
    response = client.get(reverse("gallery_changes"))
    assert response.status_code == 302


def test_changes_refuse_post(alice_client):
    assert alice_client.post(reverse("gallery_changes")).status_code == 405
