"""Versions: regenerations and remixes share a lineage; the gallery stacks a lineage behind one card.

The stack shows its newest version that matches the filters, with the number of versions
in the lineage; the video page lists every version, oldest first. Stacking is two
correlated subqueries in the page's one query: the query count does not move.
"""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from studio.videos import gallery, review
from studio.videos.models import Derivation, Generation, ReviewStatus, Status
from tests.factories import make_generation

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def version_of(source: Generation, **fields) -> Generation:
    """A newer version of `source`, as Regenerate or Remix makes it (a minute later by default)."""
    fields.setdefault("created", source.created + dt.timedelta(minutes=1))
    fields.setdefault("status", Status.READY)
    return make_generation(
        source.team,
        source.author,
        parent=source,
        lineage=source.lineage,
        derivation=fields.pop("derivation", Derivation.REGENERATED),
        **fields,
    )


@pytest.fixture
def stack(team_a, alice):
    """Three versions of one video, oldest first, and one video of its own in between."""
    now = timezone.now()
    first = make_generation(team_a, alice, status=Status.READY, created=now - dt.timedelta(hours=3))
    second = version_of(first, prompt="A red fox runs through snow")
    alone = make_generation(
        team_a, alice, status=Status.READY, prompt="A lighthouse", created=now - dt.timedelta(hours=2)
    )
    third = version_of(second, created=now - dt.timedelta(hours=1), derivation=Derivation.REMIXED)
    return SimpleNamespace(first=first, second=second, third=third, alone=alone)


def cards(response) -> list[str]:
    return re.findall(r'<article[^>]*id="card-([0-9a-f-]+)"', response.content.decode())


def card_html(response, generation) -> str:
    match = re.search(
        rf'<article[^>]*id="card-{generation.code}".*?</article>', response.content.decode(), re.S
    )
    assert match, "no such card"
    return match.group(0)


# --- Lineage is recorded --------------------------------------------------------


def test_regenerate_makes_a_version_in_the_same_lineage(alice_client, team_a, alice):
    source = make_generation(team_a, alice, status=Status.READY)
    response = alice_client.post(reverse("generation_regenerate", args=[source.code]))
    assert response.status_code == 302
    version = Generation.objects.exclude(pk=source.pk).get()
    assert (version.parent, version.lineage, version.derivation) == (source, source.lineage, "regenerated")


def test_a_remix_records_where_it_came_from(alice_client, team_a, alice):
    source = make_generation(team_a, alice, status=Status.READY, prompt="A red fox in snow")
    html = alice_client.get(reverse("compose"), {"from": source.code}).content.decode()
    assert f'name="remix_of" value="{source.code}"' in html
    data = {
        "prompt": "A red fox in deep snow",
        "duration": "5",
        "aspect_ratio": "16:9",
        "remix_of": source.code,
    }
    response = alice_client.post(reverse("compose"), data)
    assert response.status_code == 302
    remix = Generation.objects.exclude(pk=source.pk).get()
    assert (remix.parent, remix.lineage, remix.derivation) == (source, source.lineage, "remixed")


def test_a_new_prompt_starts_a_lineage_of_its_own(alice_client, team_a, alice):
    other = make_generation(team_a, alice)
    response = alice_client.post(
        reverse("compose"), {"prompt": "A lighthouse", "duration": "5", "aspect_ratio": "16:9"}
    )
    assert response.status_code == 302
    new = Generation.objects.exclude(pk=other.pk).get()
    assert new.parent is None and new.derivation == "" and new.lineage != other.lineage


def test_a_remix_of_another_team_s_video_is_a_new_video(alice_client, team_a, team_b, alice, charlie):
    theirs = make_generation(team_b, charlie)
    data = {"prompt": "A lighthouse", "duration": "5", "aspect_ratio": "16:9", "remix_of": theirs.code}
    assert alice_client.post(reverse("compose"), data).status_code == 302
    mine = Generation.objects.get(team=team_a)
    assert mine.parent is None and mine.lineage != theirs.lineage


def test_remix_of_another_team_s_video_is_404(alice_client, team_b, charlie):
    theirs = make_generation(team_b, charlie)
    assert alice_client.get(reverse("compose"), {"from": theirs.code}).status_code == 404


# --- The gallery stacks ---------------------------------------------------------


def test_the_gallery_shows_one_card_per_lineage_its_newest_version(alice_client, stack):
    response = alice_client.get(reverse("home"))
    assert cards(response) == [str(stack.third.code), str(stack.alone.code)]
    assert "3 versions of this video" in card_html(response, stack.third)
    assert "is-stack" in card_html(response, stack.third)
    assert "versions" not in card_html(response, stack.alone)


