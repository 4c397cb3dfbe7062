from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from studio.accounts.models import Team


class Duration(models.TextChoices):
    AUTO = "auto", "Auto"
    S3 = "3", "3 s"
    S4 = "4", "4 s"
    S5 = "5", "5 s"
    S6 = "6", "6 s"
    S7 = "7", "7 s"
    S8 = "8", "8 s"
    S9 = "9", "9 s"
    S10 = "10", "10 s"


class AspectRatio(models.TextChoices):
    LANDSCAPE = "16:9", "16:9 landscape"
    PORTRAIT = "9:16", "9:16 portrait"
    AUTO = "auto", "Auto"


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    SUBMITTING = "submitting", "Submitting"
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    DOWNLOADING = "downloading", "Saving video"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Link expired"
    UNKNOWN = "unknown", "Outcome unknown"


IN_FLIGHT = (Status.QUEUED, Status.SUBMITTING, Status.PENDING, Status.PROCESSING, Status.DOWNLOADING)
FINISHED = (Status.READY, Status.FAILED, Status.EXPIRED, Status.UNKNOWN)


class ReviewStatus(models.TextChoices):
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    REJECTED = "rejected", "Rejected"


def video_upload_to(generation: Generation, filename: str) -> str:
    return f"teams/{generation.team.code}/videos/{generation.code}.mp4"


def poster_upload_to(generation: Generation, filename: str) -> str:
    return f"teams/{generation.team.code}/posters/{generation.code}.jpg"


class Generation(models.Model):
    """One prompt sent (or about to be sent) to the provider, and its video.

    The row is the truth about the work: background tasks read it, claim it
    with a conditional update and move it on, so a task that runs twice or
    dies halfway never sends a create twice.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="generations")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="generations"
    )
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)
    # "Regenerate" keeps a link to the generation it came from.
    parent = models.ForeignKey("self", models.SET_NULL, null=True, blank=True, related_name="versions")

    # What the person wrote and chose.
    prompt = models.TextField(help_text="The main prompt text, as typed.")
    parts = models.JSONField(default=dict, blank=True)  # subject, action, scene, camera, light, sound
    negatives = models.JSONField(default=list, blank=True)  # keys of the negative toggles
    negative_text = models.TextField(blank=True, default="")
    language = models.CharField(max_length=2, default="en")  # "en" or "zh"
    compiled_prompt = models.TextField(help_text="Exactly what was sent as `prompt`.")
    duration = models.CharField(max_length=4, choices=Duration.choices, default=Duration.S5)
    aspect_ratio = models.CharField(max_length=4, choices=AspectRatio.choices, default=AspectRatio.LANDSCAPE)
    estimated_tokens = models.PositiveIntegerField(default=0)
    estimated_usd = models.DecimalField(max_digits=8, decimal_places=3, default=0)

    # Where the work stands.
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    task_id = models.CharField(max_length=100, blank=True, default="")
    provider_estimated_time = models.PositiveIntegerField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)  # the provider said completed
    ready_at = models.DateTimeField(null=True, blank=True)  # the file is in our storage
    next_poll_at = models.DateTimeField(null=True, blank=True)
    poll_count = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)  # transient failures in a row
    # A worker that claims the row owns it until then; a dead worker's claim lapses.
    claimed_until = models.DateTimeField(null=True, blank=True)
    callback_token_hash = models.CharField(max_length=64, blank=True, default="")
    error_code = models.CharField(max_length=100, blank=True, default="")
    error_type = models.CharField(max_length=100, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    result_url = models.TextField(blank=True, default="")
    usage = models.JSONField(default=dict, blank=True)
    provider_task = models.JSONField(default=dict, blank=True)  # the last task object, whole

    # The stored video and what it really is.
    video = models.FileField(upload_to=video_upload_to, blank=True, max_length=255)
    poster = models.FileField(upload_to=poster_upload_to, blank=True, max_length=255)
    video_bytes = models.BigIntegerField(null=True, blank=True)
    video_width = models.PositiveIntegerField(null=True, blank=True)
    video_height = models.PositiveIntegerField(null=True, blank=True)
    video_duration = models.FloatField(null=True, blank=True)
    video_fps = models.FloatField(null=True, blank=True)
    video_has_audio = models.BooleanField(null=True, blank=True)

    # Review.
    review_status = models.CharField(
        max_length=20, choices=ReviewStatus.choices, default=ReviewStatus.IN_REVIEW
    )

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["team", "-created", "-id"], name="gen_team_newest"),
            models.Index(fields=["status", "next_poll_at"], name="gen_status_poll"),
            models.Index(fields=["task_id"], name="gen_task_id"),
        ]

    def __str__(self) -> str:
        return f"{self.compiled_prompt[:40]} ({self.status})"

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT


class Comment(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    generation = models.ForeignKey(Generation, models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+")
    body = models.TextField()
    # Seconds into the video the comment is about, if any.
    at_seconds = models.FloatField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    edited = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created", "id"]


class ReviewEvent(models.Model):
    """One change of a generation's review status: who, when, to what."""

    generation = models.ForeignKey(Generation, models.CASCADE, related_name="review_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+")
    status = models.CharField(max_length=20, choices=ReviewStatus.choices)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]


class Favourite(models.Model):
    generation = models.ForeignKey(Generation, models.CASCADE, related_name="favourites")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="favourites")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["generation", "user"], name="one_favourite_per_person")]
