# ruff: noqa: RUF001 - Chinese punctuation in Chinese text is intended
"""The video pages in Chinese: no English word of the interface leaks, prompts stay as written.

The pages are rendered in zh-hans and every word a person reads inside <main> (text, and the
labels screen readers and tooltips say) is checked: apart from what people wrote (prompts,
comments, names) and a few proper names and units, no Latin word may remain. A string added
to a template or view without {% translate %} / gettext fails here.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from studio.videos import failures, services, storage
from studio.videos.evolink import EvolinkError
from studio.videos.models import Comment, Generation, ReviewEvent, ReviewStatus, Status
from tests.factories import make_generation, make_ready_generation

HTMX = {"HTTP_HX_REQUEST": "true"}

# Latin words a Chinese page may show: names of things, units and keys on a keyboard.
ALLOWED = {
    "Omni", "Studio", "EvoLink", "JSON", "MP4", "MB", "fps", "token", "HTTP", "ID",
    "Ctrl", "Enter", "Esc", "Home", "End", "Shift", "task-unified-", "KB", "MP", "UTC",
}  # fmt: skip
# Attributes people hear or see (screen readers, tooltips, confirmations, announcements).
SPOKEN = {
    "aria-label",
    "title",
    "placeholder",
    "alt",
    "data-confirm",
    "data-announce",
    "aria-roledescription",
}
# Content that is not the interface: the prompt and JSON previews, task ids, times for machines.
SKIPPED_TAGS = {"pre", "code", "script", "style", "textarea"}


class _MainText(HTMLParser):
    """What a person reads inside <main>: text outside SKIPPED_TAGS, and SPOKEN attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # inside <main>
        self.skipping = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "main":
            self.depth += 1
        if not self.depth:
            return
        if tag in SKIPPED_TAGS:
            self.skipping += 1
        self.parts += [value for name, value in attrs if name in SPOKEN and value]

    def handle_endtag(self, tag):
        if not self.depth:
            return
        if tag in SKIPPED_TAGS:
            self.skipping -= 1
        if tag == "main":
            self.depth -= 1

    def handle_data(self, data):
        if self.depth and not self.skipping:
            self.parts.append(data)


def english_left(html: str, *written: str) -> list[str]:
    """The Latin words of the interface left in the page, once what people wrote is taken out."""
    parser = _MainText()
    parser.feed(html)
    text = "\n".join(parser.parts)
    for content in sorted(written, key=len, reverse=True):
        text = text.replace(content, " ")
    # What people wrote also shows cut short ("slow doll…") and word by word (the prompt diff).
    theirs = {word for content in written for word in re.findall(r"[A-Za-z][A-Za-z-]+", content)}
    words = re.findall(r"[A-Za-z][A-Za-z-]+", text)
    return sorted({word for word in words if word not in ALLOWED and not any(word in own for own in theirs)})


def in_language(client, code: str) -> None:
    """Switch the way a person does: the language menu (saved on the person and in the cookie)."""
    response = client.post(reverse("set_language"), {"language": code, "next": reverse("home")})
    assert response.status_code == 302


def in_chinese(client) -> None:
    in_language(client, "zh-hans")


PROMPT = "A red fox trots through fresh snow"
COMPILED = "A red fox trots through fresh snow. Camera: slow dolly-in. No music."


