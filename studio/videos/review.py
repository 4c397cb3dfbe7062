"""Reviewing finished videos: review status, comments, favourites, delete, regenerate.

Views check who may do what (see the access helpers in views.py); these
functions only do it, keyword-only, so tests and views call them the same way.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, OuterRef, Prefetch, Subquery
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext, pgettext_lazy

from studio.accounts.models import Team
from studio.videos import prompting
from studio.videos.models import Comment, Favourite, Generation, ReviewEvent, ReviewStatus, file_storage
from studio.videos.templatetags.gallery_tags import clock

MAX_COMMENT_LENGTH = 4000

# What a drawing on the frame may hold (see clean_drawing): a few shapes, each a
# handful of points in 0-1 coordinates of the frame, in one of the palette's colours.
SHAPE_TYPES = ("arrow", "rect", "pen")
COLOURS = ("pink", "yellow", "cyan")
MAX_SHAPES = 30
MAX_PEN_POINTS = 400
MAX_DRAWING_POINTS = 2000
MAX_DRAWING_BYTES = 64 * 1024
# The player may report a position a hair past the end; further than this is a mistake.
END_SLACK_SECONDS = 1.0


def _page_changed(generation: Generation) -> None:
    """Moves `updated` on when what the generation's card or page shows changed (its comments).

    `updated` is the row's own version: open galleries ask whether any of the
    team's rows moved past the newest one they saw, and get back only the
    cards whose `updated` moved (gallery.gallery_changes); an open video page
    asks the same of its own row (page_version). A queryset update, so nothing
    else on the row is written over; a worker's claim is unaffected (claims
    have their own version, `claim_version`).
    """
    Generation.objects.filter(pk=generation.pk).update(updated=timezone.now())


def set_review_status(*, generation: Generation, actor: User, status: str) -> ReviewEvent | None:
    """Moves the review on and records who did it; None when nothing changed."""
    status = ReviewStatus(status)
    with transaction.atomic():
        changed = (
            Generation.objects.filter(pk=generation.pk)
            .exclude(review_status=status)
            .update(review_status=status, updated=timezone.now())
        )
        if not changed:
            return None
        generation.review_status = status
        return ReviewEvent.objects.create(generation=generation, actor=actor, status=status)


# --- Comments -----------------------------------------------------------------


def add_comment(
    *,
    generation: Generation,
    author: User,
    body: str,
    at_seconds: float | None,
    end_seconds: float | None = None,
    drawing: list[dict] | None = None,
) -> Comment:
    """A top-level comment; the moment, range and drawing come checked (CommentForm)."""
    if generation.video_duration:
        # The player can report a position a hair past the end.
        if at_seconds is not None:
            at_seconds = min(at_seconds, generation.video_duration)
        if end_seconds is not None:
            end_seconds = min(end_seconds, generation.video_duration)
    if at_seconds is None or (end_seconds is not None and end_seconds <= at_seconds):
        end_seconds = None  # a range of nothing is a moment
    with transaction.atomic():
        comment = Comment.objects.create(
            generation=generation,
            author=author,
            body=body,
            at_seconds=at_seconds,
            end_seconds=end_seconds,
            drawing=drawing or [],
        )
        _page_changed(generation)
    return comment


def reply_to(*, comment: Comment, author: User, body: str) -> Comment:
    """A reply joins the comment's thread: replies to a reply go to the thread's first comment."""
    thread = comment.parent or comment
    with transaction.atomic():
        reply = Comment.objects.create(generation=thread.generation, author=author, parent=thread, body=body)
        Comment.objects.filter(pk=thread.pk).update(updated=reply.created)
        _page_changed(thread.generation)
    return reply


def edit_comment(*, comment: Comment, body: str) -> Comment:
    now = timezone.now()
    with transaction.atomic():
        comment.body = body
        comment.edited = now
        comment.updated = now
        # Only the comment's version moves: a gallery card shows no comment's words (page_version reads it).
        comment.save(update_fields=["body", "edited", "updated"])
    return comment


def delete_comment(*, comment: Comment) -> None:
    """Deletes the comment, and with a thread's first comment its replies."""
    with transaction.atomic():
        comment.delete()
        _page_changed(comment.generation)


def resolve_comment(*, comment: Comment, user: User) -> bool:
    """Marks the comment's thread resolved; False when it already was."""
    thread = comment.parent or comment
    now = timezone.now()
    with transaction.atomic():
        done = Comment.objects.filter(pk=thread.pk, resolved_at__isnull=True).update(
            resolved_at=now, resolved_by=user, updated=now
        )
    return bool(done)


