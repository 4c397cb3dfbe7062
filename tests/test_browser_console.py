"""The browser console stays clean while people work: no errors, no blocked inline styles."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import sign_in, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_typing_over_a_preview_in_flight_logs_no_error(page, alice):
    """A change while the previous preview is still on its way waits for it instead of aborting it
    (htmx logs every aborted request as an error)."""
    messages = watch_console(page, [])
    sign_in(page, "alice@example.org")
    page.goto("/compose/")
    # The first preview is held at the network until the changes after it are made.
    held = []
    page.route("**/compose/preview/", lambda route: route.continue_() if held else held.append(route))
    with page.expect_request("**/compose/preview/"):
        page.get_by_label("Prompt", exact=True).fill("A lighthouse in a storm")
    page.locator("label.chip", has_text="No dialogue").click()
    page.locator("label.chip", has_text="No music").click()
    page.locator("label.tile", has_text="9:16").click()
    held[0].continue_()
    expect(page.locator("#preview-prompt")).to_have_text("A lighthouse in a storm. No dialogue. No music.")
    assert '"aspect_ratio": "9:16"' in page.locator("#preview-json").text_content()
    assert messages == []


def test_generate_after_resizing_the_prompt_box_breaks_no_style_rule(page, alice, monkeypatch):
    """Dragging a textarea's corner gives it an inline style; the swap after Generate must not
    copy that attribute back (htmx's settle would, and the CSP blocks every inline style)."""
    monkeypatch.setattr("studio.videos.services.async_task", lambda *args, **kwargs: None)
    messages = watch_console(page, [])
    sign_in(page, "alice@example.org")
    page.goto("/compose/")
    page.get_by_label("Prompt", exact=True).fill("A lighthouse in a storm, waves crashing")
    page.evaluate("document.querySelector('#id_prompt').style.height = '220px'")  # what the drag does
    page.get_by_role("button", name="Generate video").click()
    expect(page.locator(".notice-sent")).to_contain_text("is on its way")
    assert messages == []