@pytest.fixture
def studio(team_a, alice, bob):
    """A team's videos in every state the pages draw, with comments, a review and versions."""
    ready = make_ready_generation(
        team_a,
        alice,
        prompt=PROMPT,
        compiled_prompt=COMPILED,
        parts={"camera": "slow dolly-in"},
        negatives=["no_music"],
        negative_text="Lens flare",
    )
    remix = make_ready_generation(
        team_a, alice, prompt=PROMPT, compiled_prompt=COMPILED, parent=ready, lineage=ready.lineage
    )
    Generation.objects.filter(pk=remix.pk).update(derivation="remixed")
    thread = Comment.objects.create(
        generation=ready, author=bob, body="Too dark", at_seconds=1.0, end_seconds=2.0
    )
    reply = Comment.objects.create(generation=ready, author=alice, parent=thread, body="Agreed")
    Comment.objects.create(
        generation=ready, author=bob, body="Nice", resolved_at=timezone.now(), resolved_by=alice
    )
    for status in (ReviewStatus.CHANGES_REQUESTED, ReviewStatus.APPROVED):
        ReviewEvent.objects.create(generation=ready, actor=alice, status=status)
    Generation.objects.filter(pk=ready.pk).update(review_status=ReviewStatus.APPROVED)
    failed = make_generation(
        team_a,
        alice,
        status=Status.FAILED,
        error_code="content_policy",
        error_message="The provider could not make this video: blocked by policy. Nothing was charged.",
    )
    unknown = make_generation(
        team_a,
        alice,
        status=Status.UNKNOWN,
        error_message=services.unknown_message(timezone.now()),
    )
    working = make_generation(team_a, alice, status=Status.PROCESSING, progress=40)
    return {"ready": ready, "failed": failed, "unknown": unknown, "working": working, "reply": reply}


# People's words in these pages: they stay as written.
WRITTEN = (
    PROMPT, COMPILED, "slow dolly-in", "Lens flare", "Too dark", "Agreed", "Nice", "blocked by policy.",
    "Alice Adams", "Bob Brown", "Team A", "alice@example.org", "bob@example.org", "content_policy",
    "A red fox trots through fresh snow at dawn, slow dolly shot, soft golden light",
    "zebra", "per_call", "default",  # a search, and the provider's usage values
)  # fmt: skip


def _pages(studio) -> dict[str, str]:
    ready, failed, unknown, working = studio["ready"], studio["failed"], studio["unknown"], studio["working"]
    return {
        "gallery": reverse("home"),
        "gallery, nothing matches": reverse("home") + "?q=zebra&favourites=on",
        "gallery, a bad filter": reverse("home") + "?start=1999-01-01",
        "compose": reverse("compose"),
        "remix": reverse("compose") + f"?from={ready.code}",
        "video": reverse("generation_detail", args=[ready.code]),
        "failed video": reverse("generation_detail", args=[failed.code]),
        "unknown video": reverse("generation_detail", args=[unknown.code]),
        "video in flight": reverse("generation_detail", args=[working.code]),
        "compare": reverse("compare") + f"?a={ready.code}&b={failed.code}",
        "compare, pick": reverse("compare") + f"?a={ready.code}",
        "comment edit": reverse("comment_edit", args=[studio["reply"].code]),
    }


@pytest.mark.django_db
def test_the_video_pages_speak_chinese(alice_client, studio):
    in_chinese(alice_client)
    leaks = {}
    for name, url in _pages(studio).items():
        response = alice_client.get(url)
        assert response.status_code == 200, name
        html = response.content.decode()
        assert '<html lang="zh-hans">' in html, name
        if left := english_left(html, *WRITTEN):
            leaks[name] = left
    assert not leaks, f"English words left on the Chinese pages: {leaks}"


@pytest.mark.django_db
def test_the_pages_read_in_chinese(alice_client, studio):
    in_chinese(alice_client)
    gallery = alice_client.get(reverse("home")).content.decode()
    assert "新建视频" in gallery and "对比两个…" in gallery
    assert "2 个版本" in gallery  # the stack of the remixed video
    assert (
        "服务商无法生成此视频：blocked by policy. 未产生任何费用。" in gallery
    )  # a stored failure, read back
    detail = alice_client.get(reverse("generation_detail", args=[studio["ready"].code])).content.decode()
    assert "键盘快捷键" in detail and "播放 / 暂停" in detail  # the player's shortcut sheet
    assert "3 条评论 · 1 条已解决" in detail and "显示已解决（1）" in detail
    assert "由 v1 改编" in detail  # the first version's page lists its remix: v2, remixed from v1
    assert "已通过" in detail and "历史记录（2）" in detail
    unknown = alice_client.get(reverse("generation_detail", args=[studio["unknown"].code])).content.decode()
    assert "可能已计费" in unknown and "粘贴其任务 ID" in unknown


