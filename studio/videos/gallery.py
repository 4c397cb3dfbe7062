"""The team gallery's queries: filtered keyset pages, and "what changed since".

The gallery must open fast with tens of thousands of generations, so:
- pages are cut with a keyset on (created, id), never OFFSET, which rides the
  (team, -created, -id) index however deep the page;
- the comment count and "is it my favourite" are correlated subqueries, so
  they are computed for the page's rows only and the number of queries per
  page stays the same whatever the number of cards;
- the live refresh first asks whether any of the team's rows moved since the
  newest `updated` the page saw (the (team, updated) index) and whether the
  cards on screen are all still there (by code): when neither, nothing
  changed, and nothing had to announce it. Otherwise it asks about the cards
  on screen (in-flight ones by status and progress, finished ones near the
  viewport by `updated`) and about cards newer than the newest one shown.

Versions are stacked: a video regenerated or remixed shares its `lineage` with
the versions made from it, and the gallery shows one card per lineage, the
newest version that matches the filters, with the number of versions in the
lineage. Both are correlated subqueries over the (lineage, created, id) index
(newest_of_lineage, and the count in annotated()), so stacking adds no query.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from functools import cached_property

from django.contrib.auth.models import User
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from studio.accounts.models import Team
from studio.videos import search
from studio.videos.models import IN_FLIGHT, Comment, Favourite, Generation, Status

PAGE_SIZE = 24
# The columns card.html shows, plus what the keyset and the card's cache key read.
CARD_FIELDS = (
    "code",
    "team_id",
    "created",
    "updated",
    "status",
    "progress",
    "error_message",
    "video",
    "poster",
    "video_duration",
    "review_status",
    "compiled_prompt",
    "duration",
    "aspect_ratio",
    "lineage",
    "author__first_name",
    "author__last_name",
    "author__email",
)
# The live refresh looks at no more in-flight cards than this per request,
MAX_WATCHED = 60
# nor more finished ones (gallery.js sends those near the viewport), which keeps
# the request line short (gunicorn refuses lines over 4 KB).
MAX_SEEN = 40
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

STATUS_GROUPS: dict[str, tuple[str, ...]] = {
    "in_progress": tuple(IN_FLIGHT),
    "ready": (Status.READY,),
    "failed": (Status.FAILED, Status.EXPIRED, Status.UNKNOWN),
}


@dataclass(frozen=True)
class Filters:
    """The filters that survived validation, ready to apply."""

    q: str = ""
    author: int | None = None
    status: str = ""
    review: str = ""
    aspect: str = ""
    duration: str = ""
    favourites: bool = False
    start: dt.date | None = None
    end: dt.date | None = None
    sort: str = "newest"

    @cached_property
    def search(self) -> search.PromptSearch:
        """How this request finds the prompts that contain q (one look-up in the index, once)."""
        return search.prompt_search(self.q)

    @property
    def active(self) -> bool:
        return any(
            [self.q, self.author, self.status, self.review, self.aspect, self.duration, self.favourites]
        ) or bool(self.start or self.end)


def encode_cursor(generation: Generation) -> str:
    micros = (generation.created - _EPOCH) // dt.timedelta(microseconds=1)
    return f"{micros}_{generation.pk}"


def decode_cursor(value: str | None) -> tuple[dt.datetime, int] | None:
    """(created, id) from a cursor, or None for anything we did not write."""
    if not value:
        return None
    micros, _, pk = value.partition("_")
    try:
        created = _EPOCH + dt.timedelta(microseconds=int(micros))
        return created, int(pk)
    except (ValueError, OverflowError):
        return None


def annotated(rows: QuerySet[Generation], user: User) -> QuerySet[Generation]:
    """The rows with everything a card shows, in one query.

    Only the columns card.html uses are loaded: turning forty columns
    (seven of them dates) into 25 models cost more than the query itself. A
    field added to the card must be added here, or each card costs a query.
    """
    comments = (
        Comment.objects.filter(generation=OuterRef("pk"))
        .order_by()
        .values("generation")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return (
        rows.select_related("author")
        .only(*CARD_FIELDS)
        .annotate(
            comment_count=Coalesce(Subquery(comments, output_field=IntegerField()), Value(0)),
            is_favourite=Exists(Favourite.objects.filter(generation=OuterRef("pk"), user=user)),
            version_count=version_count(),
        )
    )


def version_count() -> Subquery:
    """How many versions the row's lineage has (itself included), whatever the filters."""
    return Subquery(
        Generation.objects.filter(lineage=OuterRef("lineage"))
        .order_by()
        .values("lineage")
        .annotate(count=Count("pk"))
        .values("count"),
        output_field=IntegerField(),
    )


