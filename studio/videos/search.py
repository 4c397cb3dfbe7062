"""Prompt search over a text index the database keeps itself: substrings, any language, no scan.

The gallery's search is "the compiled prompt contains these characters",
case-insensitive, in English and Chinese alike (Chinese has no spaces to cut
words at, so matching substrings is what finds 咖啡 in 一杯咖啡). A scan of
every prompt grows with the team; these indexes answer from the term's own
rarity instead:

- SQLite: an FTS5 table with the trigram tokenizer (SQLite 3.34+), filled
  and kept in step by triggers on videos_generation. A term of 3 characters
  or more is a phrase of its trigrams: exactly a substring match. A shorter
  term (咖啡, 雪, a letter typed so far) is no trigram; every character of a
  prompt is indexed as the start of a trigram (each text ends with two
  padding characters), so the term occurs exactly when some indexed trigram
  starts with it: those are read from the index's vocabulary (a range
  look-up) and matched together. The matches are counted first (up to
  MANY_MATCHES, one small query): few, and the page starts from them; many
  (or a short term starting very many trigrams), and the team is walked
  newest first with LIKE, which fills a page after a few rows.
- PostgreSQL: a GIN index over each prompt's characters and pairs of
  characters (lowercased; the functions are in migrations 0009 and 0010),
  the way pg_bigm indexes Japanese. A term's pairs (its character, when it
  is one) must all be in the prompt, then strpos checks the substring; the
  planner, with statistics (ANALYZE), chooses between the index and the
  walk. pg_trgm is not used: it cannot look up terms under 3 characters,
  and it sees Chinese only under a database locale that counts CJK as
  letters (not under C). Nothing needs an extension or a superuser.
- Anything else (an SQLite without FTS5 trigrams): the scan, as before.

The index holds every team's prompts; the gallery's own team filter keeps
each search to the team.
"""

from __future__ import annotations

import logging
import sqlite3
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Expression, F, Q

logger = logging.getLogger(__name__)

# SQLite indexes every prompt with two characters after it, char(1, 1), so
# that its last characters start a trigram too (clean_term keeps them out of terms).

# A short term that starts more trigrams than this is common: scan in order instead.
MAX_SHORT_TERM_TRIGRAMS = 200
# More matches than this (of every team) are many: walk the team newest first instead.
MANY_MATCHES = 1000
# The trigram tokenizer arrived in SQLite 3.34.0 (2020-12-01).
TRIGRAM_SINCE = (3, 34, 0)


def sqlite_trigrams_supported() -> bool:
    """Whether this process's SQLite library has FTS5 with the trigram tokenizer."""
    if sqlite3.sqlite_version_info < TRIGRAM_SINCE:
        return False
    try:
        probe = sqlite3.connect(":memory:")
        probe.execute("CREATE VIRTUAL TABLE probe USING fts5(text, tokenize='trigram')")
        probe.close()
    except sqlite3.Error:
        return False
    return True


SQLITE_TRIGRAMS = sqlite_trigrams_supported()

SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS videos_generation_search_insert AFTER INSERT ON videos_generation BEGIN
        INSERT INTO videos_generation_search(rowid, prompt) VALUES (new.id, new.compiled_prompt || char(1, 1));
    END""",
    # Every save() writes every column: the index only when the prompt really changed.
    """CREATE TRIGGER IF NOT EXISTS videos_generation_search_update AFTER UPDATE OF compiled_prompt, id ON videos_generation
    WHEN old.compiled_prompt IS NOT new.compiled_prompt OR old.id IS NOT new.id BEGIN
        DELETE FROM videos_generation_search WHERE rowid = old.id;
        INSERT INTO videos_generation_search(rowid, prompt) VALUES (new.id, new.compiled_prompt || char(1, 1));
    END""",
    """CREATE TRIGGER IF NOT EXISTS videos_generation_search_delete AFTER DELETE ON videos_generation BEGIN
        DELETE FROM videos_generation_search WHERE rowid = old.id;
    END""",
]


def create_sqlite_index(cursor: Any) -> None:
    """The FTS5 table, its vocabulary and its triggers; filled from the rows when it is new or its triggers were lost.

    Idempotent: run by the migration and after every migrate, because SQLite
    migrations that rebuild videos_generation (most AlterField, some AddField)
    drop its triggers with the old table.
    """
    cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'videos_generation'")
    triggers = {name for (name,) in cursor.fetchall()}
    complete = {
        "videos_generation_search_insert",
        "videos_generation_search_update",
        "videos_generation_search_delete",
    } <= triggers
    cursor.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS videos_generation_search USING fts5(prompt, tokenize='trigram')"
    )
    cursor.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS videos_generation_search_terms USING fts5vocab(videos_generation_search, 'row')"
    )
    if complete:
        return
    # Without all its triggers the index may have missed writes: rebuild it from the rows.
    cursor.execute("DELETE FROM videos_generation_search")
    cursor.execute(
        "INSERT INTO videos_generation_search(rowid, prompt) SELECT id, compiled_prompt || char(1, 1) FROM videos_generation"
    )
    for statement in SQLITE_TRIGGERS:
        cursor.execute(statement)


def drop_sqlite_index(cursor: Any) -> None:
    for trigger in (
        "videos_generation_search_insert",
        "videos_generation_search_update",
        "videos_generation_search_delete",
    ):
        cursor.execute("DROP TRIGGER IF EXISTS " + trigger)
    cursor.execute("DROP TABLE IF EXISTS videos_generation_search_terms")
    cursor.execute("DROP TABLE IF EXISTS videos_generation_search")


def ensure_index(db_connection: Any) -> None:
    """Create whatever of this database's search index is missing, once its migration is applied (after migrate)."""
    from django.db.migrations.recorder import MigrationRecorder

    if db_connection.vendor != "sqlite":
        return
    if ("videos", "0008_prompt_search_sqlite") not in MigrationRecorder(db_connection).applied_migrations():
        return  # not yet, or migrated back before it
    if not SQLITE_TRIGRAMS:
        logger.warning(
            "SQLite %s has no FTS5 trigram tokenizer (3.34+ with FTS5): prompt search scans every prompt",
            sqlite3.sqlite_version,
        )
        return
    with db_connection.cursor() as cursor:
        create_sqlite_index(cursor)


