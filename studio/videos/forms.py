from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.functional import cached_property

from studio.videos import prompting
from studio.videos.gallery import Filters
from studio.videos.models import AspectRatio, Duration, Generation, ReviewStatus

DEFAULT_DURATION = Duration.S5.value
DEFAULT_ASPECT_RATIO = AspectRatio.LANDSCAPE.value

PART_PLACEHOLDERS = {
    "subject": "a red fox with a frost-tipped tail",
    "action": "leaps over a frozen stream, then looks back at the camera",
    "scene": "a snowy birch forest at dawn",
    "camera": "slow dolly-in at eye level, shallow depth of field",
    "light": "soft golden backlight, 35 mm film grain",
    "sound": "ambient only: wind in the trees, crunching snow",
}


class ComposeForm(forms.Form):
    """The composer: a main prompt, optional helpers, negatives, duration and shape."""

    prompt = forms.CharField(
        required=False,
        strip=True,
        widget=forms.Textarea(
            attrs={
                "rows": 5,
                "placeholder": "A red fox leaps over a frozen stream in a snowy birch forest at dawn, "
                "slow dolly-in, soft golden light.",
            }
        ),
    )
    subject = forms.CharField(required=False, max_length=prompting.MAX_PART_CHARS)
    action = forms.CharField(required=False, max_length=prompting.MAX_PART_CHARS)
    scene = forms.CharField(required=False, max_length=prompting.MAX_PART_CHARS)
    camera = forms.CharField(required=False, max_length=prompting.MAX_PART_CHARS)
    light = forms.CharField(required=False, max_length=prompting.MAX_PART_CHARS, label="Light and style")
    sound = forms.CharField(required=False, max_length=prompting.MAX_PART_CHARS)
    negatives = forms.MultipleChoiceField(
        required=False,
        choices=list(prompting.NEGATIVE_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "“%(value)s” is not one of the negatives on offer."},
    )
    negative_text = forms.CharField(
        required=False,
        max_length=prompting.MAX_PART_CHARS,
        label="Other things to avoid",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "No snow falling on the lens"}),
    )
    duration = forms.ChoiceField(
        # Seconds first, auto last: most people pick a length.
        choices=[c for c in Duration.choices if c[0] != Duration.AUTO] + [(Duration.AUTO, "Auto")],
        initial=DEFAULT_DURATION,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose a duration.",
            "invalid_choice": "Choose a duration of 3 to 10 seconds, or auto.",
        },
    )
    aspect_ratio = forms.ChoiceField(
        choices=AspectRatio.choices,
        initial=DEFAULT_ASPECT_RATIO,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose an aspect ratio.",
            "invalid_choice": "Choose 16:9, 9:16 or auto.",
        },
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for key, placeholder in PART_PLACEHOLDERS.items():
            self.fields[key].widget.attrs["placeholder"] = placeholder
        # What a valid form sends, set by clean(), which compiles its prompt once to check the length.
        self.cleaned_draft = prompting.Draft()

    @classmethod
    def from_generation(cls, generation: Generation) -> ComposeForm:
        """An unbound form holding everything a generation was made with (Remix)."""
        initial = {
            "prompt": generation.prompt,
            "negatives": [key for key in generation.negatives if key in prompting.NEGATIVES],
            "negative_text": generation.negative_text,
            "duration": generation.duration,
            "aspect_ratio": generation.aspect_ratio,
        }
        for key in prompting.PARTS:
            initial[key] = (generation.parts or {}).get(key, "")
        return cls(initial=initial)

    def draft(self) -> prompting.Draft:
        """What the form holds right now, leniently: unknown values fall back, nothing raises.

        The live preview uses this while the person types, before the form is valid.
        """
        if self.is_bound:
            data = self.data

            def get(name: str) -> str:
                return str(data.get(name, "") or "")

            negatives = data.getlist("negatives") if hasattr(data, "getlist") else data.get("negatives", [])
        else:

            def get(name: str) -> str:
                return str(self.initial.get(name, self.fields[name].initial or "") or "")

            negatives = self.initial.get("negatives", [])
        duration = get("duration")
        aspect_ratio = get("aspect_ratio")
        return prompting.Draft(
            prompt=get("prompt").strip(),
            parts={key: get(key).strip()[: prompting.MAX_PART_CHARS] for key in prompting.PARTS},
            negatives=tuple(key for key in prompting.NEGATIVES if key in negatives),
            negative_text=get("negative_text").strip()[: prompting.MAX_PART_CHARS],
            duration=duration if duration in Duration.values else DEFAULT_DURATION,
            aspect_ratio=aspect_ratio if aspect_ratio in AspectRatio.values else DEFAULT_ASPECT_RATIO,
        )

    def clean(self) -> dict:
        data = super().clean()
        parts = {key: data.get(key) or "" for key in prompting.PARTS}
        if not (data.get("prompt") or "").strip() and not any(v.strip() for v in parts.values()):
            if "prompt" not in self.errors:
                self.add_error("prompt", "Write a prompt, or fill in at least one of the helpers below.")
            return data
        negatives = data.get("negatives") or []
        self.cleaned_draft = prompting.Draft(
            prompt=data.get("prompt") or "",
            parts=parts,
            negatives=tuple(key for key in prompting.NEGATIVES if key in negatives),
            negative_text=data.get("negative_text") or "",
            duration=data.get("duration") or DEFAULT_DURATION,
            aspect_ratio=data.get("aspect_ratio") or DEFAULT_ASPECT_RATIO,
        )
        compiled = self.cleaned_draft.compiled
        over = len(compiled) - prompting.MAX_PROMPT_CHARS
        if over > 0:
            self.add_error(
                "prompt",
                f"The prompt to send is {len(compiled):,} characters; the limit is "
                f"{prompting.MAX_PROMPT_CHARS:,}. Shorten it by {over:,}.",
            )
        return data

    @property
    def part_fields(self) -> list[forms.BoundField]:
        return [self[key] for key in prompting.PARTS]


