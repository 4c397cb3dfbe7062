# ruff: noqa: RUF001 - Chinese punctuation in Chinese text is intended
"""A new person with a Chinese browser: signs up, invites a colleague, changes team settings, and
switches to English and back in the account menu. Screenshots of the sign-up page, team settings
and the top bar in both languages land in test-artifacts/ (i18n-<page>-<lang>.png).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from studio.accounts import languages
from studio.accounts.models import Invitation
from tests.conftest import ARTIFACTS, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHINESE_BROWSER = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.3"}


def top_bar(page, name: str) -> None:
    """The top bar with the account menu open: the switcher where people find it."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 460})


def open_account_menu(page) -> None:
    page.locator("summary.avatar-button").click()
    expect(page.locator(".menu-panel form.language-switch")).to_be_visible()


def test_a_chinese_newcomer_signs_up_invites_and_switches_language(new_page, mailoutbox):
    page = new_page()
    page.set_extra_http_headers(CHINESE_BROWSER)

    # First visit: the browser's language. Both languages are offered, each in its own script.
    page.goto("/signup/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("heading", name="创建你的工作室")).to_be_visible()
    expect(page.get_by_role("button", name="中文")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="English")).to_have_attribute("aria-pressed", "false")
    screenshot(page, "i18n-signup-zh")

    # A refused sign-up explains itself in Chinese (Django's own password rules included).
    page.get_by_label("姓名").fill("王 小明")
    page.get_by_label("电子邮箱").fill("xiaoming@example.org")
    page.get_by_label("密码").fill("12345678")
    page.get_by_role("button", name="注册").click()
    expect(page.locator(".errorlist")).to_contain_text("这个密码太常见了。")
    page.get_by_label("密码").fill("雨夜 纸船 漂流 42")
    page.get_by_role("button", name="注册").click()
    expect(page.locator(".flash")).to_have_text("欢迎使用 Omni Studio！你现在位于 王 的团队。")
    assert languages.saved_language(User.objects.get(email="xiaoming@example.org")) == "zh-hans"

    # Team settings: rename the team, invite a colleague.
    page.locator("summary.menu-button", has_text="王 的团队").click()
    page.get_by_role("link", name="团队设置").click()
    expect(page.get_by_role("heading", name="成员", exact=True)).to_be_visible()
    page.get_by_label("团队名称").fill("雨夜工作室")
    page.get_by_role("button", name="重命名").click()
    expect(page.locator(".flash")).to_have_text("团队已重命名。")
    expect(page.get_by_role("heading", name="雨夜工作室", level=1)).to_be_visible()
    page.get_by_label("电子邮箱").fill("lihua@example.org")
    page.get_by_label("角色", exact=True).select_option(label="审阅者")
    page.get_by_role("button", name="发送邀请").click()
    expect(page.locator(".flash")).to_contain_text("邀请已发送至 lihua@example.org。")
    expect(page.get_by_label("审阅者邀请链接（lihua@example.org）")).to_be_visible()
    (mail,) = mailoutbox
    assert mail.subject == "王 小明 邀请你加入 Omni Studio 上的 雨夜工作室"
    assert "以审阅者身份加入" in mail.body
    assert Invitation.objects.get().email == "lihua@example.org"
    screenshot(page, "i18n-team-settings-zh")
    open_account_menu(page)
    top_bar(page, "i18n-topbar-zh")

    # To English with the menu, and the page stays where it was.
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert "/team/?invited=" in page.url  # the same page, the new link still shown
    expect(page.get_by_role("heading", name="Members", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Create invitation")).to_be_visible()
    screenshot(page, "i18n-team-settings-en")
    open_account_menu(page)
    top_bar(page, "i18n-topbar-en")
    assert languages.saved_language(User.objects.get(email="xiaoming@example.org")) == "en"

    # Signed out, the sign-in pages keep the choice (the cookie); then back to Chinese from there.
    page.locator(".menu-panel").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
    page.goto("/signup/")
    screenshot(page, "i18n-signup-en")
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("heading", name="创建你的工作室")).to_be_visible()
    page.goto("/login/")
    page.get_by_label("电子邮箱").fill("xiaoming@example.org")
    page.get_by_label("密码").fill("雨夜 纸船 漂流 42")
    page.get_by_role("button", name="登录").click()
    # Signing in brings the saved choice back: English, whatever the sign-in page was in.
    expect(page.locator("html")).to_have_attribute("lang", "en")
    open_account_menu(page)
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("link", name="作品库", exact=True)).to_be_visible()
