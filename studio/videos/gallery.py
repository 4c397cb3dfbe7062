"""The team gallery: filters from the URL, keyset pages, and "what changed since".

The gallery must open fast with tens of thousands of generations, so:
- pages are cut with a keyset on (created, id), never OFFSET, which rides the
  (team, -created, -id) index however deep the page;
- the comment count and "is it my favourite" are correlated subqueries, so
  they are computed for the page's rows only and the number of queries per
  page stays the same whatever the number of cards;
- the live refresh asks about the cards on screen (in-flight ones by status
  and progress, finished ones near the viewport by version) and about cards
  newer than the newest one shown, both indexed look-ups.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.template.loader import get_template
from django.urls import get_script_prefix
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import get_language

from studio.accounts.models import Team
from studio.videos.models import (
    CARD_SHOWS,
    IN_FLIGHT,
    AspectRatio,
    Comment,
    Duration,
    Favourite,
    Generation,
    ReviewStatus,
    Status,
)

PAGE_SIZE = 24
# What gallery_card.html shows (models.CARD_SHOWS), plus what the keyset and the card's cache key read.
CARD_FIELDS = (
    "code",
    "team_id",
    "created",
    "updated",
    *sorted(CARD_SHOWS),
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
_DAYS = [
    MinValueValidator(dt.date(2000, 1, 1), "Choose a day in 2000 or later."),
    MaxValueValidator(dt.date(2999, 12, 31), "Choose a day before the year 3000."),
]

STATUS_GROUPS: dict[str, tuple[str, ...]] = {
    "in_progress": tuple(IN_FLIGHT),
    "ready": (Status.READY,),
    "failed": (Status.FAILED, Status.EXPIRED, Status.UNKNOWN),
}


class GalleryFilterForm(forms.Form):
    """What the filter bar sends. Every field is optional; bad values are dropped."""

    q = forms.CharField(required=False, max_length=200, label="Search prompts")
    author = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Author")
    status = forms.ChoiceField(
        required=False,
        label="Status",
        choices=[
            ("", "Any status"),
            ("in_progress", "In progress"),
            ("ready", "Ready"),
            ("failed", "Failed"),
        ],
    )
    review = forms.ChoiceField(
        required=False, label="Review", choices=[("", "Any review"), *ReviewStatus.choices]
    )
    aspect = forms.ChoiceField(
        required=False, label="Aspect ratio", choices=[("", "Any shape"), *AspectRatio.choices]
    )
    duration = forms.ChoiceField(
        required=False, label="Duration", choices=[("", "Any length"), *Duration.choices]
    )
    favourites = forms.BooleanField(required=False, label="Only my favourites")
    # Bounded: a day like 9999-12-31 is a valid date, but "the day after" is not.
    start = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}), validators=_DAYS
    )
    end = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}), validators=_DAYS
    )
    sort = forms.ChoiceField(
        required=False, label="Sort", choices=[("newest", "Newest first"), ("oldest", "Oldest first")]
    )

    def __init__(self, *args: Any, authors: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["author"].choices = [("", "Anyone")] + [
            (user.pk, user.get_full_name() or user.email) for user in authors
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "The end date is before the start date.")
        return data

    @cached_property
    def bar(self) -> dict[str, Any]:
        """What the filter bar shows: the values as sent, and each select's options.

        gallery_filters.html draws the inputs from this by hand: Django's widget
        rendering (a template per option) cost about 2 ms a page for these fields.
        """
        raw = {name: self.data.get(name, "") if self.is_bound else "" for name in self.fields}
        shown: dict[str, Any] = {name: raw[name] for name in ("q", "start", "end")}
        shown["favourites"] = bool(self.is_valid() and self.cleaned_data.get("favourites"))
        for name in ("sort", "author", "status", "review", "aspect", "duration"):
            shown[name] = [
                (str(value), label, str(value) == raw[name]) for value, label in self.fields[name].choices
            ]
        return shown


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

    @property
    def active(self) -> bool:
        return any(
            [self.q, self.author, self.status, self.review, self.aspect, self.duration, self.favourites]
        ) or bool(self.start or self.end)


def read_filters(form: GalleryFilterForm) -> tuple[Filters, list[str]]:
    """The valid filters of a bound form, and a plain message per ignored value."""
    form.is_valid()
    data = form.cleaned_data
    ignored = [
        f"{form.fields[name].label if name in form.fields else 'Filters'}: {' '.join(errors)}"
        for name, errors in form.errors.items()
    ]
    filters = Filters(
        q=(data.get("q") or "").strip(),
        author=data.get("author"),
        status=data.get("status") or "",
        review=data.get("review") or "",
        aspect=data.get("aspect") or "",
        duration=data.get("duration") or "",
        favourites=bool(data.get("favourites")),
        start=data.get("start"),
        end=data.get("end") if "end" in data else None,
        sort=data.get("sort") or "newest",
    )
    return filters, ignored


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


def team_generations(team: Team, *, by_key: bool = False) -> QuerySet[Generation]:
    """The team's generations; by_key for look-ups of a few rows by code or id.

    Given a plain team_id = ?, SQLite walks the team's whole (team, created)
    index even when the rows are named by code or id (about 5 ms at 10,000
    generations). "team_id + 0" keeps the team check in SQL but out of the
    index choice, so such a look-up rides the unique index on code or the
    primary key and costs the same whatever the size of the team.
    """
    if by_key:
        return Generation.objects.alias(team_key=F("team_id") + 0).filter(team_key=team.pk)
    return Generation.objects.filter(team=team)


def annotated(team: Team, user: User, *, by_key: bool = False) -> QuerySet[Generation]:
    """The team's generations with everything a card shows, in one query.

    Only the columns gallery_card.html uses are loaded: turning forty columns
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
        team_generations(team, by_key=by_key)
        .select_related("author")
        .only(*CARD_FIELDS)
        .annotate(
            comment_count=Coalesce(Subquery(comments, output_field=IntegerField()), Value(0)),
            is_favourite=Exists(Favourite.objects.filter(generation=OuterRef("pk"), user=user)),
        )
    )