def clean_term(term: str) -> str:
    """The term without control characters (the index's padding is one)."""
    return "".join(ch for ch in term if unicodedata.category(ch) != "Cc")


def _phrase(text: str) -> str:
    """An FTS5 string: everything inside it is literal (AND, OR, NEAR, *, -, quotes doubled)."""
    return '"' + text.replace('"', '""') + '"'


class _InSearchIndex(Expression):
    """The row's id is among those the FTS5 query matches (SQLite)."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, query: str) -> None:
        super().__init__()
        self.query = query
        self.row = F("id")

    def get_source_expressions(self) -> list:
        return [self.row]

    def set_source_expressions(self, exprs: list) -> None:
        [self.row] = exprs

    def as_sql(self, compiler, db_connection) -> tuple[str, tuple]:
        row, params = compiler.compile(self.row)
        # Only the compiled column is put in; the query is a parameter.
        sql = row + " IN (SELECT rowid FROM videos_generation_search WHERE videos_generation_search MATCH %s)"  # noqa: S608
        return sql, (*params, self.query)


class _PromptGramsContain(Expression):
    """The prompt holds the term, asked through the gram index (PostgreSQL).

    strpos decides; the gram containment is there for the planner to use the
    GIN index (in a WHERE the two are separate conditions, and strpos, the
    cheaper, is tried first on rows the index did not choose).
    """

    conditional = True
    output_field = BooleanField()

    def __init__(self, term: str) -> None:
        super().__init__()
        self.term = term
        self.prompt = F("compiled_prompt")

    def get_source_expressions(self) -> list:
        return [self.prompt]

    def set_source_expressions(self, exprs: list) -> None:
        [self.prompt] = exprs

    def as_sql(self, compiler, db_connection) -> tuple[str, tuple]:
        prompt, params = compiler.compile(self.prompt)
        sql = (
            f"(strpos(lower({prompt}), lower(%s)) > 0"
            f" AND studio_prompt_grams({prompt}) @> studio_term_grams(%s))"
        )
        return sql, (*params, self.term, *params, self.term)


def _short_term_query(term: str) -> str | None:
    """An FTS5 query for a term of 1 or 2 characters: every indexed trigram it starts.

    None when there are too many (a common term: better scanned in order).
    """
    prefix = term.lower()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT term FROM videos_generation_search_terms WHERE term >= %s AND term < %s LIMIT %s",
            [prefix, prefix + "\U0010ffff", MAX_SHORT_TERM_TRIGRAMS + 1],
        )
        trigrams = [trigram for (trigram,) in cursor.fetchall()]
    if len(trigrams) > MAX_SHORT_TERM_TRIGRAMS:
        return None
    # No trigram starts with it: the empty phrase, which matches nothing.
    return " OR ".join(_phrase(trigram) for trigram in trigrams) or '""'


def _count_matches(query: str, limit: int) -> int:
    """How many prompts (of every team) the FTS5 query matches, counting no further than `limit`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM videos_generation_search"
            " WHERE videos_generation_search MATCH %s LIMIT %s)",
            [query, limit],
        )
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class PromptSearch:
    """How to find the prompts that contain a term.

    `few`: the matches are few, so the query should start from them (SQLite:
    the gallery then keeps the team's index out of the plan, or SQLite,
    without statistics, walks the whole team in date order to test each
    row). When they are many, walking the team newest first finds a page of
    them after a few rows, testing each with LIKE: cheaper than listing them all.
    """

    condition: Q
    few: bool = False


def prompt_search(term: str) -> PromptSearch:
    """The condition "the compiled prompt contains `term`", case-insensitively, over the index."""
    term = clean_term(term)
    if not term:
        return PromptSearch(Q(pk__in=[]))
    if connection.vendor == "postgresql":
        # PostgreSQL's planner weighs the GIN index against the walk itself (with statistics).
        return PromptSearch(Q(_PromptGramsContain(term)))
    if connection.vendor == "sqlite" and SQLITE_TRIGRAMS:
        query = _phrase(term) if len(term) >= 3 else _short_term_query(term)
        if query is not None and _count_matches(query, MANY_MATCHES + 1) <= MANY_MATCHES:
            return PromptSearch(Q(_InSearchIndex(query)), few=True)
    # icontains works for Chinese too: there is no case to fold (ASCII's is: LIKE folds only that).
    return PromptSearch(Q(compiled_prompt__icontains=term))


def prompt_contains(term: str) -> Q:
    return prompt_search(term).condition
