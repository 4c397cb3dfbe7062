# ruff: noqa: RUF001 - Chinese punctuation in Chinese text is intended
"""The studio speaks English and Simplified Chinese: the catalogues are complete and current.

`python manage.py updatemessages` is the one command that updates them (makemessages for
django.po and djangojs.po with fixed flags, then compilemessages). These tests fail when a
marked string is missing from a catalogue, left untranslated or fuzzy, or when a committed
.mo file does not say what its .po says.
"""

from __future__ import annotations

import gettext
import logging
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from studio.accounts import languages
from studio.accounts.models import Invitation, Role
from studio.demoprovider import render
from studio.ops.pofile import messages, untranslated
from tests.conftest import PASSWORD

ROOT = Path(settings.BASE_DIR)
LC_MESSAGES = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES"
DOMAINS = ["django", "djangojs"]


def catalogues() -> list[Path]:
    """django.po always; djangojs.po once the browser scripts have strings."""
    found = [LC_MESSAGES / f"{domain}.po" for domain in DOMAINS if (LC_MESSAGES / f"{domain}.po").exists()]
    assert LC_MESSAGES / "django.po" in found
    return found


def compiled(mo: Path) -> dict:
    with mo.open("rb") as handle:
        catalog = dict(gettext.GNUTranslations(handle)._catalog)
    catalog.pop("", None)  # the header
    return catalog


def expected(po: Path) -> dict:
    """What msgfmt makes of a .po: every translated entry, keyed as gettext looks it up."""
    catalog = {}
    for entry in messages(po):
        if not entry.translated:
            continue
        msgid = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt is not None else entry.msgid
        if entry.msgid_plural is None:
            catalog[msgid] = entry.msgstr[0]
        else:
            for index, text in enumerate(entry.msgstr):
                catalog[(msgid, index)] = text
    return catalog


@pytest.mark.parametrize("domain", DOMAINS)
def test_catalogue_is_fully_translated_and_compiled(domain):
    po = LC_MESSAGES / f"{domain}.po"
    if not po.exists():
        assert domain != "django"
        pytest.skip(f"no {po.name} yet: no browser script has a translated string")
    todo = [entry.msgid for entry in untranslated(po)]
    assert not todo, f"{po.name} has untranslated or fuzzy entries: {todo}"
    mo = po.with_suffix(".mo")
    assert mo.exists(), f"{mo.name} is missing: run python manage.py updatemessages"
    assert compiled(mo) == expected(po), f"{mo.name} is not current: run python manage.py updatemessages"


