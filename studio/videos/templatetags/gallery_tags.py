"""Small display helpers for the gallery and the video page."""

from __future__ import annotations

from django import template

from studio.videos.models import IN_FLIGHT, ReviewStatus, Status

register = template.Library()

_REVIEW_BADGES = {
    ReviewStatus.IN_REVIEW: "badge-accent",
    ReviewStatus.APPROVED: "badge-ok",
    ReviewStatus.CHANGES_REQUESTED: "badge-warn",
    ReviewStatus.REJECTED: "badge-bad",
}


@register.filter
def clock(seconds: float | None) -> str:
    """4.2 -> "0:04", 754 -> "12:34"; blank for nothing."""
    if seconds is None:
        return ""
    whole = int(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}:{secs:02d}"


@register.filter
def review_badge(status: str) -> str:
    return _REVIEW_BADGES.get(status, "")


@register.filter
def status_badge(status: str) -> str:
    if status == Status.READY:
        return "badge-ok"
    if status in IN_FLIGHT:
        return "badge-accent"
    return "badge-bad"


@register.filter
def initial(user) -> str:
    """The letter in a person's avatar."""
    if user is None:
        return "?"
    return (user.first_name or user.email or "?")[:1].upper()


@register.filter
def display_name(user) -> str:
    if user is None:
        return "Former member"
    return user.get_full_name() or user.email


@register.filter
def label(key: str) -> str:
    """A provider's field name for people: "credits_reserved" -> "Credits reserved"."""
    return str(key).replace("_", " ").capitalize()