@pytest.mark.django_db
def test_the_same_pages_stay_english_in_english(alice_client, studio):
    in_language(alice_client, "en")
    html = alice_client.get(reverse("generation_detail", args=[studio["failed"].code])).content.decode()
    assert '<html lang="en">' in html
    assert "The provider could not make this video: blocked by policy. Nothing was charged." in html
    gallery = alice_client.get(reverse("home")).content.decode()
    assert '2<span class="gcard-versions-word"> versions</span>' in gallery


# --- The composer: labels follow the interface, the prompt its own language ----------


def compose_data(**overrides) -> dict:
    data = {
        "prompt": "A red fox leaps over a frozen stream",
        "scene": "a snowy birch forest at dawn",
        "negatives": ["no_dialogue", "no_text"],
        "negative_text": "",
        "duration": "5",
        "aspect_ratio": "16:9",
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_a_chinese_interface_writes_an_english_prompt_as_before(alice_client):
    in_language(alice_client, "en")
    english = alice_client.post(reverse("compose_preview"), compose_data(), **HTMX)
    in_chinese(alice_client)
    chinese = alice_client.post(reverse("compose_preview"), compose_data(), **HTMX)
    assert chinese.context["compiled"] == english.context["compiled"]
    assert chinese.context["compiled"] == (
        "A red fox leaps over a frozen stream. Scene: a snowy birch forest at dawn. No dialogue. No text on screen."
    )
    assert chinese.context["request_json"] == english.context["request_json"]
    body = chinese.content.decode()
    assert "将要发送的提示词" in body and "加入镜头运动" in body  # the interface's words, the hints too
    page = alice_client.get(reverse("compose")).content.decode()
    assert "<span>无对白</span>" in page and "<span>画面无文字</span>" in page  # the toggles' labels


@pytest.mark.django_db
def test_an_english_interface_writes_a_chinese_prompt_as_before(alice_client):
    in_language(alice_client, "en")
    data = compose_data(prompt="一只红狐狸跃过结冰的小溪", scene="黎明的白桦林")
    response = alice_client.post(reverse("compose_preview"), data, **HTMX)
    assert (
        response.context["compiled"]
        == "一只红狐狸跃过结冰的小溪。场景：黎明的白桦林。无对白。画面中不要出现文字。"
    )
    assert "Prompt that will be sent" in response.content.decode()
    page = alice_client.get(reverse("compose")).content.decode()
    assert "<span>No dialogue</span>" in page


@pytest.mark.django_db
def test_a_generation_sent_from_a_chinese_interface_sends_the_same_prompt(alice_client, monkeypatch):
    monkeypatch.setattr("studio.videos.services.async_task", lambda *args, **kwargs: None)
    monkeypatch.setattr("studio.videos.wakeup.notify", lambda: None)
    in_chinese(alice_client)
    response = alice_client.post(reverse("compose"), compose_data(camera="slow dolly-in"), **HTMX)
    assert response.status_code == 200
    generation = Generation.objects.get()
    assert generation.compiled_prompt == (
        "A red fox leaps over a frozen stream. Scene: a snowy birch forest at dawn. "
        "Camera: slow dolly-in. No dialogue. No text on screen."
    )
    assert "已发送" in response.content.decode()


@pytest.mark.django_db
def test_form_errors_are_in_chinese(alice_client):
    in_chinese(alice_client)
    body = alice_client.post(reverse("compose"), compose_data(prompt="", scene=""), **HTMX).content.decode()
    assert "请填写提示词，或至少填写下方的一个辅助项。" in body


# --- Stored failure messages: every one the pipeline writes is read back whole --------


def _messages_the_pipeline_writes() -> list[str]:
    now = timezone.now()
    found = [
        services.AWAITING_RESEND,
        services.unknown_message(now),
        services.unknown_message(None, "stopped before the answer came"),
        services.unknown_message(now, "could not get an answer for an hour"),
        services.unknown_message(now, "the provider refused it when asked again (Invalid key)"),
        services.DOWNLOAD_GAVE_UP.format(n=3, reason="the provider's file came too slowly."),
    ]
    for status in (400, 401, 402, 403, 404, 413, 429, 500, 503, None, 418):
        for code in ("", "insufficient_quota"):
            error = EvolinkError(
                "Model busy", status=status, param="prompt", code=code, fallback_suggestion="Wait a minute."
            )
            found += [error.user_message, error.describe(retrying=False)]
    found.append(EvolinkError("", status=400).user_message)  # "no details given"
    found.append(EvolinkError("x", outcome_unknown=True).user_message)
    for status in (429, 503, 400):
        try:
            storage._check_status(status)
        except storage.StorageError as exc:
            found.append(exc.user_message)
    return found


@pytest.mark.django_db
def test_every_message_the_pipeline_stores_is_read_whole(team_a, alice):
    messages = _messages_the_pipeline_writes()
    # And the ones the rows write themselves, through the models' and services' own steps.
    expired = make_generation(team_a, alice, status=Status.DOWNLOADING)
    expired.mark_expired()
    downloading = make_generation(team_a, alice, status=Status.DOWNLOADING, attempts=0)
    services._download_failed(downloading, reason="the provider's file server answered 503.")
    for generation in (expired, downloading):
        generation.refresh_from_db()
        messages.append(generation.error_message)
    unread = [message for message in messages if failures.read(message) is None]
    assert not unread, f"stored messages failures.py cannot read (add their sentences): {unread}"
    with translation.override("zh-hans"):
        for message in messages:
            text = failures.translate(message)
            left = set(re.findall(r"[A-Za-z]{3,}", text)) - {
                "HTTP",
                "EvoLink",
                "UTC",
                "Model",
                "busy",
                "Wait",
                "minute",
                "prompt",
                "Invalid",
                "key",
            }
            assert not left, (message, text)


def test_a_message_that_is_not_known_is_shown_as_stored():
    message = "Something new happened. Nothing was charged."
    with translation.override("zh-hans"):
        assert failures.translate(message) == message
    with translation.override("en"):
        assert failures.translate("Nothing was charged.") == "Nothing was charged."


def test_the_outcome_unknown_heading_is_not_said_twice():
    from studio.videos.templatetags.review_tags import after_heading

    with translation.override("zh-hans"):
        text = failures.translate(services.unknown_message(None))
        assert after_heading(text, "结果未知").startswith("可能已计费。")


# --- The browser scripts' catalogue ---------------------------------------------


@pytest.mark.django_db
def test_the_script_catalogue_is_served_from_here_and_kept(client):
    from studio.videos import jsi18n

    with translation.override("zh-hans"):
        url = jsi18n.catalog_url()
    assert url.startswith("/jsi18n.js?language=zh-hans&v=")
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert "immutable" in response["Cache-Control"]
    body = response.content.decode()
    assert "\\u5df2\\u590d\\u5236" in body  # "Copied": 已复制
    assert "Choose a Date" not in body  # the admin's catalogue is not sent
    assert client.get("/jsi18n.js?language=xx").status_code == 404
    assert client.get("/jsi18n.js", headers={"accept-language": "zh-hans"}).status_code == 200


@pytest.mark.django_db
def test_every_page_loads_the_catalogue_before_its_scripts(alice_client, studio):
    in_chinese(alice_client)
    html = alice_client.get(reverse("generation_detail", args=[studio["ready"].code])).content.decode()
    catalogue = html.index('src="/jsi18n.js?language=zh-hans&amp;v=')
    assert catalogue < html.index("js/studio.js") < html.index("js/player.js")
