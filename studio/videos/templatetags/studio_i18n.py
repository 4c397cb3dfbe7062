"""{% js_catalog_url %}: where the browser scripts' translations are (see studio/videos/jsi18n.py)."""

from __future__ import annotations

from django import template

from studio.videos import jsi18n

register = template.Library()


@register.simple_tag
def js_catalog_url() -> str:
    return jsi18n.catalog_url()
