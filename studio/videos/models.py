from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import Storage
from django.db import connections, models, transaction
from django.db.models import F, Q
from django.db.models.expressions import Expression
from django.db.models.functions import Lower
from django.db.models.lookups import In
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from studio.accounts.models import Team


class Duration(models.TextChoices):
    AUTO = "auto", _("Auto")
    S3 = "3", _("3 s")
    S4 = "4", _("4 s")
    S5 = "5", _("5 s")
    S6 = "6", _("6 s")
    S7 = "7", _("7 s")
    S8 = "8", _("8 s")
    S9 = "9", _("9 s")
    S10 = "10", _("10 s")


class AspectRatio(models.TextChoices):
    LANDSCAPE = "16:9", _("16:9 landscape")
    PORTRAIT = "9:16", _("9:16 portrait")
    AUTO = "auto", _("Auto")


class Status(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SUBMITTING = "submitting", _("Submitting")
    PENDING = "pending", _("Pending")
    PROCESSING = "processing", _("Processing")
    DOWNLOADING = "downloading", _("Saving video")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Link expired")
    UNKNOWN = "unknown", _("Outcome unknown")


IN_FLIGHT = (Status.QUEUED, Status.SUBMITTING, Status.PENDING, Status.PROCESSING, Status.DOWNLOADING)
# Submitted and not finished at the provider: the statuses that are polled.
POLLED = (Status.PENDING, Status.PROCESSING)


class Derivation(models.TextChoices):
    """How a generation was made from its parent, if it has one."""

    NEW = "", _("New prompt")
    REGENERATED = "regenerated", _("Regenerated")
    REMIXED = "remixed", _("Remixed")


class ReviewStatus(models.TextChoices):
    IN_REVIEW = "in_review", _("In review")
    APPROVED = "approved", _("Approved")
    CHANGES_REQUESTED = "changes_requested", _("Changes requested")
    REJECTED = "rejected", _("Rejected")


def new_claim_version() -> int:
    """A claim's token: random rather than counted, so that one update can claim many rows
    and then find exactly the rows it claimed (`services.sweep` does for its polls)."""
    return secrets.randbits(62) + 1


def video_upload_to(generation: Generation, filename: str) -> str:
    return f"teams/{generation.team.code}/videos/{generation.code}.mp4"


def poster_upload_to(generation: Generation, filename: str) -> str:
    return f"teams/{generation.team.code}/posters/{generation.code}.jpg"


def file_storage() -> Storage:
    """Where videos and posters live: the storage of the file fields (storages["default"])."""
    return Generation._meta.get_field("video").storage


class Generation(models.Model):
    """One prompt sent (or about to be sent) to the provider, and its video.

    The row is the truth about the work: background tasks read it, claim it
    with a conditional update and move it on, so a task that runs twice or
    dies halfway never makes a second video: a create is only ever sent again
    with the same idempotency key, which the provider answers with the first task.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="generations")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="generations"
    )
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)
    # "Regenerate" and "Remix" keep a link to the generation they came from, and say which it was.
    parent = models.ForeignKey("self", models.SET_NULL, null=True, blank=True, related_name="versions")
    derivation = models.CharField(max_length=12, choices=Derivation.choices, blank=True, default="")
    # The versions of one video: a random id shared by a generation and everything
    # regenerated or remixed from it (or from them), set once on create (a new prompt
    # draws a new one, a version copies its parent's). Not a foreign key: deleting the
    # first version keeps the others together, and the gallery stacks a lineage with
    # one indexed look-up per card instead of walking parents.
    lineage = models.UUIDField(default=uuid.uuid4, editable=False)

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
    # When a create was last sent (with the generation's code as its idempotency key).
    submit_attempted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)  # the provider said completed
    ready_at = models.DateTimeField(null=True, blank=True)  # the file is in our storage
    next_poll_at = models.DateTimeField(null=True, blank=True)
    poll_count = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)  # transient failures in a row
    # A worker that claims the row owns it until then; a dead worker's claim lapses.
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Set to a fresh random number by every claim: the claim's fencing token. A
    # holder's writes require it unchanged, so a worker whose claim lapsed and
    # was taken over writes nothing; a comment or a review (which move
    # `updated`) does not disturb it.
    claim_version = models.BigIntegerField(default=0)
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
            # For the live refresh: did any row of the team move since (gallery.nothing_changed).
            models.Index(fields=["team", "updated"], name="gen_team_updated"),
            models.Index(fields=["status", "next_poll_at"], name="gen_status_poll"),
            models.Index(fields=["task_id"], name="gen_task_id"),
            # The gallery's stacks: "is there a newer version" and "how many versions" per card.
            models.Index(fields=["lineage", "created", "id"], name="gen_lineage"),
            # The rows one claim took (Generation.claim_polls): many at once.
            models.Index(fields=["claim_version"], name="gen_claim_version"),
        ]

    def __str__(self) -> str:
        return f"{self.compiled_prompt[:40]} ({self.status})"

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    # One-row state changes. Each is a conditional update that moves the row on
    # only from the state (and, for a claimant, the claim) it expects, and says
    # whether it did: a worker that lost the row to another, or a task run
    # twice, changes nothing.

    def _move(self, condition: Q, **fields: object) -> bool:
        fields["updated"] = timezone.now()
        if Generation.objects.filter(condition, pk=self.pk).update(**fields) != 1:
            return False
        for name, value in fields.items():
            setattr(self, name, value)
        return True

    def _held(self) -> Q:
        """Still ours: no claim has been made since the one we made (or read)."""
        return Q(claim_version=self.claim_version)

    def claim(
        self,
        *,
        statuses: Iterable[str],
        seconds: float,
        to_status: str | None = None,
        now: datetime | None = None,
        **fields: object,
    ) -> bool:
        """Take the row for one unit of work if nobody holds it and nobody claimed it since it was read.

        Every step that moves an in-flight row on holds a claim, so an
        unchanged `claim_version` means no step moved it since we read it:
        what we read is what we hold (no second read needed).
        """
        now = now or timezone.now()
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        fields["claimed_until"] = now + timedelta(seconds=seconds)
        fields["claim_version"] = new_claim_version()
        if to_status:
            fields["status"] = to_status
        return self._move(Q(status__in=list(statuses)) & self._held() & free, **fields)

    def mark_submitted(
        self,
        *,
        task_id: str,
        status: str,
        progress: int,
        estimated_time: int | None,
        usage: dict,
        raw: dict,
        next_poll_at: datetime,
    ) -> bool:
        """The provider took the create. Also recorded over "unknown": the id settles the doubt."""
        return self._move(
            Q(status__in=[Status.SUBMITTING, Status.UNKNOWN], task_id=""),
            status=status,
            progress=progress,
            task_id=task_id,
            provider_estimated_time=estimated_time,
            submitted_at=timezone.now(),
            usage=usage,
            provider_task=raw,
            next_poll_at=next_poll_at,
            claimed_until=None,
            attempts=0,
            error_code="",
            error_type="",
            error_message="",
        )

    def claim_poll(self, *, next_poll_at: datetime, now: datetime | None = None) -> bool:
        """Take the row for a poll, as `claim_polls` does for many: see there."""
        now = now or timezone.now()
        return self.claim(
            statuses=POLLED,
            seconds=(next_poll_at - now).total_seconds(),
            now=now,
            next_poll_at=next_poll_at,
            poll_count=self.poll_count + 1,
        )

    @classmethod
    def claim_polls(cls, *, pks: Iterable[int], free: Q, next_poll_at: Expression) -> int:
        """Claim for a poll, in one update, each of these rows that is still polled and `free`.

        Returns the claim's version: the rows claimed are
        `filter(claim_version=version)`. The claim counts the poll and schedules
        the next one (`next_poll_at`, an expression of `poll_count`: the
        backoff), and lasts until then: a poll that finds nothing new has
        nothing left to write, and a poll that dies leaves the row due at its
        next poll. A poll slower than that (a provider taking longer than the
        poll interval to answer) may meet another worker's poll of the same
        row; the fence keeps the slower one's writes out.
        """
        version = new_claim_version()
        # The status through a function: SQLite, which keeps no statistics, would otherwise
        # walk the status index (every polled row) rather than fetch these few rows by id.
        polled = In(Lower("status"), list(POLLED))
        cls.objects.filter(polled, free, pk__in=list(pks)).update(
            claim_version=version,
            poll_count=F("poll_count") + 1,
            next_poll_at=next_poll_at,
            claimed_until=next_poll_at,
        )
        return version

    def progress_changes(self, *, status: str, progress: int, usage: dict, raw: dict) -> dict[str, object]:
        """What a poll that found the task still under way changes in the row: nothing, when nothing is new."""
        fields: dict[str, object] = {
            "status": status,
            "progress": max(progress, self.progress) if status == self.status else progress,
            "usage": usage or self.usage,
            "provider_task": raw,
            "attempts": 0,
            "error_message": "",
        }
        return {name: value for name, value in fields.items() if getattr(self, name) != value}

    def mark_progress(self, *, status: str, progress: int, usage: dict, raw: dict) -> bool:
        """A poll (whose claim we hold) saw the task still pending or processing: write what changed.

        The claim already counted the poll and scheduled the next one, so an
        unchanged task writes nothing (and says True).
        """
        changes = self.progress_changes(status=status, progress=progress, usage=usage, raw=raw)
        return not changes or self._move(self._held() & Q(status__in=POLLED), **changes)

    @classmethod
    def record_progress(cls, rows: list[Generation], *, claim_version: int) -> None:
        """Write the progress of many polled rows of one claim (`progress_changes` applied to each).

        The `mark_progress` of many rows, fenced on the claim the same way (a
        row another worker took over meanwhile stays as that worker has it), in
        one transaction: one UPDATE statement sent with the values of each row
        (executemany). `bulk_update` would build a CASE expression per field
        and row, which cost most of a 10,000-poll sweep (bench/README.md).
        """
        db = connections[cls.objects.db]
        usage, task = cls._meta.get_field("usage"), cls._meta.get_field("provider_task")
        now = timezone.now()
        updated = cls._meta.get_field("updated").get_db_prep_save(now, db)
        quote = db.ops.quote_name
        sql = (
            f"UPDATE {quote(cls._meta.db_table)} SET status = %s, progress = %s, usage = %s, "  # noqa: S608
            "provider_task = %s, attempts = 0, error_message = '', updated = %s "
            "WHERE id = %s AND claim_version = %s AND status IN (%s, %s)"
        )
        params = []
        for row in rows:
            row.updated = now
            json = usage.get_db_prep_save(row.usage, db), task.get_db_prep_save(row.provider_task, db)
            params.append((row.status, row.progress, *json, updated, row.pk, claim_version, *POLLED))
        with transaction.atomic(using=db.alias), db.cursor() as cursor:
            cursor.executemany(sql, params)

    def mark_completed(
        self,
        *,
        result_url: str,
        usage: dict,
        raw: dict,
        claim_seconds: float | None,
        save_by: datetime | None = None,
    ) -> bool:
        """The provider finished: the row is now to be saved ("downloading").

        With `claim_seconds` the claim is kept and the caller goes straight on to
        saving the file (its first attempt, counted now). Without, the row is left
        unclaimed for a saving stage, which claims it (and counts the attempt) when
        the save starts; `save_by` is when any sweep may take it on instead.
        """
        now = timezone.now()
        held = claim_seconds is not None
        return self._move(
            self._held() & Q(status__in=[Status.PENDING, Status.PROCESSING]),
            status=Status.DOWNLOADING,
            progress=100,
            result_url=result_url,
            completed_at=now,
            usage=usage or self.usage,
            provider_task=raw,
            poll_count=self.poll_count + 1,
            next_poll_at=None if held else (save_by or now),
            claimed_until=now + timedelta(seconds=claim_seconds) if held else None,
            # Downloads count an attempt as it starts, so a killed one counts too.
            attempts=1 if held else 0,
            error_message="",
        )

    def mark_ready(self, *, video: str, poster: str, info: dict) -> bool:
        """The file is complete in storage and really is a video.

        False when the row is gone or no longer downloading (deleted, or saved
        by another worker): the caller then removes what it placed.
        """
        return self._move(
            Q(status=Status.DOWNLOADING),
            status=Status.READY,
            video=video,
            poster=poster,
            ready_at=timezone.now(),
            claimed_until=None,
            next_poll_at=None,
            attempts=0,
            error_code="",
            error_type="",
            error_message="",
            **info,
        )

    def retry_later(
        self, *, status: str, next_poll_at: datetime, message: str = "", counted: bool = True
    ) -> bool:
        """A transient failure: release the claim, count it (unless not `counted`), and come back at next_poll_at."""
        return self._move(
            self._held(),
            status=status,
            attempts=self.attempts + 1 if counted else self.attempts,
            next_poll_at=next_poll_at,
            claimed_until=None,
            error_message=message,
        )

    def retry_download(self, *, next_poll_at: datetime, message: str) -> bool:
        """A download failed but may work later; it was counted when claimed. Releases the claim."""
        return self._move(
            self._held() & Q(status=Status.DOWNLOADING),
            next_poll_at=next_poll_at,
            claimed_until=None,
            error_message=message,
        )

    def mark_failed(self, *, message: str, code: str = "", type: str = "") -> bool:
        return self._fail(Q(status__in=IN_FLIGHT), message=message, code=code, type=type)

    def _fail(self, condition: Q, *, message: str, code: str, type: str) -> bool:
        return self._move(
            condition,
            status=Status.FAILED,
            error_code=code[:100],
            error_type=type[:100],
            error_message=message,
            claimed_until=None,
            next_poll_at=None,
        )

    def mark_expired(self) -> bool:
        """The provider's 24-hour result link ran out before the file was saved.

        Only for a link that is that old (see services._store): a younger one that
        answers 404 is a missing file, not an expired link.
        """
        return self._move(
            Q(status__in=[Status.PENDING, Status.PROCESSING, Status.DOWNLOADING]),
            status=Status.EXPIRED,
            error_code="result_expired",
            error_message=(
                "The provider's download link expired (links last 24 hours) before the studio saved "
                "the video. Generate it again to get a new one."
            ),
            claimed_until=None,
            next_poll_at=None,
        )

    def mark_unknown(self, *, message: str) -> bool:
        """A create may or may not have reached the provider, and the studio will not ask again.

        Only a person settles it now, by pasting the provider's task id (`mark_submitted`).
        """
        return self._move(
            Q(status=Status.SUBMITTING, task_id=""),
            status=Status.UNKNOWN,
            error_code="outcome_unknown",
            error_message=message,
            claimed_until=None,
            next_poll_at=None,
        )

    def await_resend(self, *, next_poll_at: datetime, message: str) -> bool:
        """A create's outcome is unknown: release it to be sent again, with the same key, at next_poll_at.

        It stays `submitting` (in flight): the answer to the same create settles it.
        """
        return self._move(
            self._held() & Q(status=Status.SUBMITTING, task_id=""),
            attempts=self.attempts + 1,
            error_code="outcome_unknown",
            error_message=message,
            claimed_until=None,
            next_poll_at=next_poll_at,
        )

    def mark_refused(self, *, message: str, code: str = "", type: str = "") -> bool:
        """Our create was refused: failed, unless the row moved on meanwhile (another sender's answer)."""
        return self._fail(
            self._held() & Q(status=Status.SUBMITTING, task_id=""), message=message, code=code, type=type
        )


class Comment(models.Model):
    """A note on a video: about the whole clip, a moment (at) or a range (at to end), maybe drawn on.

    Replies hang off a top-level comment (one level: a reply to a reply is a
    reply to its thread). A thread is resolved as a whole.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    generation = models.ForeignKey(Generation, models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+")
    parent = models.ForeignKey("self", models.CASCADE, null=True, blank=True, related_name="replies")
    body = models.TextField()
    # Seconds into the video the comment is about, if any; a range ends at end_seconds.
    at_seconds = models.FloatField(null=True, blank=True)
    end_seconds = models.FloatField(null=True, blank=True)
    # Shapes drawn on the frame at at_seconds, in 0-1 coordinates of the frame
    # (review.clean_drawing says what is allowed); [] when nothing is drawn.
    drawing = models.JSONField(default=list, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    edited = models.DateTimeField(null=True, blank=True)
    # Moves on with every change (edit, resolve, reply): the comments' version on a video page.
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return self.body[:40]

    @property
    def is_range(self) -> bool:
        return self.at_seconds is not None and self.end_seconds is not None


class ReviewEvent(models.Model):
    """One change of a generation's review status: who, when, to what."""

    generation = models.ForeignKey(Generation, models.CASCADE, related_name="review_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+")
    status = models.CharField(max_length=20, choices=ReviewStatus.choices)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.status} at {self.created:%Y-%m-%d %H:%M}"


class Favourite(models.Model):
    generation = models.ForeignKey(Generation, models.CASCADE, related_name="favourites")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="favourites")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["generation", "user"], name="one_favourite_per_person")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} likes {self.generation_id}"
