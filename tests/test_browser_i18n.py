# ruff: noqa: RUF001 - Chinese punctuation in Chinese text is intended
"""The studio in Chinese in a real browser: switch to 中文, compose, generate, watch, review.

The words the scripts write (the player's buttons, the relative times, the compare picker)
come from the JavaScript catalogue; the console stays clean. Screenshots of the composer, the
gallery and the video page in both languages land in test-artifacts/ (i18n-<page>-<lang>.png).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS, screenshot, sign_in
from tests.test_browser_compose import worker  # noqa: F401 - the background work, as the composer's test runs it

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def switch_language(page, name: str) -> None:
    """The account menu's switcher, as a person uses it."""
    page.locator("summary.avatar-button").click()
    page.locator(".menu-panel form.language-switch").get_by_role("button", name=name).click()
    page.wait_for_load_state()


def test_a_chinese_studio_from_compose_to_review(page, alice, worker, studio_on_demo_provider):  # noqa: F811
    studio_on_demo_provider.server.generation_seconds = 1.5  # the progress is test_browser_compose's subject
    sign_in(page, "alice@example.org")
    page.goto("/compose/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    screenshot(page, "i18n-compose-en")

    switch_language(page, "中文")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("heading", name="创作", exact=True)).to_be_visible()

    # A Chinese prompt, written with the interface's helpers: the sentences follow the prompt.
    page.get_by_label("提示词", exact=True).fill("一只纸船在雨夜的街道上漂流")
    page.get_by_label("镜头").fill("低机位跟拍")
    page.locator("label.chip", has_text="无对白").click()
    page.locator("label.tile", has_text="4 秒").click()
    expect(page.locator("#preview-prompt")).to_have_text(
        "一只纸船在雨夜的街道上漂流。镜头：低机位跟拍。无对白。"
    )
    expect(page.locator("[data-estimate]")).to_contain_text("输出 token")
    page.get_by_role("button", name="生成视频").click()
    expect(page.locator(".notice-sent")).to_contain_text("正在生成")
    card = page.locator("#recent .gcard").first
    expect(card.locator("video")).to_be_visible(timeout=40_000)
    expect(card).to_have_attribute("data-status", "ready")
    expect(card.locator("time[data-relative]")).to_have_text(re.compile(r"刚刚|现在|秒|分钟"))
    screenshot(page, "i18n-compose-zh")

    page.get_by_role("link", name="作品库", exact=True).click()
    expect(page.get_by_role("link", name="新建视频")).to_be_visible()
    gallery_card = page.locator("#gallery-grid .gcard").first
    expect(gallery_card.locator(".badge")).to_have_text("审阅中")
    expect(gallery_card.locator("time[data-relative]")).to_have_text(re.compile(r"刚刚|现在|秒|分钟"))
    page.get_by_role("button", name="对比两个…").click()
    expect(page.locator("[data-compare-note]")).to_have_text("请选择两个视频")  # written by gallery.js
    page.get_by_role("button", name="取消").click()
    screenshot(page, "i18n-gallery-zh")

    gallery_card.locator("a.gcard-title").click()
    expect(page.get_by_role("heading", name="已发送的提示词")).to_be_visible()
    player = page.locator("[data-player]")
    expect(player.locator("[data-player-play]")).to_have_attribute("aria-label", "播放")
    page.get_by_role("button", name="通过").click()
    expect(page.locator("#review .badge").first).to_have_text("已通过")
    page.get_by_role("textbox", name="评论", exact=True).fill("节奏很好")
    page.get_by_role("button", name="发表评论").click()
    expect(page.locator("[data-comments-count]")).to_have_text("1 条评论")
    expect(page.locator("#review .review-last time")).to_have_text(re.compile(r"刚刚|现在|秒|分钟"))
    screenshot(page, "i18n-video-zh")
    page.locator("[data-player-help-open]").click()
    sheet = page.get_by_role("dialog", name="键盘快捷键")
    expect(sheet).to_be_visible()
    expect(sheet).to_contain_text("上一帧 / 下一帧")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "i18n-shortcuts-zh.png"))  # the viewport: the sheet is a modal
    sheet.get_by_role("button", name="关闭").click()

    # Back in English, the same studio reads as before.
    switch_language(page, "English")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Prompt sent")).to_be_visible()
    expect(page.locator("[data-player-play]")).to_have_attribute("aria-label", "Play")
    screenshot(page, "i18n-video-en")
    page.goto("/")
    expect(page.get_by_role("link", name="New video")).to_be_visible()
    screenshot(page, "i18n-gallery-en")
