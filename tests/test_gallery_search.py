# ruff: noqa: RUF001 - Chinese punctuation in Chinese prompts is intended
"""Prompt search over the text index (studio/videos/search.py), on SQLite and PostgreSQL alike.

Every term is checked against the plain meaning of the search: the prompt
contains the term, ignoring case. The index must give exactly that.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from studio.videos import search
from studio.videos.models import Generation
from tests.factories import make_generation

PROMPTS = [
    "A red fox in the snow",
    "一杯咖啡和一块蛋糕，清晨的阳光",
    "咖啡",
    "Coffee shop at dawn, 咖啡馆 sign",
    'Say "cheese" AND smile - NEAR the door* (OR not)',
    "A city at night, 100% neon_signs",
    "Fox",
]

TERMS = [
    "fox",
    "FOX",
    "Fo",  # a prefix, as it is typed
    "f",
    "red f",
    "x",
    "咖啡",
    "咖",
    "啡",
    "啡和",
    "一杯咖啡",
    "咖啡馆 sign",  # mixed
    "coffee 咖",
    "的阳光",
    "cheese",
    '"cheese"',
    '"cheese',  # unbalanced quote
    'cheese"',
    '"',
    '""',
    "AND",
    "and smile",
    "NEAR",
    "NEAR(",
    "OR",
    "*",
    "door*",
    "-",
    "- NEAR",
    "^",
    "(",
    "100%",
    "%",
    "_",
    "neon_",
    "\\",
    "zebra",
    "的",
    "咖啡杯",
    "a",
    "  ",
]


def expected(generations: list[Generation], term: str) -> set[int]:
    return {g.pk for g in generations if term.lower() in g.compiled_prompt.lower()}


def found(term: str) -> set[int]:
    return set(Generation.objects.filter(search.prompt_contains(term)).values_list("pk", flat=True))


@pytest.fixture
def prompts(team_a, alice) -> list[Generation]:
    return [make_generation(team_a, alice, prompt=prompt) for prompt in PROMPTS]


@pytest.mark.parametrize("term", TERMS)
def test_it_finds_exactly_the_prompts_that_contain_the_term(prompts, term):
    assert found(term) == expected(prompts, term)


def test_a_chinese_word_of_two_characters_is_found_inside_a_longer_run(prompts):
    # 咖啡 in 一杯咖啡和…: no word boundary anywhere near it.
    assert prompts[1].pk in found("咖啡")
    assert prompts[1].pk in found("杯咖")


def test_a_term_starting_many_trigrams_is_still_matched_exactly(prompts, monkeypatch):
    # Past the limit a short term is scanned for instead of looked up: same answer.
    monkeypatch.setattr(search, "MAX_SHORT_TERM_TRIGRAMS", 1)
    for term in ("f", "咖", "a", "zq"):
        assert found(term) == expected(prompts, term)


@pytest.mark.parametrize(
    "term", ['"cheese', "AND", "NEAR(", "*", "-", "^", "(", "%", "\\", '"', "\x00", "\x01"]
)
def test_no_term_is_an_error(alice_client, prompts, term):
    response = alice_client.get(reverse("home"), {"q": term})
    assert response.status_code == 200
    htmx = alice_client.get(reverse("home"), {"q": term}, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200


def test_the_gallery_shows_only_the_team_s_matches(alice_client, team_a, team_b, alice, charlie):
    mine = make_generation(team_a, alice, prompt="一杯咖啡 on the table")
    theirs = make_generation(team_b, charlie, prompt="一杯咖啡 on the table, charlie's")
    for term in ("咖啡", "一杯咖啡", "table", "ta"):
        html = alice_client.get(reverse("home"), {"q": term}).content.decode()
        assert f'id="card-{mine.code}"' in html
        assert f'id="card-{theirs.code}"' not in html
        assert "charlie" not in html


def test_the_index_follows_inserts_updates_and_deletes(team_a, alice):
    generation = make_generation(team_a, alice, prompt="A lighthouse in a storm")
    assert found("lighthouse") == {generation.pk}
    assert found("li") == {generation.pk}

    generation.compiled_prompt = "海边的灯塔"
    generation.save()
    assert found("lighthouse") == set()
    assert found("li") == set()
    assert found("灯塔") == {generation.pk}

    Generation.objects.filter(pk=generation.pk).update(compiled_prompt="A windmill")
    assert found("灯塔") == set()
    assert found("windmill") == {generation.pk}

    generation.status = "ready"  # a save that leaves the prompt alone
    generation.save(update_fields=["status"])
    assert found("windmill") == {generation.pk}

    generation.delete()
    assert found("windmill") == set()
    assert found("wi") == set()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 table")
def test_the_sqlite_index_holds_one_row_per_generation(team_a, alice):
    rows = [make_generation(team_a, alice, prompt=f"take {n}") for n in range(3)]
    rows[0].delete()
    Generation.objects.filter(pk=rows[1].pk).update(compiled_prompt="changed")
    with connection.cursor() as cursor:
        cursor.execute("SELECT rowid, prompt FROM videos_generation_search ORDER BY rowid")
        indexed = cursor.fetchall()
    assert indexed == [(rows[1].pk, "changed\x01\x01"), (rows[2].pk, "take 2\x01\x01")]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's triggers")
def test_lost_triggers_are_put_back_and_the_index_rebuilt_after_migrate(team_a, alice):
    # What a migration that rebuilds videos_generation does to its triggers.
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER videos_generation_search_insert")
    missed = make_generation(team_a, alice, prompt="written while the trigger was gone")
    assert found("while the trigger") == set()
    search.ensure_index(connection)  # what post_migrate runs
    assert found("while the trigger") == {missed.pk}
    assert found("wh") == {missed.pk}
    later = make_generation(team_a, alice, prompt="written after")
    assert found("written") == {missed.pk, later.pk}


def _plan(term: str) -> str:
    queryset = Generation.objects.filter(search.prompt_contains(term))
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        else:
            # A handful of rows are read faster without an index: ask whether it can be used.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(str(row) for row in cursor.fetchall())


@pytest.mark.parametrize("term", ["lighthouse", "咖啡", "咖"])
def test_the_search_is_answered_by_the_index(prompts, term):
    plan = _plan(term)
    if connection.vendor == "sqlite":
        assert "videos_generation_search VIRTUAL TABLE INDEX" in plan, plan
    else:
        assert "gen_prompt_grams" in plan, plan


def test_many_matches_are_found_by_walking_the_team_in_order(prompts, monkeypatch):
    # Past MANY_MATCHES the team is walked newest first and each prompt tested: same answer.
    monkeypatch.setattr(search, "MANY_MATCHES", 1)
    for term in ("fox", "f", "咖啡", "a", '"cheese', "zebra"):
        assert not search.prompt_search(term).few or len(found(term)) <= 1
        assert found(term) == expected(prompts, term)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query plans")
def test_a_page_of_few_matches_starts_from_them_not_from_the_team_s_whole_index(team_a, alice):
    from studio.videos import gallery

    make_generation(team_a, alice, prompt="A lighthouse in a storm")
    filters = gallery.Filters(q="lighthouse")
    assert filters.search.few
    queryset = gallery.apply_filters(
        gallery.annotated(gallery.team_rows(team_a, filters), alice), filters, alice
    )
    sql, params = queryset.order_by("-created", "-id")[:25].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = [row[3] for row in cursor.fetchall()]
    assert plan[0] == "SEARCH videos_generation USING INTEGER PRIMARY KEY (rowid=?)", plan
    assert not any("gen_team_newest" in step for step in plan), plan