def apply_filters(queryset: QuerySet[Generation], filters: Filters, user: User) -> QuerySet[Generation]:
    if filters.q:
        # icontains works for Chinese too: there is no case to fold.
        queryset = queryset.filter(compiled_prompt__icontains=filters.q)
    if filters.author:
        queryset = queryset.filter(author_id=filters.author)
    if filters.status:
        queryset = queryset.filter(status__in=STATUS_GROUPS[filters.status])
    if filters.review:
        queryset = queryset.filter(review_status=filters.review)
    if filters.aspect:
        queryset = queryset.filter(aspect_ratio=filters.aspect)
    if filters.duration:
        queryset = queryset.filter(duration=filters.duration)
    if filters.favourites:
        queryset = queryset.filter(Exists(Favourite.objects.filter(generation=OuterRef("pk"), user=user)))
    # Whole days in the studio's time zone; comparing on created keeps the index usable.
    zone = timezone.get_current_timezone()
    if filters.start:
        queryset = queryset.filter(created__gte=dt.datetime.combine(filters.start, dt.time.min, zone))
    if filters.end:
        next_day = filters.end + dt.timedelta(days=1)
        queryset = queryset.filter(created__lt=dt.datetime.combine(next_day, dt.time.min, zone))
    return queryset


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
    queryset = apply_filters(annotated(team, user), filters, user)
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


def card_version(updated: dt.datetime) -> str:
    """A short token for a card's `updated`, which moves whenever what the card shows changes.

    Services that change a finished card (review status, comments) move
    `updated` in the same transaction; the favourite mark is the viewer's own
    and is not part of it.
    """
    micros = (updated - _EPOCH) // dt.timedelta(microseconds=1)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    token = ""
    while micros > 0:
        micros, digit = divmod(micros, 36)
        token = digits[digit] + token
    return token or "0"


