# ruff: noqa: RUF001 - Chinese punctuation in Chinese text is intended
"""The composer in a real browser: helpers, negatives, live preview, generate, watch, play."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_live_preview_follows_typing(page, alice):
    sign_in(page, "alice@example.org")
    page.goto("/compose/")
    page.get_by_label("Prompt", exact=True).fill("A paper boat drifts down a rain-soaked street")
    page.get_by_label("Camera").fill("low tracking shot")
    page.get_by_label("Sound").fill("ambient only: rain on cobblestones")
    page.locator("label.chip", has_text="No dialogue").click()
    page.locator("label.chip", has_text="No text on screen").click()
    page.locator("label.tile", has_text="9:16").click()
    page.locator("label.tile", has_text="8 s").click()
    expected = (
        "A paper boat drifts down a rain-soaked street. Camera: low tracking shot. "
        "Sound: ambient only: rain on cobblestones. No dialogue. No text on screen."
    )
    expect(page.locator("#preview-prompt")).to_have_text(expected)
    expect(page.locator("[data-estimate]")).to_have_text("≈ 46,336 output tokens · ≈ $0.70")
    expect(page.locator("[data-counter]")).to_have_text(f"{len(expected)} / 2,000")
    request_json = page.locator("#preview-json").text_content()
    assert '"aspect_ratio": "9:16"' in request_json
    assert '"duration": 8' in request_json
    screenshot(page, "compose-desktop")


def test_the_composer_fits_a_phone(new_page, alice):
    page = new_page(viewport=(390, 844))
    sign_in(page, "alice@example.org")
    page.goto("/compose/")
    page.get_by_label("Prompt", exact=True).fill(
        "一只红狐狸在雪地里奔跑，然后回头看镜头，接着跳进树林，最后消失"
    )
    page.locator("label.chip", has_text="No dialogue").click()
    page.locator("#preview-prompt").filter(has_text="无对白").wait_for()
    screenshot(page, "compose-mobile")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