def reopen_comment(*, comment: Comment) -> bool:
    """Opens a resolved thread again; False when it was open."""
    thread = comment.parent or comment
    with transaction.atomic():
        done = Comment.objects.filter(pk=thread.pk, resolved_at__isnull=False).update(
            resolved_at=None, resolved_by=None, updated=timezone.now()
        )
    return bool(done)


@dataclass(frozen=True)
class Threads:
    """A video's comments as the page shows them: open threads first, resolved ones folded away."""

    open: list[Comment]
    resolved: list[Comment]

    @property
    def count(self) -> int:
        return sum(1 + len(thread.replies.all()) for thread in [*self.open, *self.resolved])


def comment_threads(*, generation: Generation) -> Threads:
    """Top-level comments with their replies, in two queries however many there are."""
    replies = Prefetch("replies", queryset=Comment.objects.select_related("author").order_by("created", "id"))
    threads = list(
        generation.comments.filter(parent__isnull=True)
        .select_related("author", "resolved_by")
        .prefetch_related(replies)
    )
    return Threads(
        open=[thread for thread in threads if thread.resolved_at is None],
        resolved=[thread for thread in threads if thread.resolved_at is not None],
    )


def clean_drawing(value: object) -> list[dict]:
    """The shapes of a drawing on the frame, checked and rounded; raises ValidationError.

    A drawing is a list of {"type": "arrow"|"rect"|"pen", "colour": one of
    COLOURS, "points": [[x, y], ...]} with x and y in 0..1 of the frame (0, 0
    top left). Arrows (tail, head) and rectangles (two corners) have two points,
    pen strokes 2 to MAX_PEN_POINTS. Only these keys are kept, so whatever else
    a client sends is never stored nor drawn.
    """
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        if len(value.encode()) > MAX_DRAWING_BYTES:
            raise ValidationError(
                gettext("This drawing is too detailed to save; draw fewer or shorter strokes.")
            )
        try:
            value = json.loads(value)
        except ValueError:
            raise ValidationError(
                gettext("The drawing could not be read; clear it and draw again.")
            ) from None
    if not isinstance(value, list):
        raise ValidationError(gettext("The drawing could not be read; clear it and draw again."))
    if len(value) > MAX_SHAPES:
        raise ValidationError(
            gettext("A drawing holds at most %(max)s shapes; this one has %(count)s.")
            % {"max": MAX_SHAPES, "count": len(value)}
        )
    shapes = []
    total = 0
    for shape in value:
        if not isinstance(shape, dict) or shape.get("type") not in SHAPE_TYPES:
            raise ValidationError(gettext("Only arrows, rectangles and freehand strokes can be drawn."))
        colour = shape.get("colour", COLOURS[0])
        if colour not in COLOURS:
            raise ValidationError(gettext("Pick one of the drawing colours."))
        points = shape.get("points")
        limit = 2 if shape["type"] != "pen" else MAX_PEN_POINTS
        if not isinstance(points, list) or not 2 <= len(points) <= limit:
            raise ValidationError(
                gettext("A freehand stroke is too long; split it in two.")
                if isinstance(points, list) and len(points) > limit
                else gettext("A shape is missing its points; clear the drawing and draw again.")
            )
        total += len(points)
        if total > MAX_DRAWING_POINTS:
            raise ValidationError(
                gettext("This drawing is too detailed to save; draw fewer or shorter strokes.")
            )
        shapes.append({"type": shape["type"], "colour": colour, "points": [_point(p) for p in points]})
    return shapes


def _point(point: object) -> list[float]:
    if (
        isinstance(point, list)
        and len(point) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
        and all(math.isfinite(v) and 0 <= v <= 1 for v in point)
    ):
        return [round(float(point[0]), 4), round(float(point[1]), 4)]
    raise ValidationError(gettext("Part of the drawing lies outside the frame; clear it and draw again."))


# --- The live video page ------------------------------------------------------