def newest_of_lineage(filters: Filters, user: User) -> Q:
    """The row is the newest version of its lineage that matches the filters: the one its stack shows.

    A NOT EXISTS over the (lineage, created, id) index: for the many rows that
    are their lineage's only version it is one index probe that finds nothing.
    Versions newer than the row must match the filters too, so a filtered
    gallery shows each stack's newest matching version (Approved shows the
    approved take even when a newer one is still in review).
    """
    newer = Generation.objects.filter(lineage=OuterRef("lineage"), created__gte=OuterRef("created")).filter(
        Q(created__gt=OuterRef("created")) | Q(pk__gt=OuterRef("pk"))
    )
    return ~Q(Exists(newer.filter(matching(filters, user))))


def matching(filters: Filters, user: User) -> Q:
    """The filters as one condition: a WHERE for pages, a column for cards named by code."""
    condition = Q()
    if filters.q:
        # Over the prompt search index (search.py): a substring, in any language.
        condition &= filters.search.condition
    if filters.author:
        condition &= Q(author_id=filters.author)
    if filters.status:
        condition &= Q(status__in=STATUS_GROUPS[filters.status])
    if filters.review:
        condition &= Q(review_status=filters.review)
    if filters.aspect:
        condition &= Q(aspect_ratio=filters.aspect)
    if filters.duration:
        condition &= Q(duration=filters.duration)
    if filters.favourites:
        condition &= Q(Exists(Favourite.objects.filter(generation=OuterRef("pk"), user=user)))
    # Whole days in the studio's time zone; comparing on created keeps the index usable.
    zone = timezone.get_current_timezone()
    if filters.start:
        condition &= Q(created__gte=dt.datetime.combine(filters.start, dt.time.min, zone))
    if filters.end:
        next_day = filters.end + dt.timedelta(days=1)
        condition &= Q(created__lt=dt.datetime.combine(next_day, dt.time.min, zone))
    return condition


def team_rows(team: Team, filters: Filters) -> QuerySet[Generation]:
    """The team's rows, to filter: with an index on the team, unless a search's few matches should lead.

    `team_id + 0` is the same condition with no index to use: SQLite without
    statistics would otherwise walk the team's whole (team, created) index,
    testing every row against the list of matches, instead of reading the
    few matching rows and sorting them.
    """
    if filters.q and filters.search.few:
        return Generation.objects.alias(team_unindexed=F("team_id") + 0).filter(team_unindexed=team.pk)
    return Generation.objects.filter(team=team)


def apply_filters(queryset: QuerySet[Generation], filters: Filters, user: User) -> QuerySet[Generation]:
    """The rows that match, one per stack (the newest matching version of each lineage)."""
    return queryset.filter(matching(filters, user) & newest_of_lineage(filters, user))


def by_code(codes: list[str] | list[uuid.UUID]) -> QuerySet[Generation]:
    """Rows named by code, for the live refresh: the unique index on code and nothing else.

    Nothing else is in the WHERE on purpose: given team_id = ? (or a filter on
    status) as well, SQLite without statistics walks the team's whole index
    instead. Callers check the team on the rows that come back, and test the
    filters as a column (matching()).
    """
    return Generation.objects.filter(code__in=list(codes)).order_by()