def test_stacking_costs_no_query(alice_client, team_a, alice, stack, django_assert_max_num_queries):
    alice_client.get(reverse("home"))  # the first visit stores the team in the session
    with CaptureQueriesContext(connection) as queries:
        alice_client.get(reverse("home"))
    few = len(queries)
    for index in range(30):
        source = make_generation(team_a, alice, status=Status.READY, prompt=f"fox {index}")
        version_of(source)
        version_of(source, created=source.created + dt.timedelta(minutes=2))
    with django_assert_max_num_queries(few):
        response = alice_client.get(reverse("home"))
    assert response.content.decode().count('title="3 versions of this video"') == gallery.PAGE_SIZE


def test_a_filtered_stack_shows_its_newest_matching_version(alice_client, stack):
    review.set_review_status(generation=stack.first, actor=stack.first.author, status=ReviewStatus.APPROVED)
    response = alice_client.get(reverse("home"), {"review": "approved"})
    assert cards(response) == [str(stack.first.code)]
    # The count is the whole lineage's, whatever the filters.
    assert "3 versions of this video" in card_html(response, stack.first)
    response = alice_client.get(reverse("home"), {"q": "runs through"})
    assert cards(response) == [str(stack.second.code)]


def test_a_failed_newest_version_shows_under_failed_and_hides_the_ready_one(alice_client, stack):
    Generation.objects.filter(pk=stack.third.pk).update(status=Status.FAILED)
    assert cards(alice_client.get(reverse("home"), {"status": "failed"})) == [str(stack.third.code)]
    assert cards(alice_client.get(reverse("home"), {"status": "ready"})) == [
        str(stack.alone.code),
        str(stack.second.code),
    ]


def test_the_author_filter_finds_a_teammate_s_version(alice_client, stack, bob):
    Generation.objects.filter(pk=stack.second.pk).update(author=bob)
    assert cards(alice_client.get(reverse("home"), {"author": bob.pk})) == [str(stack.second.code)]


def test_oldest_first_places_a_stack_by_its_newest_version(alice_client, stack):
    assert cards(alice_client.get(reverse("home"), {"sort": "oldest"})) == [
        str(stack.alone.code),
        str(stack.third.code),
    ]


def test_keyset_pages_skip_older_versions(alice_client, team_a, alice):
    now = timezone.now()
    sources = [
        make_generation(team_a, alice, status=Status.READY, created=now - dt.timedelta(hours=100 - index))
        for index in range(gallery.PAGE_SIZE + 5)
    ]
    newest = [
        version_of(source, created=now - dt.timedelta(minutes=len(sources) - i))
        for i, source in enumerate(sources)
    ]
    first_page = alice_client.get(reverse("home"))
    cursor = re.search(r"after=([0-9_]+)", first_page.content.decode()).group(1)
    second_page = alice_client.get(reverse("home"), {"after": cursor}, **HTMX)
    shown = cards(first_page) + cards(second_page)
    assert shown == [str(version.code) for version in reversed(newest)]


# --- The live refresh with stacks ----------------------------------------------


def open_gallery(client, **params) -> dict:
    html = client.get(reverse("home"), params).content.decode()
    match = re.search(r'id="gallery-live"[^>]*hx-get="[^"]*top=([^&"]*)&amp;v=([^"&]*)"', html)
    return {
        "top": match.group(1),
        "v": match.group(2),
        "seen": re.findall(r'name="seen" value="([^"]+)"', html),
        "watch": re.findall(r'name="watch" value="([^"]+)"', html),
        **params,
    }


def test_a_new_version_replaces_its_stack_on_screen(alice_client, stack):
    shown = open_gallery(alice_client)
    fourth = version_of(stack.third, created=timezone.now(), status=Status.QUEUED)
    html = alice_client.get(reverse("gallery_changes"), shown, **HTMX).content.decode()
    assert f'id="card-{fourth.code}"' in html and "4 versions of this video" in html
    assert f'<div id="card-{stack.third.code}" hx-swap-oob="delete"></div>' in html


def test_a_stack_s_count_moves_when_a_version_that_does_not_match_arrives(alice_client, stack):
    shown = open_gallery(alice_client, status="ready")
    version_of(
        stack.third, created=timezone.now(), status=Status.QUEUED
    )  # not ready: the stack still shows stack.third
    html = alice_client.get(reverse("gallery_changes"), shown, **HTMX).content.decode()
    assert re.search(rf'id="card-{stack.third.code}" hx-swap-oob="true"', html)
    assert "4 versions of this video" in html


