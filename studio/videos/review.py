"""Reviewing finished videos: review status, comments, favourites, delete, regenerate.

Views check who may do what (see the access helpers in views.py); these
functions only do it, keyword-only, so tests and views call them the same way.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from studio.videos import prompting
from studio.videos.models import Comment, Favourite, Generation, ReviewEvent, ReviewStatus, file_storage

MAX_COMMENT_LENGTH = 4000


def _card_changed(generation: Generation) -> None:
    """Moves `updated` on when what the generation's card shows changed (its comment count).

    `updated` is the row's own version: open galleries ask whether any of the
    team's rows moved past the newest one they saw, and get back only the
    cards whose `updated` moved (gallery.gallery_changes). A queryset update,
    so nothing else on the row is written over; a worker's claim is unaffected
    (claims have their own version, `claim_version`).
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


def add_comment(*, generation: Generation, author: User, body: str, at_seconds: float | None) -> Comment:
    if at_seconds is not None and generation.video_duration:
        # The player can report a position a hair past the end.
        at_seconds = min(at_seconds, generation.video_duration)
    with transaction.atomic():
        comment = Comment.objects.create(
            generation=generation, author=author, body=body, at_seconds=at_seconds
        )
        _card_changed(generation)
    return comment


def edit_comment(*, comment: Comment, body: str) -> Comment:
    comment.body = body
    comment.edited = timezone.now()
    comment.save(update_fields=["body", "edited"])
    return comment


def delete_comment(*, comment: Comment) -> None:
    with transaction.atomic():
        comment.delete()
        _card_changed(comment.generation)


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


class CommentForm(forms.Form):
    body = forms.CharField(
        max_length=MAX_COMMENT_LENGTH,
        label="Comment",
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What works, what should change…"}),
        error_messages={"required": "Write something first."},
    )
    # Filled in by static/js/player.js from the player's position when the
    # "at 0:04" box is ticked; empty means a comment about the whole video.
    at_seconds = forms.FloatField(
        required=False,
        min_value=0,
        widget=forms.HiddenInput,
        error_messages=dict.fromkeys(
            ("invalid", "min_value"), "The moment in the video could not be read; untick “at” and try again."
        ),
    )


class ReviewForm(forms.Form):
    status = forms.ChoiceField(choices=ReviewStatus.choices)