def _after(queryset: QuerySet[Generation], cursor: tuple[dt.datetime, int], newest_first: bool):
    created, pk = cursor
    # The plain bound on created lets the database seek in the index; the OR
    # only breaks ties between rows created in the same microsecond.
    if newest_first:
        return queryset.filter(created__lte=created).filter(Q(created__lt=created) | Q(pk__lt=pk))
    return queryset.filter(created__gte=created).filter(Q(created__gt=created) | Q(pk__gt=pk))


@dataclass
class Page:
    cards: list[Generation]
    next_cursor: str | None


def gallery_page(
    *, team: Team, user: User, filters: Filters, after: str | None = None, size: int = PAGE_SIZE
) -> Page:
    newest_first = filters.sort != "oldest"
    queryset = apply_filters(annotated(team_rows(team, filters), user), filters, user)
    if cursor := decode_cursor(after):
        queryset = _after(queryset, cursor, newest_first)
    order = ("-created", "-id") if newest_first else ("created", "id")
    cards = list(queryset.order_by(*order)[: size + 1])
    more = len(cards) > size
    cards = cards[:size]
    return Page(cards=cards, next_cursor=encode_cursor(cards[-1]) if more and cards else None)


@dataclass
class Changes:
    new_cards: list[Generation]  # newest first, to put at the top of the grid
    changed_cards: list[Generation]  # cards on screen that moved on or changed, still matching
    gone_codes: list[str]  # cards on screen deleted, or that no longer match the filters
    top: str | None  # the cursor of the newest card now on screen
    overflow: bool  # more new cards than one page: better to reload the results
    # Older cards that started to match the filters (approved while the gallery
    # shows Approved): the code of a card on screen, and the cards to put before it.
    appeared: list[tuple[str, list[Generation]]] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.new_cards or self.changed_cards or self.gone_codes or self.appeared)


def parse_watch(values: list[str]) -> dict[str, tuple[str, int]]:
    """{code: (status, progress)} from the "code:status:progress" values cards send."""
    watched: dict[str, tuple[str, int]] = {}
    for value in values[:MAX_WATCHED]:
        code, _, rest = value.partition(":")
        status, _, progress = rest.partition(":")
        try:
            watched[str(uuid.UUID(code))] = (status, int(progress or 0))
        except ValueError:
            continue
    return watched


def card_version(updated: dt.datetime | None) -> str:
    """A short token for an `updated`: a card's own version, or the newest the page saw.

    Every service that changes what a card shows (the pipeline's steps, review
    status, comments) moves the row's `updated` in the same call; the
    favourite mark is the viewer's own and is not part of it.
    """
    if updated is None:
        return "0"
    micros = (updated - _EPOCH) // dt.timedelta(microseconds=1)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    token = ""
    while micros > 0:
        micros, digit = divmod(micros, 36)
        token = digits[digit] + token
    return token or "0"


def card_token(updated: dt.datetime | None, versions: int) -> str:
    """What a finished card sends as its version: its `updated`, and the size of its stack if it has one.

    A new version of a video does not move the older versions' rows, yet
    their stack's count changed: a stacked card's token carries the count, so
    the live refresh sees it as changed (a single card's token is its version alone).
    """
    version = card_version(updated)
    return version if versions <= 1 else f"{version}-{versions}"


def _from_version(token: str) -> dt.datetime | None:
    try:
        return _EPOCH + dt.timedelta(microseconds=int(token[:16], 36))
    except (ValueError, OverflowError):
        return None


def newest_change(team: Team) -> str:
    """The newest `updated` of the team's rows, as a token: what the gallery drawn now has seen.

    Read before the page's cards, so a change committed in between is newer
    than the token and is picked up by the next live refresh.
    """
    newest = Generation.objects.filter(team=team).aggregate(newest=Max("updated"))["newest"]
    return card_version(newest)