def test_deleting_the_newest_version_brings_the_one_before_back(alice_client, team_a, alice):
    now = timezone.now()
    oldest = make_generation(team_a, alice, status=Status.READY, created=now - dt.timedelta(hours=5))
    first = make_generation(team_a, alice, status=Status.READY, created=now - dt.timedelta(hours=3))
    second = version_of(first, created=now - dt.timedelta(hours=1))
    newest = make_generation(team_a, alice, status=Status.READY, created=now - dt.timedelta(minutes=30))
    shown = open_gallery(alice_client)
    review.delete_generation(generation=second)
    html = alice_client.get(reverse("gallery_changes"), shown, **HTMX).content.decode()
    assert f'<div id="card-{second.code}" hx-swap-oob="delete"></div>' in html
    # Back where it belongs: before the next older card on screen.
    assert f'hx-swap-oob="beforebegin:#card-{oldest.code}"' in html
    assert f'id="card-{first.code}"' in html
    assert f'id="card-{newest.code}"' not in html


def test_nothing_changed_is_still_a_204(alice_client, stack):
    shown = open_gallery(alice_client)
    assert alice_client.get(reverse("gallery_changes"), shown, **HTMX).status_code == 204


# --- The video page lists the versions -----------------------------------------


def test_the_video_page_lists_every_version_oldest_first(alice_client, stack):
    html = alice_client.get(reverse("generation_detail", args=[stack.second.code])).content.decode()
    section = html[html.index('id="versions"') :]
    positions = [
        section.index(reverse("generation_detail", args=[g.code])) for g in (stack.first, stack.third)
    ]
    assert positions == sorted(positions)
    assert "v2, this one" in section
    assert "Regenerated from v1" in section and "Remixed from v2" in section
    # Compare links put the older version on the left.
    assert f"?a={stack.first.code}&amp;b={stack.second.code}" in section
    assert f"?a={stack.second.code}&amp;b={stack.third.code}" in section
    assert f"?a={stack.second.code}" in section  # Compare with…
    assert str(stack.alone.code) not in section


def test_a_version_whose_parent_was_deleted_stays_in_its_stack(alice_client, stack):
    review.delete_generation(generation=stack.first)
    html = alice_client.get(reverse("generation_detail", args=[stack.third.code])).content.decode()
    section = html[html.index('id="versions"') :]
    assert "v1" in section and "Regenerated" in section and "v3" not in section
    assert "2 versions of this video" in card_html(alice_client.get(reverse("home")), stack.third)


def test_a_reviewer_sees_the_versions(bob_client, stack):
    response = bob_client.get(reverse("generation_detail", args=[stack.third.code]))
    assert response.status_code == 200 and "v3, this one" in response.content.decode()
    assert "3 versions of this video" in card_html(bob_client.get(reverse("home")), stack.third)


def test_another_team_sees_no_stack_of_ours(charlie_client, stack):
    assert cards(charlie_client.get(reverse("home"))) == []
    assert charlie_client.get(reverse("generation_detail", args=[stack.third.code])).status_code == 404


# --- The migration, over existing rows ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_puts_existing_regenerations_in_their_first_ancestor_s_lineage():
    """Run for real over rows made before it (on PostgreSQL its updates and the ALTER TABLE
    after them share one transaction: deferred foreign-key checks must not be left pending)."""
    from django.db.migrations.executor import MigrationExecutor

    before = [("videos", "0004_submit_attempted_at")]
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    team = old.get_model("accounts", "Team").objects.create(name="Before versions")
    rows = old.get_model("videos", "Generation").objects
    root = rows.create(team_id=team.pk, prompt="p", compiled_prompt="p")
    child = rows.create(team_id=team.pk, prompt="p", compiled_prompt="p", parent_id=root.pk)
    grandchild = rows.create(team_id=team.pk, prompt="p", compiled_prompt="p", parent_id=child.pk)
    other = rows.create(team_id=team.pk, prompt="q", compiled_prompt="q")
    executor = MigrationExecutor(connection)
    executor.migrate(leaves)
    found = {g.pk: g for g in Generation.objects.all()}
    assert found[root.pk].lineage == found[child.pk].lineage == found[grandchild.pk].lineage
    assert found[other.pk].lineage != found[root.pk].lineage
    assert (found[root.pk].derivation, found[grandchild.pk].derivation) == ("", "regenerated")


@pytest.mark.skipif(connection.vendor != "sqlite", reason="reads SQLite's query plans")
def test_versions_and_stacks_ride_the_lineage_index(alice_client, stack):
    with CaptureQueriesContext(connection) as queries:
        alice_client.get(reverse("generation_detail", args=[stack.third.code]))
    versions = [q["sql"] for q in queries if 'ORDER BY "videos_generation"."created" ASC' in q["sql"]]
    assert len(versions) == 1
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + versions[0])  # the captured SQL has its values inlined
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "gen_lineage" in plan and "gen_team_newest" not in plan
