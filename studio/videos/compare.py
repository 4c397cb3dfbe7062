"""Comparing videos of the team: the compare page, its picker, and what changed between two prompts.

/compare/?a=<code>&b=<code> plays the two side by side (or one over the other
with a wipe) from one set of controls (static/js/compare.js keeps them in
sync), each with its prompt and settings, and shows a word-level diff of the
two prompts sent and a table of the settings that differ. With only `a` it
offers a's versions and the team's recent videos to pick the other from.
Both codes go through the video page's access helper: another team's video
is a 404, and reviewers compare like everyone else (it changes nothing).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext, pgettext
from django.views.decorators.http import require_GET

from studio.accounts.access import member_required
from studio.videos import gallery, prompting
from studio.videos.models import Generation, Status
from studio.videos.templatetags.gallery_tags import display_name
from studio.videos.views import _get_generation_for_user

# The picker lists no more of the team's recent videos than this.
PICKER_SIZE = 24

# Words for the prompt diff: a run of letters or digits, or one CJK character
# (Chinese has no spaces between words), or one space run or punctuation mark.
_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_TOKEN = re.compile(rf"[^\W{_CJK}]+|[{_CJK}]|\s+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class Segment:
    """A piece of the prompt diff: text both prompts share, or that only A ("del") or only B ("ins") has."""

    op: str  # "same", "del" or "ins"
    text: str


@dataclass(frozen=True)
class Setting:
    label: str
    a: str
    b: str

    @property
    def changed(self) -> bool:
        return self.a != self.b


def word_diff(a: str, b: str) -> list[Segment]:
    """The words of `a` turned into `b`: shared runs, removed runs and added runs, in reading order."""
    left, right = _TOKEN.findall(a), _TOKEN.findall(b)
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    segments: list[Segment] = []

    def add(op: str, tokens: list[str]) -> None:
        text = "".join(tokens)
        if not text:
            return
        if segments and segments[-1].op == op:
            segments[-1] = Segment(op, segments[-1].text + text)
        else:
            segments.append(Segment(op, text))

    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            add("same", left[i1:i2])
        else:  # a replace is what A had, then what B has instead
            add("del", left[i1:i2])
            add("ins", right[j1:j2])
    return segments


def _asked(generation: Generation) -> str:
    if generation.duration == "auto":
        return gettext("Auto")
    return gettext("%(seconds)s s") % {"seconds": generation.duration}


def _obtained(generation: Generation) -> str:
    if not generation.video_width:
        return "—"
    text = f"{generation.video_width} × {generation.video_height}"  # noqa: RUF001 - the times sign people read
    if generation.video_duration:
        text += " · " + gettext("%(seconds)s s") % {"seconds": f"{generation.video_duration:.1f}"}
    if generation.video_fps:
        text += " · " + gettext("%(fps)s fps") % {"fps": f"{generation.video_fps:g}"}
    return text


def settings_of(generation: Generation) -> list[tuple[str, str]]:
    """Everything a video was made with (and what came out), as (label, value) for the table."""
    parts = generation.parts or {}
    negatives = [prompting.NEGATIVE_LABELS.get(key, key) for key in generation.negatives]
    aspect = gettext("Auto") if generation.aspect_ratio == "auto" else generation.aspect_ratio
    return [
        (gettext("Length asked"), _asked(generation)),
        (gettext("Aspect ratio"), aspect),
        (gettext("Language"), gettext("Chinese") if generation.language == "zh" else gettext("English")),
        (gettext("Main text"), generation.prompt or "—"),
        *((str(label), parts.get(key) or "—") for key, label in prompting.PART_LABELS.items()),
        (gettext("Avoid"), pgettext("list separator", ", ").join(str(n) for n in negatives) or "—"),
        (gettext("Avoid (own words)"), generation.negative_text or "—"),
        (gettext("Obtained"), _obtained(generation)),
        (gettext("Status"), str(generation.get_status_display())),
        (pgettext("noun", "Review"), str(generation.get_review_status_display())),
        (gettext("Author"), display_name(generation.author)),
    ]


def compare_settings(a: Generation, b: Generation) -> list[Setting]:
    return [
        Setting(label, value_a, value_b)
        for (label, value_a), (_, value_b) in zip(settings_of(a), settings_of(b), strict=True)
    ]


def _sides(*generations: Generation) -> list[dict]:
    """What the page shows of each video: a player (and its place among the players) or its status."""
    sides = []
    players = 0
    for letter, generation in zip("ABCD", generations, strict=False):
        playable = generation.status == Status.READY and bool(generation.video)
        if generation.video_width and generation.video_height:
            aspect = generation.video_width / generation.video_height
        else:
            aspect = 9 / 16 if generation.aspect_ratio == "9:16" else 16 / 9
        sides.append(
            {
                "letter": letter,
                "generation": generation,
                "playable": playable,
                "player": players if playable else None,
                "fps": f"{generation.video_fps or 24:g}",
                "aspect": f"{aspect:.4f}",
                "portrait": aspect < 1,
            }
        )
        players += playable
    return sides


def _candidates(request: HttpRequest, generation: Generation) -> tuple[list[Generation], list[Generation]]:
    """For the picker: a's other versions (oldest first), and the team's other recent videos."""
    versions = [version for version in gallery.versions_of(generation) if version.pk != generation.pk]
    team_rows = Generation.objects.filter(team=request.team).select_related("author")
    recent = list(team_rows.exclude(lineage=generation.lineage).order_by("-created", "-id")[:PICKER_SIZE])
    return versions, recent


@member_required
@require_GET
def compare(request: HttpRequest) -> HttpResponse:
    """Two videos of the team side by side; with only `a`, the list to pick the other from, and
    with neither, the list to pick the first from."""
    if not request.GET.get("a"):
        recent = Generation.objects.filter(team=request.team).select_related("author")
        context = {
            "a": None,
            "versions": [],
            "recent": list(recent.order_by("-created", "-id")[:PICKER_SIZE]),
        }
        return render(request, "videos/compare_pick.html", context)
    a, _ = _get_generation_for_user(request, request.GET.get("a", ""))
    if not request.GET.get("b"):
        versions, recent = _candidates(request, a)
        return render(request, "videos/compare_pick.html", {"a": a, "versions": versions, "recent": recent})
    b, _ = _get_generation_for_user(request, request.GET.get("b", ""))
    context = {
        "a": a,
        "b": b,
        "sides": _sides(a, b),
        "same_video": a.pk == b.pk,
        "same_lineage": a.lineage == b.lineage,
        "diff": word_diff(a.compiled_prompt, b.compiled_prompt),
        "settings": compare_settings(a, b),
        "swap_query": f"a={b.code}&b={a.code}",
    }
    context["prompt_changed"] = any(segment.op != "same" for segment in context["diff"])
    context["changed_settings"] = [row for row in context["settings"] if row.changed]
    return render(request, "videos/compare.html", context)