def nothing_changed(*, team: Team, since: str, codes: list[str]) -> bool:
    """Whether no row of the team moved after `since` and the cards on screen all still exist.

    One query over two index look-ups whatever the size of the team: the
    (team, updated) index for any insert or change, the unique code for
    deletes of what the page shows. At most one row more than the codes is
    read: the codes name no more rows than that, so a full answer holds a
    moved row whenever one exists (a tab asleep for a day counts no backlog).
    """
    moment = _from_version(since)
    if moment is None:
        return False
    codes = list(set(codes))
    moved = Q(team=team, updated__gt=moment)
    rows = Generation.objects.filter(moved | Q(code__in=codes)).order_by().values_list("team_id", "updated")
    found = list(rows[: len(codes) + 1])
    if any(team_id == team.pk and updated > moment for team_id, updated in found):
        return False
    return sum(team_id == team.pk for team_id, _ in found) == len(codes)


def parse_seen(values: list[str]) -> dict[str, str]:
    """{code: version} from the "code.version" values finished cards send."""
    seen: dict[str, str] = {}
    for value in values[:MAX_SEEN]:
        code, _, version = value.partition(".")
        try:
            seen[str(uuid.UUID(code))] = version[:24]
        except ValueError:
            continue
    return seen


def gallery_changes(
    *,
    team: Team,
    user: User,
    filters: Filters,
    top: str | None,
    watched: dict[str, tuple[str, int]],
    seen: dict[str, str] | None = None,
) -> Changes:
    """What the gallery on screen is missing: new cards, and cards on screen that changed or went.

    Asked only when nothing_changed() said something did; still, the usual
    answer (a row off screen moved) costs two small indexed queries, and full
    cards are loaded only for what changed.
    """
    seen = seen or {}
    plain = apply_filters(team_rows(team, filters), filters, user)
    new_ids: list[int] = []
    overflow = False
    if filters.sort != "oldest":
        newer = plain
        if cursor := decode_cursor(top):
            # Newer than the top card is the keyset "after" in the other direction.
            newer = _after(plain, cursor, newest_first=False)
        new_ids = list(newer.order_by("-created", "-id").values_list("pk", flat=True)[: PAGE_SIZE + 1])
        overflow = len(new_ids) > PAGE_SIZE and bool(top)
        new_ids = new_ids[:PAGE_SIZE]

    changed_codes: list[uuid.UUID] = []
    gone_codes: list[str] = []
    states: dict = {}
    if watched or seen:
        on_screen = by_code({*watched, *seen}).annotate(
            matches=ExpressionWrapper(matching(filters, user), output_field=BooleanField()),
            newest=ExpressionWrapper(newest_of_lineage(filters, user), output_field=BooleanField()),
            stack_size=version_count(),
        )
        columns = ("code", "team_id", "status", "progress", "updated", "created", "pk")
        states = {
            str(row["code"]): row
            for row in on_screen.values(*columns, "matches", "newest", "stack_size")
            # Another team's codes are simply not found: they come back as
            # deletes of what the client sent, never as cards.
            if row["team_id"] == team.pk
        }
        for code in {**watched, **seen}:
            if code not in states:
                gone_codes.append(code)  # deleted since the page was drawn
                continue
            row = states[code]
            if not row["newest"]:
                # A newer version of it that matches the filters exists: its stack
                # shows that one (a new card, or one already on screen) instead.
                gone_codes.append(code)
            elif (code in watched and watched[code] != (row["status"], row["progress"])) or (
                code in seen and seen[code] != card_token(row["updated"], row["stack_size"])
            ):
                if row["matches"]:
                    changed_codes.append(row["code"])
                else:  # it changed and no longer matches the filters: it leaves the screen
                    gone_codes.append(code)

    appeared = _appeared(team, user, filters, states, seen, gone_codes)

    # Built only when something changed: composing its subqueries costs more
    # than the look-ups above.
    new_cards = _newest_first(annotated(Generation.objects.filter(pk__in=new_ids), user)) if new_ids else []
    new_codes = {card.code for card in new_cards}
    changed_codes = [code for code in changed_codes if code not in new_codes]
    changed_cards = []
    if changed_codes:
        changed_cards = list(annotated(by_code(changed_codes), user))
    if new_cards:
        top = encode_cursor(new_cards[0])
    return Changes(new_cards, changed_cards, gone_codes, top, overflow, appeared)


