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


class Worker:
    """The background work in a thread: runs what would be queued, sends creates when woken
    (as the sweeper's submitter does) and sweeps every 0.3 s."""

    def __init__(self) -> None:
        import queue
        import threading

        self.queue: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def enqueue(self, func: str, *args, **kwargs) -> None:
        self.queue.put((func, args))

    def wake(self) -> None:
        self.queue.put(("studio.videos.submitter.send_due", ()))

    def run(self) -> None:
        import queue

        from django.db import connection
        from django.utils.module_loading import import_string

        from studio.videos import services

        try:
            while not self.stop.is_set():
                try:
                    func, args = self.queue.get(timeout=0.3)
                    import_string(func)(*args)
                except queue.Empty:
                    pass
                services.sweep(threads=4)
        finally:
            connection.close()


@pytest.fixture
def worker(monkeypatch, studio_on_demo_provider, settings):
    settings.STUDIO_PUBLIC_URL = ""
    settings.STUDIO_MIN_POLL_SECONDS = 0.5
    studio_on_demo_provider.server.generation_seconds = 7
    worker = Worker()
    monkeypatch.setattr("studio.videos.services.async_task", worker.enqueue)
    monkeypatch.setattr("studio.videos.wakeup.notify", worker.wake)
    worker.thread.start()
    yield worker
    worker.stop.set()
    worker.thread.join(timeout=30)


def test_compose_generate_watch_and_play(page, alice, worker):
    sign_in(page, "alice@example.org")
    page.goto("/compose/")
    page.get_by_label("Prompt", exact=True).fill("A paper boat drifts down a rain-soaked street at night")
    page.get_by_label("Camera").fill("low tracking shot that follows the boat")
    page.get_by_label("Light and style").fill("neon reflections, shallow depth of field")
    page.get_by_label("Sound").fill("ambient only: rain and distant traffic")
    page.locator("label.chip", has_text="No dialogue").click()
    page.locator("label.chip", has_text="No music").click()
    page.get_by_label("Other things to avoid").fill("No umbrellas")
    page.locator("label.tile", has_text="4 s").click()
    expected = (
        "A paper boat drifts down a rain-soaked street at night. Camera: low tracking shot that follows the "
        "boat. Light and style: neon reflections, shallow depth of field. Sound: ambient only: rain and "
        "distant traffic. No dialogue. No music. No umbrellas."
    )
    expect(page.locator("#preview-prompt")).to_have_text(expected)
    expect(page.locator("[data-estimate]")).to_have_text("≈ 23,168 output tokens · ≈ $0.35")
    assert '"duration": 4' in page.locator("#preview-json").text_content()

    page.get_by_role("button", name="Generate video").click()
    expect(page.locator(".notice-sent")).to_contain_text("is on its way")
    card = page.locator("#recent .gcard").first
    expect(card).to_have_attribute("data-status", "processing", timeout=20_000)
    expect(card.locator("progress")).to_be_visible()
    # The form kept what was typed, for the next iteration.
    expect(page.get_by_label("Camera", exact=True)).to_have_value("low tracking shot that follows the boat")
    page.wait_for_function(
        "() => { const p = document.querySelector('#recent .gcard progress'); return p && p.value >= 20 }",
        timeout=20_000,
    )
    screenshot(page, "compose-progress")

    video = card.locator("video")
    expect(video).to_be_visible(timeout=40_000)
    expect(card).to_have_attribute("data-status", "ready")
    assert card.get_attribute("hx-trigger") is None  # finished cards stop polling
    page.evaluate("document.querySelector('#recent video').muted = true")
    page.evaluate("document.querySelector('#recent video').play()")
    page.wait_for_function("() => document.querySelector('#recent video').currentTime > 0.5", timeout=15_000)
    assert page.evaluate("document.querySelector('#recent video').readyState") >= 2
    assert page.evaluate("document.querySelector('#recent video').videoWidth") == 1280
    page.evaluate("document.querySelector('#recent video').pause()")
    screenshot(page, "compose-ready")