def parse_seen(values: list[str]) -> dict[str, str]:
    """{code: version} from the "code.version" values finished cards send."""
    seen: dict[str, str] = {}
    for value in values[:MAX_SEEN]:
        code, _, version = value.partition(".")
        try:
            seen[str(uuid.UUID(code))] = version[:16]
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

    Asked every few seconds by every open gallery, so the usual answer, nothing,
    costs two small indexed queries (the second by code, for the cards on
    screen only); full cards are loaded only for what changed.
    """
    seen = seen or {}
    plain = apply_filters(Generation.objects.filter(team=team), filters, user)
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
    if watched or seen:
        # Another team's codes are simply not found: they come back as deletes
        # of what the client sent, never as cards.
        on_screen = team_generations(team, by_key=True).filter(code__in=list({*watched, *seen})).order_by()
        states = {
            str(code): (code, status, progress, updated, (created, pk))
            for code, status, progress, updated, created, pk in on_screen.values_list(
                "code", "status", "progress", "updated", "created", "pk"
            )
        }
        for code in {**watched, **seen}:
            if code not in states:
                gone_codes.append(code)  # deleted since the page was drawn
                continue
            uuid_code, status, progress, updated, _ = states[code]
            if (code in watched and watched[code] != (status, progress)) or (
                code in seen and seen[code] != card_version(updated)
            ):
                changed_codes.append(uuid_code)
        if changed_codes and filters.active:
            still = apply_filters(team_generations(team, by_key=True), filters, user)
            matching = set(still.filter(code__in=changed_codes).values_list("code", flat=True))
            gone_codes += [str(code) for code in changed_codes if code not in matching]
            changed_codes = [code for code in changed_codes if code in matching]

    appeared = _appeared(team, user, filters, states if (watched or seen) else {}, seen, gone_codes)

    # Built only when something changed: composing its subqueries costs more
    # than the two look-ups above.
    new_cards: list[Generation] = []
    if new_ids:
        by_id = annotated(team, user, by_key=True).filter(pk__in=new_ids)
        new_cards = list(by_id.order_by("-created", "-id"))
    new_codes = {card.code for card in new_cards}
    changed_codes = [code for code in changed_codes if code not in new_codes]
    changed_cards = []
    if changed_codes:
        changed_cards = list(annotated(team, user, by_key=True).filter(code__in=changed_codes).order_by())
    if new_cards:
        top = encode_cursor(new_cards[0])
    return Changes(new_cards, changed_cards, gone_codes, top, overflow, appeared)


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
    if not filters.active or filters.sort == "oldest":
        return []
    anchors = sorted(
        ((states[code][4], code) for code in seen if code in states and code not in gone), reverse=True
    )
    if len(anchors) < 2:
        return []
    newest, oldest = anchors[0][0], anchors[-1][0]
    between = _after(apply_filters(team_generations(team), filters, user), newest, newest_first=True)
    between = _after(between, oldest, newest_first=False)
    reported = {states[code][0] for code in states}
    missing = [
        pk
        for pk, code in between.order_by("-created", "-id").values_list("pk", "code")[:PAGE_SIZE]
        if code not in reported
    ]
    if not missing:
        return []
    groups: dict[str, list[Generation]] = {}
    for card in annotated(team, user, by_key=True).filter(pk__in=missing).order_by("-created", "-id"):
        before = next(code for position, code in anchors if position < (card.created, card.pk))
        groups.setdefault(before, []).append(card)
    return list(groups.items())


def authors(team: Team) -> list[User]:
    """Everyone in the team, for the author filter."""
    return list(User.objects.filter(memberships__team=team).order_by("first_name", "email"))


# Everything a cached gallery part is drawn from, so that a deploy that changes
# any of them never serves old markup from a shared cache.
PAGE_TEMPLATES = (
    "base.html",
    "videos/home.html",
    "videos/gallery_filters.html",
    "videos/gallery_results.html",
    "videos/gallery_page.html",
    "videos/gallery_card.html",
    "videos/gallery_live.html",
)


@functools.lru_cache(maxsize=8)
def _templates_digest(sources: tuple[str, ...]) -> str:
    return hashlib.sha256("\0".join(sources).encode()).hexdigest()[:12]


def page_cache_key(
    *, team: Team, viewer: User, can_generate: bool, template: str, params, shell: tuple = ()
) -> str:
    """The cache key of a gallery part: what it is drawn from, versioned by the team's gallery.

    The team's gallery_version moves with every change to generations,
    comments, favourites and members (see Team.gallery_version), so an entry
    is never stale, only unused. The viewer is in the key for their favourite
    marks and the "my favourites" filter; the rest is the part, the query as
    sent, the role's buttons, language, time zone, the templates and, for a
    whole page, what its top bar shows (shell).
    """
    sources = tuple(get_template(name).template.source for name in PAGE_TEMPLATES)
    drawn_from = (
        template,
        sorted(params.lists()),
        can_generate,
        get_language(),
        timezone.get_current_timezone_name(),
        get_script_prefix(),
        _templates_digest(sources),
        shell,
    )
    digest = hashlib.sha256(repr(drawn_from).encode()).hexdigest()[:32]
    return f"gallery:{team.pk}:{team.gallery_version}:{viewer.pk}:{digest}"