def _newest_first(cards: QuerySet[Generation]) -> list[Generation]:
    """A few rows named by id or code, sorted here: asked to sort, SQLite would walk
    the team's whole (team, created) index to avoid sorting them."""
    return sorted(cards.order_by(), key=lambda card: (card.created, card.pk), reverse=True)


def _appeared(
    team: Team, user: User, filters: Filters, states: dict, seen: dict[str, str], gone: list[str]
) -> list[tuple[str, list[Generation]]]:
    """Cards older than the top that started to match the filters, where the person is looking.

    Only between the newest and the oldest finished card near the viewport
    (`seen`): the cards there are all on the page and all reported, so one
    that matches and was not reported is missing. Each goes before the next
    older card on screen; returned as (that card's code, the cards to put
    before it, newest first). Elsewhere nothing is known of what the page shows.
    """
    # Without filters an older card can only start to show when the newer
    # version its stack showed went away (deleted, or filtered out).
    if not (filters.active or gone) or filters.sort == "oldest":
        return []
    anchors = sorted(
        (
            ((states[code]["created"], states[code]["pk"]), code)
            for code in seen
            if code in states and code not in gone
        ),
        reverse=True,
    )
    if len(anchors) < 2:
        return []
    newest, oldest = anchors[0][0], anchors[-1][0]
    between = _after(apply_filters(team_rows(team, filters), filters, user), newest, newest_first=True)
    between = _after(between, oldest, newest_first=False)
    reported = {row["code"] for row in states.values()}
    missing = [
        pk
        for pk, code in between.order_by("-created", "-id").values_list("pk", "code")[:PAGE_SIZE]
        if code not in reported
    ]
    if not missing:
        return []
    groups: dict[str, list[Generation]] = {}
    for card in _newest_first(annotated(Generation.objects.filter(pk__in=missing), user)):
        before = next(code for position, code in anchors if position < (card.created, card.pk))
        groups.setdefault(before, []).append(card)
    return list(groups.items())


def versions_of(generation: Generation) -> list[Generation]:
    """Every version of a video (its lineage, the generation itself included), oldest first.

    Each is numbered (`number`, from 1) and knows the number of the version it
    was made from (`made_from`, None for the first or when that one was deleted),
    and whether it is older than `generation` (`is_older`), for the compare links.
    """
    # The lineage alone in the WHERE: with team_id = ? too, SQLite without
    # statistics walks the team's (team, created) index instead of (lineage, created, id).
    rows = (
        Generation.objects.filter(lineage=generation.lineage)
        .select_related("author")
        .order_by("created", "id")
    )
    versions = [version for version in rows if version.team_id == generation.team_id]
    numbers = {version.pk: number for number, version in enumerate(versions, start=1)}
    for version in versions:
        version.number = numbers[version.pk]
        version.made_from = numbers.get(version.parent_id)
        version.is_older = version.number < numbers.get(generation.pk, 0)
    return versions


def authors(team: Team) -> list[User]:
    """Everyone in the team, for the author filter."""
    return list(User.objects.filter(memberships__team=team).order_by("first_name", "email"))


def recent_cards(
    *, team: Team, user: User, limit: int = 6, code: uuid.UUID | None = None
) -> list[Generation]:
    """The person's latest generations in this team, newest first, as cards for the composer.

    With a code, that one generation's card, whoever made it (a card that polls itself).
    """
    if code is not None:
        return [card for card in annotated(by_code([code]), user) if card.team_id == team.pk]
    mine = Generation.objects.filter(team=team, author=user)
    return list(annotated(mine, user).order_by("-created", "-id")[:limit])
