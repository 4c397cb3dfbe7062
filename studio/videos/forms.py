from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from studio.videos import prompting
from studio.videos.gallery import Filters
from studio.videos.models import AspectRatio, Duration, Generation, ReviewStatus

DEFAULT_DURATION = Duration.S5.value
DEFAULT_ASPECT_RATIO = AspectRatio.LANDSCAPE.value

# Examples in the interface's language: they show what to write, and any language may be written.
PART_PLACEHOLDERS = {
    "subject": gettext_lazy("a red fox with a frost-tipped tail"),
    "action": gettext_lazy("leaps over a frozen stream, then looks back at the camera"),
    "scene": gettext_lazy("a snowy birch forest at dawn"),
    "camera": gettext_lazy("slow dolly-in at eye level, shallow depth of field"),
    "light": gettext_lazy("soft golden backlight, 35 mm film grain"),
    "sound": gettext_lazy("ambient only: wind in the trees, crunching snow"),
}


class ComposeForm(forms.Form):
    """The composer: a main prompt, optional helpers, negatives, duration and shape."""

    prompt = forms.CharField(
        required=False,
        strip=True,
        widget=forms.Textarea(
            attrs={
                "rows": 5,
                "placeholder": gettext_lazy(
                    "A red fox leaps over a frozen stream in a snowy birch forest at dawn, "
                    "slow dolly-in, soft golden light."
                ),
            }
        ),
    )
    subject = forms.CharField(
        required=False, max_length=prompting.MAX_PART_CHARS, label=prompting.PART_LABELS["subject"]
    )
    action = forms.CharField(
        required=False, max_length=prompting.MAX_PART_CHARS, label=prompting.PART_LABELS["action"]
    )
    scene = forms.CharField(
        required=False, max_length=prompting.MAX_PART_CHARS, label=prompting.PART_LABELS["scene"]
    )
    camera = forms.CharField(
        required=False, max_length=prompting.MAX_PART_CHARS, label=prompting.PART_LABELS["camera"]
    )
    light = forms.CharField(
        required=False, max_length=prompting.MAX_PART_CHARS, label=prompting.PART_LABELS["light"]
    )
    sound = forms.CharField(
        required=False, max_length=prompting.MAX_PART_CHARS, label=prompting.PART_LABELS["sound"]
    )
    negatives = forms.MultipleChoiceField(
        required=False,
        choices=list(prompting.NEGATIVE_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": gettext_lazy("“%(value)s” is not one of the negatives on offer.")},
    )
    negative_text = forms.CharField(
        required=False,
        max_length=prompting.MAX_PART_CHARS,
        label=gettext_lazy("Other things to avoid"),
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": gettext_lazy("No snow falling on the lens")}),
    )
    duration = forms.ChoiceField(
        # Seconds first, auto last: most people pick a length.
        choices=[c for c in Duration.choices if c[0] != Duration.AUTO]
        + [(Duration.AUTO, gettext_lazy("Auto"))],
        initial=DEFAULT_DURATION,
        widget=forms.RadioSelect,
        error_messages={
            "required": gettext_lazy("Choose a duration."),
            "invalid_choice": gettext_lazy("Choose a duration of 3 to 10 seconds, or auto."),
        },
    )
    aspect_ratio = forms.ChoiceField(
        choices=AspectRatio.choices,
        initial=DEFAULT_ASPECT_RATIO,
        widget=forms.RadioSelect,
        error_messages={
            "required": gettext_lazy("Choose an aspect ratio."),
            "invalid_choice": gettext_lazy("Choose 16:9, 9:16 or auto."),
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
                self.add_error("prompt", _("Write a prompt, or fill in at least one of the helpers below."))
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
                _(
                    "The prompt to send is %(length)s characters; the limit is %(limit)s. Shorten it by %(over)s."
                )
                % {
                    "length": f"{len(compiled):,}",
                    "limit": f"{prompting.MAX_PROMPT_CHARS:,}",
                    "over": f"{over:,}",
                },
            )
        return data

    @property
    def part_fields(self) -> list[forms.BoundField]:
        return [self[key] for key in prompting.PARTS]


# --- The gallery's filter bar ----------------------------------------------------

_DAYS = [
    MinValueValidator(dt.date(2000, 1, 1), gettext_lazy("Choose a day in 2000 or later.")),
    MaxValueValidator(dt.date(2999, 12, 31), gettext_lazy("Choose a day before the year 3000.")),
]


class GalleryFilterForm(forms.Form):
    """What the filter bar sends. Every field is optional; bad values are dropped."""

    q = forms.CharField(required=False, max_length=200, label=gettext_lazy("Search prompts"))
    author = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label=gettext_lazy("Author")
    )
    status = forms.ChoiceField(
        required=False,
        label=gettext_lazy("Status"),
        choices=[
            ("", gettext_lazy("Any status")),
            ("in_progress", gettext_lazy("In progress")),
            ("ready", gettext_lazy("Ready")),
            ("failed", gettext_lazy("Failed")),
        ],
    )
    review = forms.ChoiceField(
        required=False,
        label=pgettext_lazy("noun", "Review"),
        choices=[("", gettext_lazy("Any review")), *ReviewStatus.choices],
    )
    aspect = forms.ChoiceField(
        required=False,
        label=gettext_lazy("Aspect ratio"),
        choices=[("", gettext_lazy("Any shape")), *AspectRatio.choices],
    )
    duration = forms.ChoiceField(
        required=False,
        label=gettext_lazy("Duration"),
        choices=[("", gettext_lazy("Any length")), *Duration.choices],
    )
    favourites = forms.BooleanField(required=False, label=gettext_lazy("Only my favourites"))
    # Bounded: a day like 9999-12-31 is a valid date, but "the day after" is not.
    start = forms.DateField(
        required=False,
        label=pgettext_lazy("date range", "From"),
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=_DAYS,
    )
    end = forms.DateField(
        required=False,
        label=pgettext_lazy("date range", "To"),
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=_DAYS,
    )
    sort = forms.ChoiceField(
        required=False,
        label=gettext_lazy("Sort"),
        choices=[("newest", gettext_lazy("Newest first")), ("oldest", gettext_lazy("Oldest first"))],
    )

    def __init__(self, *args: Any, authors: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["author"].choices = [("", _("Anyone"))] + [
            (user.pk, user.get_full_name() or user.email) for user in authors
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", _("The end date is before the start date."))
        return data

    def filters(self) -> tuple[Filters, list[str]]:
        """The valid filters, and a plain message per ignored value."""
        self.is_valid()
        data = self.cleaned_data
        ignored = [
            f"{self.fields[name].label if name in self.fields else _('Filters')}: {' '.join(errors)}"
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
        label=gettext_lazy("Provider task id"),
        widget=forms.TextInput(
            attrs={"placeholder": "task-unified-…", "autocomplete": "off", "spellcheck": "false"}
        ),
        error_messages={"required": gettext_lazy("Paste the task id from the provider's dashboard.")},
    )
