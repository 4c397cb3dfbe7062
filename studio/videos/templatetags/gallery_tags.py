"""Small display helpers for the gallery and the video page."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django import template
from django.conf import settings
from django.core.cache import cache as django_cache
from django.template.loader import get_template
from django.urls import get_script_prefix
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext, gettext_noop

from studio.videos import failures, gallery
from studio.videos.models import IN_FLIGHT, Generation, ReviewStatus, Status

register = template.Library()

CARD_TEMPLATE = "videos/card.html"
# Entries are never stale (the key is what the card shows), so this only
# bounds how long an unused one sits in a shared cache.
CARD_TIMEOUT = 24 * 60 * 60

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
def card_version(updated) -> str:
    """The token of an `updated`: see gallery.card_version."""
    return gallery.card_version(updated)


@register.filter
def card_token(generation: Generation) -> str:
    """What a finished card sends to the live refresh: see gallery.card_token."""
    return gallery.card_token(generation.updated, generation.version_count)


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
        return gettext("Former member")
    return user.get_full_name() or user.email


# The usage fields EvoLink reports, as people read them; any other is spelled out from its name.
_USAGE_LABELS = {
    "billing_rule": gettext_noop("Billing rule"),
    "credits_reserved": gettext_noop("Credits reserved"),
    "credits_used": gettext_noop("Credits used"),
    "user_group": gettext_noop("User group"),
    "output_tokens": gettext_noop("Output tokens"),
    "prompt_tokens": gettext_noop("Prompt tokens"),
    "completion_tokens": gettext_noop("Completion tokens"),
    "total_tokens": gettext_noop("Total tokens"),
}


@register.filter
def label(key: str) -> str:
    """A provider's field name for people: "credits_reserved" -> "Credits reserved"."""
    known = _USAGE_LABELS.get(str(key))
    if known:
        return gettext(known)
    return str(key).replace("_", " ").capitalize()


@register.filter
def failure(message: str) -> str:
    """A stored failure message in the reader's language (see studio/videos/failures.py)."""
    return failures.translate(str(message))


def _template_version(card_template) -> str:
    """Changes with the card's markup, so a deploy never serves old cards from Redis."""
    return hashlib.sha256(card_template.template.source.encode()).hexdigest()[:12]


def card_cache_key(
    generation: Generation, version: str, *, fresh: bool = False, oob: bool = False, composer: bool = False
) -> str:
    """A key made of everything card.html shows, so a cached card is never stale.

    Nothing in a card is the viewer's except the favourite mark, so viewers
    with the same mark share the entry.
    """
    author = generation.author
    shown = (
        str(generation.code),
        generation.updated.isoformat(),
        generation.created.isoformat(),
        generation.status,
        generation.progress,
        generation.review_status,
        generation.comment_count,
        generation.version_count,
        generation.lineage,
        generation.is_favourite,
        generation.compiled_prompt,
        generation.error_message,
        generation.poster.name,
        bool(generation.video),
        generation.aspect_ratio,
        generation.duration,
        generation.video_duration,
        (author.first_name, author.last_name, author.email) if author else None,
        fresh,
        oob,
        composer,
        get_language(),
        timezone.get_current_timezone_name(),
        get_script_prefix(),
    )
    digest = hashlib.sha256(repr(shown).encode()).hexdigest()
    return f"gcard:{version}:{digest}"


@register.simple_tag
def live_refresh_every() -> str:
    """The live refreshes' htmx period, "every 4s" (settings.STUDIO_LIVE_REFRESH_SECONDS)."""
    return f"every {settings.STUDIO_LIVE_REFRESH_SECONDS:g}s"


@register.simple_tag
def gallery_cards(
    cards: Iterable[Generation], *, fresh: bool = False, oob: bool = False, composer: bool = False
) -> SafeString:
    """The cards, drawn from the cache where possible: one cache round trip per page.

    Drawing a card in the template engine costs about a third of a millisecond;
    a gallery page has 24 of them and is opened far more often than cards change.
    """
    cards = list(cards)
    if not cards:
        return mark_safe("")
    card_template = get_template(CARD_TEMPLATE)
    version = _template_version(card_template)
    options = {"fresh": fresh, "oob": oob, "composer": composer}
    keyed = [(card_cache_key(card, version, **options), card) for card in cards]
    found = django_cache.get_many([key for key, _ in keyed])
    drawn: dict[str, str] = {}
    parts = []
    for key, card in keyed:
        html = found.get(key)
        if html is None:
            html = drawn[key] = card_template.render({"generation": card, **options})
        parts.append(html)
    if drawn:
        django_cache.set_many(drawn, CARD_TIMEOUT)
    return mark_safe("".join(parts))  # noqa: S308 - each part is the card template's escaped output
