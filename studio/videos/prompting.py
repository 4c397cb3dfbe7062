# ruff: noqa: RUF001 - Chinese punctuation in Chinese text is intended
"""Prompt compiling, the cost estimate and the prompt hints: pure functions.

The provider takes one `prompt` string and nothing else about content: there is
no negative-prompt parameter, so the composer's helpers (subject, action, ...)
and negative toggles are compiled here into plain sentences. What this module
returns is exactly what is sent, shown in the live preview, and stored on the
generation as `compiled_prompt`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy

from studio.videos import evolink

MAX_PROMPT_CHARS = 2000
MAX_PART_CHARS = 400
AUTO_SECONDS = 10  # "auto" is estimated as the longest clip: the model decides, billing follows
SECONDS_PER_BEAT = 2.5

# The helper fields, in the order they are compiled, with the labels written into the prompt:
# in the prompt's language (English or Chinese), whatever the interface speaks.
PARTS: dict[str, tuple[str, str]] = {
    "subject": ("Subject", "主体"),
    "action": ("Action", "动作"),
    "scene": ("Scene", "场景"),
    "camera": ("Camera", "镜头"),
    "light": ("Light and style", "光线与风格"),
    "sound": ("Sound", "声音"),
}

# The same helpers as the interface names them, in the reader's language.
PART_LABELS = {
    "subject": gettext_lazy("Subject"),
    "action": gettext_lazy("Action"),
    "scene": gettext_lazy("Scene"),
    "camera": pgettext_lazy("prompt helper", "Camera"),
    "light": gettext_lazy("Light and style"),
    "sound": gettext_lazy("Sound"),
}

# The negative toggles: key -> (English sentence, Chinese sentence), in the prompt's language.
NEGATIVES: dict[str, tuple[str, str]] = {
    "no_dialogue": ("No dialogue.", "无对白。"),
    "no_music": ("No music.", "不要音乐。"),
    "no_text": ("No text on screen.", "画面中不要出现文字。"),
    "no_subtitles": ("No subtitles.", "不要字幕。"),
    "no_logos": ("No logos or watermarks.", "不要出现标志或水印。"),
    "no_people": ("No people.", "画面中不要出现人物。"),
    "no_fast_cuts": ("No fast cuts.", "不要快速剪切。"),
    "no_distortion": ("No distorted faces or hands.", "不要出现变形的面部或手部。"),
}
# Their labels on the toggles, in the interface's language.
NEGATIVE_LABELS = {
    "no_dialogue": gettext_lazy("No dialogue"),
    "no_music": gettext_lazy("No music"),
    "no_text": gettext_lazy("No text on screen"),
    "no_subtitles": gettext_lazy("No subtitles"),
    "no_logos": gettext_lazy("No logos or watermarks"),
    "no_people": gettext_lazy("No people"),
    "no_fast_cuts": gettext_lazy("No fast cuts"),
    "no_distortion": gettext_lazy("No distorted faces or hands"),
}

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
_CJK_IDEOGRAPH = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_END_EN = (".", "!", "?", "…", '"', "'", ")")
_END_ZH = ("。", "！", "？", "…", "”", "）", ".", "!", "?")


def detect_language(text: str) -> str:
    """'zh' when Chinese carries the text (one ideograph counts about as one English word)."""
    ideographs = len(_CJK_IDEOGRAPH.findall(text))
    if not ideographs:
        return "en"
    words = len(_LATIN_WORD.findall(text))
    return "zh" if ideographs >= words else "en"


def _sentence(text: str, language: str) -> str:
    text = " ".join(text.split())
    if not text:
        return ""
    if language == "zh":
        text = text.rstrip("，,;；:：")
        return text if text.endswith(_END_ZH) else text + "。"
    text = text.rstrip(",;:")
    return text if text.endswith(_END_EN) else text + "."


def _join(sentences: list[str], language: str) -> str:
    sentences = [s for s in sentences if s]
    # Chinese runs sentences together; English separates them with a space.
    return ("" if language == "zh" else " ").join(sentences)


@dataclass(frozen=True)
class Draft:
    """Everything the person chose, cleaned enough to compile (never raises)."""

    prompt: str = ""
    parts: dict[str, str] = field(default_factory=dict)
    negatives: tuple[str, ...] = ()
    negative_text: str = ""
    duration: str = "5"
    aspect_ratio: str = "16:9"

    @property
    def language(self) -> str:
        return detect_language(" ".join([self.prompt, *self.parts.values(), self.negative_text]))

    @property
    def is_empty(self) -> bool:
        return not self.prompt.strip() and not any(v.strip() for v in self.parts.values())

    @property
    def seconds(self) -> int:
        return AUTO_SECONDS if self.duration == "auto" else int(self.duration)

    @cached_property
    def compiled(self) -> str:
        """The prompt to send, compiled once per draft: the form checks it, the service stores it."""
        return compile_prompt(
            prompt=self.prompt, parts=self.parts, negatives=self.negatives, negative_text=self.negative_text
        )


def compile_prompt(
    *, prompt: str, parts: dict[str, str], negatives: list[str] | tuple[str, ...], negative_text: str
) -> str:
    """The prompt text to send: main text, labelled helpers, then the negatives as sentences."""
    language = detect_language(" ".join([prompt, *parts.values(), negative_text]))
    zh = language == "zh"
    sentences: list[str] = []
    main = prompt.strip()
    if main:
        # Keep the person's own line breaks and wording; only close the last sentence.
        sentences.append(_sentence(main, language) if "\n" not in main else main)
    separator = "：" if zh else ": "
    for key, (label_en, label_zh) in PARTS.items():
        value = (parts.get(key) or "").strip()
        if value:
            sentences.append(_sentence(f"{label_zh if zh else label_en}{separator}{value}", language))
    for key in NEGATIVES:
        if key in negatives:
            sentences.append(NEGATIVES[key][1 if zh else 0])
    for line in negative_text.splitlines():
        sentences.append(_sentence(line, language))
    return _join(sentences, language)


def request_body(draft: Draft, *, with_callback: bool = False) -> dict:
    """The JSON body the studio will POST to the provider (never with a key).

    Built by the client's own function, so the preview cannot drift from what is sent.
    """
    return evolink.create_body(
        prompt=draft.compiled,
        duration=draft.duration,
        aspect_ratio=draft.aspect_ratio,
        callback_url="(set by the studio)" if with_callback else None,
    )


@dataclass(frozen=True)
class Estimate:
    seconds: int
    tokens: int
    usd: Decimal

    @property
    def text(self) -> str:
        return _("≈ %(tokens)s output tokens · ≈ $%(usd)s") % {
            "tokens": f"{self.tokens:,}",
            "usd": f"{self.usd:.2f}",
        }


def estimate(*, duration: str, tokens_per_second: int, usd_per_1k_tokens: float) -> Estimate:
    """Output tokens and dollars for a clip; auto is counted as the longest clip."""
    seconds = AUTO_SECONDS if duration == "auto" else int(duration)
    tokens = seconds * tokens_per_second
    usd = (Decimal(tokens) * Decimal(str(usd_per_1k_tokens)) / 1000).quantize(
        Decimal("0.001"), rounding=ROUND_HALF_UP
    )
    return Estimate(seconds=seconds, tokens=tokens, usd=usd)


# --- Hints: advisory only, never blocking -------------------------------------

_CAMERA_WORDS = re.compile(
    r"\b(camera|shot|dolly|pan|pans|panning|tilt|zoom|tracking|track|close-up|closeup|wide|aerial|drone|"
    r"handheld|crane|orbit|push[- ]in|pull[- ]back|pov|lens|angle|static|macro|steadicam|gimbal)\b"
    r"|镜头|推进|拉远|摇镜|跟拍|特写|航拍|俯拍|仰拍|全景|近景|远景|环绕|手持",
    re.IGNORECASE,
)
_SCENE_WORDS = re.compile(
    r"\b(in|at|on|inside|outside|under|over|across|through|along|near|beside|above|below|room|street|"
    r"forest|city|beach|studio|desert|ocean|sky|kitchen|office|field|mountain|night|dawn|dusk)\b"
    r"|在|里|中|上|下|旁|街|城|森林|海|山|房间|室内|室外|夜|清晨|黄昏",
    re.IGNORECASE,
)
_PORTRAIT_WORDS = re.compile(r"\b(vertical|portrait)\b|竖屏|竖版|竖构图|竖向", re.IGNORECASE)
_LANDSCAPE_WORDS = re.compile(
    r"\b(horizontal|widescreen|landscape|wide-screen)\b|横屏|横版|宽屏|横向", re.IGNORECASE
)
_SECONDS_EN = re.compile(r"\b(\d{1,3})\s*(?:-\s*)?(?:seconds?|secs?|s)\b", re.IGNORECASE)
_MINUTES_EN = re.compile(r"\b(one|a|an|\d{1,3})\s*(?:-\s*)?(?:minutes?|mins?)\b", re.IGNORECASE)
_SECONDS_ZH = re.compile(r"(\d{1,3})\s*秒")
_MINUTES_ZH = re.compile(r"(一|两|二|三|半|\d{1,3})\s*分钟")
_ZH_NUMBERS = {"一": 1, "两": 2, "二": 2, "三": 3}
_THEN = re.compile(
    r"\b(then|after that|afterwards|next|finally|before|while)\b|然后|接着|随后|之后|最后|紧接着",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?。！？]+")


@dataclass(frozen=True)
class Hint:
    field: str  # the form field it is about ("prompt", "camera", "duration", ...)
    text: str


def _stated_seconds(text: str) -> int | None:
    """The longest length the text asks for ("30 second", "30s", "一分钟"), in seconds."""
    found: list[int] = []
    found += [int(m.group(1)) for m in _SECONDS_EN.finditer(text)]
    found += [int(m.group(1)) for m in _SECONDS_ZH.finditer(text)]
    for m in _MINUTES_EN.finditer(text):
        n = m.group(1).lower()
        found.append(60 * (int(n) if n.isdigit() else 1))
    for m in _MINUTES_ZH.finditer(text):
        n = m.group(1)
        found.append(30 if n == "半" else 60 * (int(n) if n.isdigit() else _ZH_NUMBERS[n]))
    return max(found) if found else None


def action_beats(text: str) -> int:
    """How many things happen one after another: sentences, or "then"-style links."""
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    links = len(_THEN.findall(text))
    return max(len(sentences), links + 1 if text.strip() else 0)


def beats_capacity(seconds: int) -> int:
    return max(1, int(seconds / SECONDS_PER_BEAT))


def hints(draft: Draft) -> list[Hint]:
    """Advice about the prompt, in the interface's language; an empty list when it looks complete.

    Which words count (camera, scene, lengths) follows the prompt's language: a Chinese
    prompt is read in Chinese whatever language the advice is given in.
    """
    zh = draft.language == "zh"
    main = draft.prompt
    parts = draft.parts
    out: list[Hint] = []
    if draft.is_empty:
        return out

    def say(field_name: str, text: str) -> None:
        out.append(Hint(field_name, text))

    short = len(main) < (12 if zh else 40)
    if not parts.get("subject") and not main.strip():
        say("subject", _("Say who or what is on screen (the subject)."))
    if not parts.get("action") and short:
        say("action", _("Describe the action: what the subject does."))
    if not parts.get("scene") and not _SCENE_WORDS.search(main):
        say("scene", _("Set the scene: where and when it happens."))
    if not parts.get("camera") and not _CAMERA_WORDS.search(main):
        say("camera", _("Add a camera movement (e.g. slow dolly-in, handheld tracking shot)."))

    everything = " ".join([main, *parts.values()])
    if draft.aspect_ratio == "16:9" and _PORTRAIT_WORDS.search(everything):
        say(
            "aspect_ratio",
            _("The prompt asks for a vertical/portrait shot, but the aspect ratio is 16:9 landscape."),
        )
    if draft.aspect_ratio == "9:16" and _LANDSCAPE_WORDS.search(everything):
        say(
            "aspect_ratio",
            _("The prompt asks for a horizontal/widescreen shot, but the aspect ratio is 9:16 portrait."),
        )
    stated = _stated_seconds(everything)
    limit = 10 if draft.duration == "auto" else draft.seconds
    if stated is not None and stated > limit:
        if draft.duration == "auto":
            text = _("The prompt mentions %(stated)s seconds, but the clip will be auto (at most 10 s).")
        else:
            text = _("The prompt mentions %(stated)s seconds, but the clip will be %(seconds)s s.")
        say("duration", text % {"stated": stated, "seconds": draft.seconds})

    beats = action_beats(" ".join([main, parts.get("action", "")]))
    capacity = beats_capacity(draft.seconds)
    if beats > capacity:
        text = ngettext(
            "About %(beats)s action beat for a %(seconds)s s clip, which holds about %(capacity)s: "
            "cut some, or choose a longer duration.",
            "About %(beats)s action beats for a %(seconds)s s clip, which holds about %(capacity)s: "
            "cut some, or choose a longer duration.",
            beats,
        )
        say("duration", text % {"beats": beats, "seconds": draft.seconds, "capacity": capacity})
    return out