def page_version(*, team: Team, code: uuid.UUID) -> str | None:
    """What an open video page has seen, in one query: None when the video is gone (or not the team's).

    The newest `updated` among the video's versions (its lineage, itself
    included) and among its comments, with how many versions there are: a new
    or deleted comment or a review moves the video's own row, an edit or a
    resolve the comment's, a new or deleted version the count, a version's
    progress its row; so an unchanged token means an unchanged page. Index
    look-ups only: the unique code, the (lineage, created, id) index and the
    comments' generation key.
    """
    versions = (
        Generation.objects.filter(team=team, lineage=OuterRef("lineage"))
        .order_by()
        .values("lineage")
        .annotate(newest=Max("updated"), rows=Count("id"))
    )
    comments = (
        Comment.objects.filter(generation=OuterRef("pk"))
        .order_by()
        .values("generation")
        .annotate(newest=Max("updated"))
        .values("newest")[:1]
    )
    row = (
        Generation.objects.filter(team=team, code=code)
        .annotate(
            versions_newest=Subquery(versions.values("newest")[:1]),
            versions_rows=Subquery(versions.values("rows")[:1]),
            comments_newest=Subquery(comments),
        )
        .values("versions_newest", "versions_rows", "comments_newest")
        .first()
    )
    if row is None:
        return None
    newest = max(_micros(row["versions_newest"]), _micros(row["comments_newest"]))
    return f"{newest}.{row['versions_rows']}"


def version_moment(version: str) -> datetime | None:
    """The moment a page_version token stands for, or None for a malformed one."""
    micros, _, _ = version.partition(".")
    try:
        return datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _micros(moment: datetime | None) -> int:
    return int(moment.timestamp() * 1_000_000) if moment else 0


@dataclass(frozen=True)
class LiveKeys:
    """What each live part of a video page shows, as short tokens: a part is sent again when its own moved."""

    version: str
    comments: str
    review: str
    versions: str

    def query(self) -> str:
        return f"v={self.version}&c={self.comments}&r={self.review}&n={self.versions}"


def live_keys(*, generation: Generation) -> LiveKeys | None:
    """The page's version and its parts' tokens; read before the parts are rendered, so a change
    made in between is newer than what the page says it has seen. None when the video is gone."""
    version = page_version(team=generation.team, code=generation.code)
    if version is None:
        return None
    comments = generation.comments.order_by().aggregate(n=Count("id"), newest=Max("updated"))
    events = generation.review_events.order_by().aggregate(newest=Max("id"))
    others = Generation.objects.filter(team_id=generation.team_id, lineage=generation.lineage).exclude(
        pk=generation.pk
    )
    versions = others.order_by().aggregate(n=Count("id"), newest=Max("updated"))
    return LiveKeys(
        version=version,
        comments=f"{comments['n']}.{_micros(comments['newest'])}",
        review=f"{generation.review_status}.{events['newest'] or 0}",
        versions=f"{versions['n']}.{_micros(versions['newest'])}",
    )


def news_since(*, generation: Generation, since: datetime | None, user: User) -> dict[str, str]:
    """Sentences for the screen reader about what teammates did since the page last looked."""
    if since is None:
        return {}
    news: dict[str, str] = {}
    new = list(
        generation.comments.filter(created__gt=since)
        .exclude(author=user)
        .select_related("author")
        .order_by("created")[:20]
    )
    if len(new) == 1:
        news["comments"] = gettext("New comment from %(name)s") % {"name": _name(new[0].author)}
    elif new:
        news["comments"] = ngettext("%(count)s new comment", "%(count)s new comments", len(new)) % {
            "count": len(new)
        }
    event = (
        generation.review_events.filter(created__gt=since).exclude(actor=user).select_related("actor").first()
    )
    if event:
        news["review"] = gettext("%(name)s set the review to %(status)s") % {
            "name": _name(event.actor),
            "status": event.get_status_display(),
        }
    version = (
        Generation.objects.filter(team_id=generation.team_id, lineage=generation.lineage, created__gt=since)
        .exclude(author=user)
        .select_related("author")
        .first()
    )
    if version:
        news["versions"] = gettext("%(name)s started a new version") % {"name": _name(version.author)}
    return news


def _name(user: User | None) -> str:
    if user is None:
        return gettext("A former member")
    return user.get_full_name() or user.email


def toggle_favourite(*, generation: Generation, user: User) -> bool:
    """Favourite or un-favourite; returns whether it is a favourite now."""
    deleted, _ = Favourite.objects.filter(generation=generation, user=user).delete()
    if deleted:
        return False
    try:
        with transaction.atomic():
            Favourite.objects.create(generation=generation, user=user)
    except IntegrityError:
        pass  # a double click raced us to it: it is a favourite either way
    return True