def test_makemessages_leaves_the_catalogues_unchanged(tmp_path):
    """makemessages over a copy of the source finds exactly the strings the catalogues have."""
    if not shutil.which("xgettext"):
        pytest.skip(
            "GNU gettext (xgettext) is not installed; tests/run.sh installs it (apt-get install gettext)"
        )
    copy = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ["studio", "templates", "locale"]:
        shutil.copytree(ROOT / name, copy / name, ignore=ignore)
    shutil.copytree(ROOT / "static" / "js", copy / "static" / "js")
    shutil.copy(ROOT / "manage.py", copy / "manage.py")
    result = subprocess.run(
        [sys.executable, "manage.py", "updatemessages", "--no-compile"],
        cwd=copy,
        env={"PATH": "/usr/bin:/bin", "STUDIO_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for po in catalogues():
        fresh = copy / po.relative_to(ROOT)
        have = {entry.key: entry for entry in messages(po)}
        found = {entry.key: entry for entry in messages(fresh)}
        missing = sorted(set(found) - set(have), key=str)
        stale = sorted(set(have) - set(found), key=str)
        assert not missing, f"{po.name} lacks strings the source marks (run updatemessages): {missing}"
        assert not stale, f"{po.name} has strings the source no longer marks (run updatemessages): {stale}"
        todo = [entry.msgid for entry in found.values() if not entry.translated]
        assert not todo, f"after makemessages, {po.name} has untranslated or fuzzy entries: {todo}"
    for domain in DOMAINS:
        fresh = copy / "locale" / "zh_Hans" / "LC_MESSAGES" / f"{domain}.po"
        assert fresh.exists() == (LC_MESSAGES / f"{domain}.po").exists(), f"{domain}.po should be committed"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("accept", "lang", "skip_link"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.5", "zh-hans", "跳到正文"),
        ("en-GB,en;q=0.8", "en", "Skip to content"),
        ("", "en", "Skip to content"),
    ],
)
def test_first_visit_follows_accept_language(client, accept, lang, skip_link):
    page = client.get("/login/", headers={"accept-language": accept} if accept else {})
    html = page.content.decode()
    assert f'<html lang="{lang}">' in html
    assert skip_link in html
    assert page["Content-Language"] == lang


# --- Choosing a language --------------------------------------------------------

ZH = {"accept-language": "zh-CN,zh;q=0.9"}


def lang_of(page) -> str:
    return re.search(r'<html lang="([^"]+)">', page.content.decode()).group(1)


@pytest.mark.django_db
def test_the_switcher_keeps_a_signed_out_choice_in_the_cookie(client):
    page = client.post(
        "/language/", {"language": "zh-hans", "next": "/signup/"}, headers={"accept-language": "en"}
    )
    assert page.status_code == 302 and page["Location"] == "/signup/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    # The cookie beats the browser's Accept-Language from now on.
    signup = client.get("/signup/", headers={"accept-language": "en"})
    assert lang_of(signup) == "zh-hans" and "创建你的工作室" in signup.content.decode()
    # Both languages are offered in their own script, the current one marked.
    assert 'lang="en" class="menu-item" aria-pressed="false">English</button>' in signup.content.decode()
    assert (
        'lang="zh-hans" class="menu-item is-current" aria-pressed="true">中文</button>'
        in signup.content.decode()
    )


@pytest.mark.django_db
@pytest.mark.parametrize("following", ["https://evil.example/", "//evil.example/", "home", ""])
def test_the_switcher_only_returns_to_this_site(client, following):
    page = client.post("/language/", {"language": "en", "next": following})
    assert page.status_code == 302 and page["Location"] == "/"


@pytest.mark.django_db
def test_the_switcher_refuses_a_language_the_studio_does_not_speak(client):
    page = client.post("/language/", {"language": "fr", "next": "/"})
    assert page.status_code == 400
    assert settings.LANGUAGE_COOKIE_NAME not in page.cookies


def test_a_signed_in_choice_is_saved_on_the_person_and_wins_over_the_browser(alice_client, alice):
    page = alice_client.post("/language/", {"language": "zh-hans", "next": "/team/"})
    assert page.status_code == 302
    assert languages.saved_language(alice) == "zh-hans"
    # An English browser and an English cookie: the saved choice still wins while signed in.
    alice_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    team = alice_client.get("/team/", headers={"accept-language": "en"})
    assert lang_of(team) == "zh-hans" and "团队设置" in team.content.decode()


def test_signing_in_brings_the_saved_language_back(client, alice):
    languages.save_language(alice, "zh-hans")
    page = client.post(
        "/login/", {"username": "alice@example.org", "password": PASSWORD}, headers={"accept-language": "en"}
    )
    assert page.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    home = client.get("/team/", headers={"accept-language": "en"})
    assert lang_of(home) == "zh-hans"
    # Signed out, the sign-in pages keep speaking it (the cookie).
    client.post("/logout/")
    assert lang_of(client.get("/login/", headers={"accept-language": "en"})) == "zh-hans"


def test_signing_in_without_a_saved_language_saves_the_pages_one(client, alice):
    assert languages.saved_language(alice) == ""
    client.post("/login/", {"username": "alice@example.org", "password": PASSWORD}, headers=ZH)
    assert languages.saved_language(alice) == "zh-hans"


@pytest.mark.django_db
def test_signing_up_with_a_chinese_browser_saves_chinese(client):
    page = client.post(
        "/signup/",
        {"name": "王 小明", "email": "xiaoming@example.org", "password": "a long pass phrase 42"},
        headers=ZH,
        follow=True,
    )
    assert lang_of(page) == "zh-hans"
    assert "欢迎使用 Omni Studio！你现在位于 王 的团队。" in page.content.decode()
    assert languages.saved_language(User.objects.get(email="xiaoming@example.org")) == "zh-hans"


@pytest.mark.django_db
def test_django_s_own_messages_speak_chinese(client):
    """Password validation and the sign-in error come from Django's own zh_Hans catalogue."""
    page = client.post(
        "/signup/", {"name": "王", "email": "w@example.org", "password": "12345678"}, headers=ZH
    )
    html = page.content.decode()
    assert "这个密码太常见了。" in html and "密码只包含数字。" in html
    page = client.post("/login/", {"username": "w@example.org", "password": "nope"}, headers=ZH)
    assert "请输入一个正确的" in page.content.decode()


# --- E-mails go out in the recipient's language ------------------------------------


def test_an_invitation_to_an_existing_account_is_written_in_its_language(alice_client, charlie, mailoutbox):
    languages.save_language(charlie, "zh-hans")
    alice_client.post(
        "/team/invitations/",
        {"role": "creator", "email": "charlie@example.org"},
        headers={"accept-language": "en"},
    )
    (mail,) = mailoutbox
    assert mail.subject == "Alice Adams 邀请你加入 Omni Studio 上的 Team A"
    assert "以创作者身份加入" in mail.body and "年" in mail.body  # the date too: 2026年12月8日


def test_an_invitation_to_a_new_address_is_written_in_the_inviter_s_language(alice_client, alice, mailoutbox):
    languages.save_language(alice, "zh-hans")
    alice_client.post("/team/invitations/", {"role": "reviewer", "email": "new@example.org"})
    (mail,) = mailoutbox
    assert "以审阅者身份加入" in mail.body
    languages.save_language(alice, "en")
    alice_client.post("/team/invitations/", {"role": "reviewer", "email": "new2@example.org"}, headers=ZH)
    assert mailoutbox[1].subject == "Alice Adams invited you to Team A on Omni Studio"


def test_a_password_reset_is_written_in_the_account_s_language(client, alice, mailoutbox):
    languages.save_language(alice, "zh-hans")
    client.post("/password/reset/", {"email": "alice@example.org"}, headers={"accept-language": "en"})
    (mail,) = mailoutbox
    assert mail.subject == "重设你的 Omni Studio 密码"
    assert "请在这里设置新密码：" in mail.body and "alice@example.org" in mail.body


# --- The demo provider draws Chinese prompts ----------------------------------------


def _drawn(font, text: str) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("L", (120, 120))
    ImageDraw.Draw(image).text((10, 10), text, font=font, fill=255)
    return image.tobytes()


@pytest.fixture
def fresh_font_lookup():
    render.cjk_font_path.cache_clear()
    yield
    render.cjk_font_path.cache_clear()


def test_demo_clips_draw_chinese_with_a_font_that_has_it(fresh_font_lookup):
    if render.cjk_font_path() is None:
        pytest.skip("no font that draws Chinese here; tests/run.sh installs fonts-noto-cjk")
    font = render._font(48, cjk=True)
    # A font without Chinese draws the same empty box for every character.
    assert _drawn(font, "猫") != _drawn(font, "雨") and any(_drawn(font, "猫"))


def test_the_demo_provider_finds_a_named_font(fresh_font_lookup, monkeypatch):
    installed = render.cjk_font_path()
    if installed is None:
        pytest.skip("no font that draws Chinese here; tests/run.sh installs fonts-noto-cjk")
    render.cjk_font_path.cache_clear()
    monkeypatch.setattr(render, "_CJK_FONTS", ())
    monkeypatch.setattr(render, "_fontconfig_cjk_fonts", list)
    monkeypatch.setenv("STUDIO_DEMO_CJK_FONT", installed)
    assert render.cjk_font_path() == installed


def test_without_a_chinese_font_the_demo_provider_says_so_once_and_still_draws(
    fresh_font_lookup, monkeypatch, caplog
):
    monkeypatch.setattr(render, "_CJK_FONTS", ("/nowhere/NotoSansCJK-Bold.ttc",))
    monkeypatch.setattr(render, "_fontconfig_cjk_fonts", list)
    monkeypatch.delenv("STUDIO_DEMO_CJK_FONT", raising=False)
    with caplog.at_level(logging.WARNING, logger="studio.demoprovider"):
        panel, _at = render._text_layer("一只橘猫在雨中的霓虹街道上奔跑", 1280, 720)
        render._text_layer("镜头缓缓推进", 720, 1280)
    said = [record.getMessage() for record in caplog.records if "draws Chinese" in record.getMessage()]
    assert len(said) == 1 and "fonts-noto-cjk" in said[0]
    assert panel.width > 0 and panel.height > 0


# --- No English on the pages in Chinese -----------------------------------------------

# Latin words a Chinese page may show: names of products, and units.
ALLOWED_LATIN = {"Omni", "Studio", "EvoLink", "API", "Gemini", "Flash"}
# What people wrote (names, addresses, teams) is theirs, not the interface's.
PEOPLE_WROTE = re.compile(r"[\w.+-]+@[\w.-]+|Alice Adams|Bob Brown|Alice|Bob|Team A|Renamed")
ATTRIBUTES = ("aria-label", "title", "placeholder", "alt", "data-confirm", "data-announce")


class VisibleText(HTMLParser):
    """The words a person sees or hears: text and labelling attributes, not scripts, and not what
    is marked as another language (lang="en": the switcher's "English")."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: tuple[str, int] | None = None  # the tag skipped, how deep inside it

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        if self.skipping:
            if tag == self.skipping[0]:
                self.skipping = (tag, self.skipping[1] + 1)
            return
        lang = attrs.get("lang") or ""
        if tag in ("script", "style") or (lang and not lang.startswith("zh") and tag != "html"):
            if tag not in VOID:
                self.skipping = (tag, 1)
            return
        self.parts.extend(attrs[name] for name in ATTRIBUTES if attrs.get(name))
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.parts.append(attrs["value"])

    def handle_endtag(self, tag) -> None:
        if self.skipping and tag == self.skipping[0]:
            depth = self.skipping[1] - 1
            self.skipping = (tag, depth) if depth else None

    def handle_data(self, data) -> None:
        if not self.skipping:
            self.parts.append(data)


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def english_on(html: str) -> set[str]:
    parser = VisibleText()
    parser.feed(html)
    text = PEOPLE_WROTE.sub(" ", " ".join(parser.parts))
    return {word for word in re.findall(r"[A-Za-z]{2,}", text) if word not in ALLOWED_LATIN}


@pytest.fixture
def chinese_alice(alice_client, alice, bob, team_a):
    languages.save_language(alice, "zh-hans")
    alice_client.post("/language/", {"language": "zh-hans", "next": "/"})
    Invitation.issue(team=team_a, role=Role.CREATOR, email="dora@example.org", invited_by=alice)
    team_a.api_key_last4 = "9f3c"
    team_a.api_key_set_at = team_a.created
    team_a.save()
    return alice_client


SIGNED_IN_PAGES = ["/team/", "/teams/new/", "/password/change/", "/password/change/done/", "/no-such-page/"]
SIGNED_OUT_PAGES = [
    "/login/",
    "/signup/",
    "/password/reset/",
    "/password/reset/sent/",
    "/password/reset/complete/",
    "/password/reset/MQ/bad-token/",
]


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_signed_in_pages_in_chinese_show_no_english(chinese_alice, path):
    page = chinese_alice.get(path, headers={"accept-language": "en"})
    html = page.content.decode()
    assert '<html lang="zh-hans">' in html
    assert not english_on(html), f"{path} shows English: {sorted(english_on(html))}"


@pytest.mark.django_db
@pytest.mark.parametrize("path", SIGNED_OUT_PAGES)
def test_signed_out_pages_in_chinese_show_no_english(client, path):
    page = client.get(path, headers=ZH)
    html = page.content.decode()
    assert '<html lang="zh-hans">' in html
    assert not english_on(html), f"{path} shows English: {sorted(english_on(html))}"


def test_refused_forms_and_messages_in_chinese_show_no_english(chinese_alice, bob):
    """Errors of Django's own and of the studio: a refused sign-up, team name and invitation."""
    pages = [
        chinese_alice.post("/team/rename/", {"name": "   "}),
        chinese_alice.post("/team/invitations/", {"role": "creator", "email": "not an address"}),
        chinese_alice.post("/team/invitations/", {"role": "owner", "email": "x" * 200 + "@example.org"}),
    ]
    membership = bob.memberships.get()
    chinese_alice.post(f"/team/members/{membership.code}/role/", {"role": "admin"})
    pages.append(chinese_alice.get("/team/"))  # with its message: "Bob Brown 现在是管理员。"
    for page in pages:
        html = page.content.decode()
        assert not english_on(html), sorted(english_on(html))
    assert "现在是管理员" in pages[-1].content.decode()


@pytest.mark.django_db
def test_invitation_and_refused_sign_up_in_chinese_show_no_english(client, alice, team_a):
    invitation = Invitation.issue(team=team_a, role=Role.REVIEWER, email="dora@example.org", invited_by=alice)
    pages = [
        client.get(f"/invite/{invitation.token}/", headers=ZH),
        client.get(f"/signup/?invite={invitation.token}", headers=ZH),
        client.post("/signup/", {"name": "", "email": "alice@example.org", "password": "alice"}, headers=ZH),
        client.post("/login/", {"username": "alice@example.org", "password": "wrong"}, headers=ZH),
    ]
    for page in pages:
        html = page.content.decode()
        assert not english_on(html), sorted(english_on(html))


def test_the_english_word_check_finds_english():
    """The check itself: an unmarked string is found, a prompt or an address is not."""
    assert english_on('<p>团队 <button>Save</button> <span aria-label="Close">×</span></p>') == {
        "Save",
        "Close",
    }
    assert not english_on(
        '<p lang="en">English</p><script>var x = "Gallery";</script><p>alice@example.org</p>'
    )


@pytest.mark.django_db
def test_error_pages_speak_the_request_s_language(client, settings, monkeypatch):
    settings.ALLOWED_HOSTS = ["studio.example.org"]
    refused = client.get("/login/", HTTP_HOST="10.0.0.7", headers=ZH)  # before authentication
    assert refused.status_code == 400 and "请求无效" in refused.content.decode()
    settings.ALLOWED_HOSTS = ["testserver"]
    monkeypatch.setattr("studio.accounts.views.SignUpForm", None)  # the sign-up page breaks
    client.raise_request_exception = False
    broken = client.get("/signup/", headers=ZH)
    assert broken.status_code == 500 and '<html lang="zh-hans">' in broken.content.decode()
    assert not english_on(broken.content.decode()) and "出错了" in broken.content.decode()


def test_the_sign_in_pause_is_explained_in_chinese(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _attempt in range(2):
        page = client.post("/login/", {"username": "alice@example.org", "password": "wrong"}, headers=ZH)
    assert page.status_code == 429
    html = page.content.decode()
    assert "登录已暂停 15 分钟" in html and not english_on(html)