# --- The gallery's filter bar ----------------------------------------------------

_DAYS = [
    MinValueValidator(dt.date(2000, 1, 1), "Choose a day in 2000 or later."),
    MaxValueValidator(dt.date(2999, 12, 31), "Choose a day before the year 3000."),
]


class GalleryFilterForm(forms.Form):
    """What the filter bar sends. Every field is optional; bad values are dropped."""

    q = forms.CharField(required=False, max_length=200, label="Search prompts")
    author = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Author")
    status = forms.ChoiceField(
        required=False,
        label="Status",
        choices=[
            ("", "Any status"),
            ("in_progress", "In progress"),
            ("ready", "Ready"),
            ("failed", "Failed"),
        ],
    )
    review = forms.ChoiceField(
        required=False, label="Review", choices=[("", "Any review"), *ReviewStatus.choices]
    )
    aspect = forms.ChoiceField(
        required=False, label="Aspect ratio", choices=[("", "Any shape"), *AspectRatio.choices]
    )
    duration = forms.ChoiceField(
        required=False, label="Duration", choices=[("", "Any length"), *Duration.choices]
    )
    favourites = forms.BooleanField(required=False, label="Only my favourites")
    # Bounded: a day like 9999-12-31 is a valid date, but "the day after" is not.
    start = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}), validators=_DAYS
    )
    end = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}), validators=_DAYS
    )
    sort = forms.ChoiceField(
        required=False, label="Sort", choices=[("newest", "Newest first"), ("oldest", "Oldest first")]
    )

    def __init__(self, *args: Any, authors: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["author"].choices = [("", "Anyone")] + [
            (user.pk, user.get_full_name() or user.email) for user in authors
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "The end date is before the start date.")
        return data

    def filters(self) -> tuple[Filters, list[str]]:
        """The valid filters, and a plain message per ignored value."""
        self.is_valid()
        data = self.cleaned_data
        ignored = [
            f"{self.fields[name].label if name in self.fields else 'Filters'}: {' '.join(errors)}"
            for name, errors in self.errors.items()
        ]
        filters = Filters(
            q=(data.get("q") or "").strip(),
            author=data.get("author"),
            status=data.get("status") or "",
            review=data.get("review") or "",
            aspect=data.get("aspect") or "",
            duration=data.get("duration") or "",
            favourites=bool(data.get("favourites")),
            start=data.get("start"),
            end=data.get("end") if "end" in data else None,
            sort=data.get("sort") or "newest",
        )
        return filters, ignored

    @cached_property
    def bar(self) -> dict[str, Any]:
        """What the filter bar shows: the values as sent, and each select's options.

        gallery_filters.html draws the inputs from this by hand: Django's widget
        rendering (a template per option) cost about 2 ms a page for these fields.
        """
        raw = {name: self.data.get(name, "") if self.is_bound else "" for name in self.fields}
        shown: dict[str, Any] = {name: raw[name] for name in ("q", "start", "end")}
        shown["favourites"] = bool(self.is_valid() and self.cleaned_data.get("favourites"))
        for name in ("sort", "author", "status", "review", "aspect", "duration"):
            shown[name] = [
                (str(value), label, str(value) == raw[name]) for value, label in self.fields[name].choices
            ]
        return shown


class TaskIdForm(forms.Form):
    """A provider task id a team admin found for a generation whose outcome is unknown."""

    task_id = forms.CharField(
        max_length=100,
        strip=True,
        label="Provider task id",
        widget=forms.TextInput(
            attrs={"placeholder": "task-unified-…", "autocomplete": "off", "spellcheck": "false"}
        ),
        error_messages={"required": "Paste the task id from the provider's dashboard."},
    )