def delete_generation(*, generation: Generation) -> None:
    """Removes the row, then its own video and poster once the delete is committed.

    The names are read again under a row lock as the row is deleted: a save that
    finished after the page was loaded is removed with it, and one still running
    finds the row gone and removes its own files (services._store). Only the
    names stored on this row are deleted, so no other generation's files can be
    touched even if paths were ever shared.
    """
    storage = file_storage()

    def remove(names: list[str]) -> None:
        for name in names:
            storage.delete(name)

    with transaction.atomic():
        row = (
            Generation.objects.select_for_update().filter(pk=generation.pk).values("video", "poster").first()
        )
        names = [name for name in (row or {}).values() if name]
        generation.delete()
        transaction.on_commit(lambda: remove(names))


def regenerate(*, generation: Generation, author: User) -> Generation:
    """The same settings sent again, as a new version of this generation."""
    from studio.videos import services  # the pipeline's entry point

    return services.create_generation(
        team=generation.team,
        author=author,
        draft=prompting.Draft(
            prompt=generation.prompt,
            parts=generation.parts,
            negatives=tuple(generation.negatives),
            negative_text=generation.negative_text,
            duration=generation.duration,
            aspect_ratio=generation.aspect_ratio,
        ),
        parent=generation,
    )


def _body_field(label: str | None = None) -> forms.CharField:
    return forms.CharField(
        max_length=MAX_COMMENT_LENGTH,
        label=label or pgettext_lazy("noun", "Comment"),
        strip=True,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": gettext_lazy("What works, what should change…")}
        ),
        error_messages={
            "required": gettext_lazy("Write something first."),
            # %(limit_value)s and %(show_value)s are filled in by Django's MaxLengthValidator.
            "max_length": gettext_lazy(
                "A comment holds at most %(limit_value)s characters; this one has %(show_value)s."
            ),
        },
    )


def _moment_field() -> forms.FloatField:
    return forms.FloatField(
        required=False,
        min_value=0,
        widget=forms.HiddenInput,
        error_messages=dict.fromkeys(
            ("invalid", "min_value"),
            gettext_lazy("The moment in the video could not be read; untick “at” and try again."),
        ),
    )


class CommentForm(forms.Form):
    """A top-level comment: a body, maybe a moment or a range, maybe a drawing on that frame.

    `duration` is the video's length, or None when there is no video to point
    at (a failed generation is still commented on, as a whole).
    """

    body = _body_field()
    # Filled in by static/js/player.js from the player's position when the
    # "at 0:04" box is ticked; empty means a comment about the whole video.
    at_seconds = _moment_field()
    # Filled in by static/js/review.js from the player's in/out marks when "range" is ticked.
    end_seconds = _moment_field()
    # JSON from static/js/annotate.js; checked and rounded by clean_drawing.
    drawing = forms.CharField(required=False, strip=True, widget=forms.HiddenInput)

    def __init__(self, *args: object, duration: float | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.duration = duration

    def clean_drawing(self) -> list[dict]:
        return clean_drawing(self.cleaned_data.get("drawing"))

    def clean(self) -> dict:
        data = super().clean()
        at, end = data.get("at_seconds"), data.get("end_seconds")
        if self.has_error("at_seconds") or self.has_error("end_seconds"):
            return data
        if at is None and (end is not None or data.get("drawing")):
            field = "end_seconds" if end is not None else "drawing"
            self.add_error(
                field,
                gettext("Pin the comment to a moment first: tick “at” while the video is paused there."),
            )
            return data
        if at is None:
            return data
        if self.duration is None:
            self.add_error(
                "at_seconds", gettext("This generation has no video to point at; comment on it as a whole.")
            )
            return data
        for name, value in (("at_seconds", at), ("end_seconds", end)):
            if value is not None and value > self.duration + END_SLACK_SECONDS:
                self.add_error(
                    name,
                    gettext("That moment is past the end of the video (%(end)s).")
                    % {"end": clock(self.duration)},
                )
                return data
        if end is not None and end < at:
            self.add_error(
                "end_seconds",
                gettext("The range ends (%(end)s) before it starts (%(start)s); mark it again.")
                % {"end": clock(end), "start": clock(at)},
            )
        return data


class ReplyForm(forms.Form):
    body = _body_field(pgettext_lazy("noun", "Reply"))


class EditForm(forms.Form):
    body = _body_field()


class ReviewForm(forms.Form):
    status = forms.ChoiceField(choices=ReviewStatus.choices)
