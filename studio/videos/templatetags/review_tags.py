"""Filters for the review side of a video's page (comments, ranges, drawings)."""

from __future__ import annotations

import json

from django import template

register = template.Library()


@register.filter
def as_json(value: object) -> str:
    """A drawing as JSON for a data-* attribute; autoescaping makes it safe there."""
    return json.dumps(value, separators=(",", ":"))


@register.filter
def seconds(value: float | None) -> str:
    """A moment for a data-* attribute: 2.5 -> "2.500"."""
    return "" if value is None else f"{value:.3f}"


@register.filter
def after_heading(message: str, heading: str) -> str:
    """A problem's message without the heading it is shown under.

    "Outcome unknown — may have been charged. The studio sent…" under the heading
    "Outcome unknown" reads "May have been charged. The studio sent…".
    """
    text = str(message)
    if heading and text.lower().startswith(str(heading).lower()):
        rest = text[len(str(heading)) :].lstrip(" \u2014\u2013-:.,")
        if rest:
            return rest[:1].upper() + rest[1:]
    return text
