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
