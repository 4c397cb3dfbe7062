"""Work that spans models or calls the provider: creating, submitting, polling, storing.

Generation rows are the truth about the work. Every step claims its row with a
conditional update (`filter(pk=..., status=...).update(...)`, then checks the
count), so two workers never move the same generation and any step may run
twice. The sweep (`sweep`, run in a loop by `manage.py sweep`) polls what is due
and moves on what nobody is moving, so a process killed at any moment only
delays a generation.

Retries live in one layer, the rows: a transient failure is written back
(`attempts` + 1, `next_poll_at` later) and the sweep tries again when it is
due. The provider client is asked for no retries of its own (`max_retries=0`),
so a step never sleeps while it holds a worker or a claim, and a create whose
outcome is unknown is never repeated by the client.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import operator
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import reduce

import httpx
from django.conf import settings
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Case, DateTimeField, Min, Q, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext
from django_q.tasks import async_task

from studio.accounts.models import Team
from studio.videos import failures, keys, prompting, storage, wakeup
from studio.videos.evolink import MAX_BATCH, MODEL, EvolinkClient, EvolinkError, Task
from studio.videos.models import (
    POLLED,
    Derivation,
    Generation,
    Status,
    file_storage,
    poster_upload_to,
    video_upload_to,
)
from studio.videos.saving import SaveStage

log = logging.getLogger(__name__)

# A queued row's `next_poll_at` is when the sweep submits it: QUEUED_GRACE after
# it fell due. The submitter (studio.videos.submitter), woken at commit, sends it
# as soon as it is due; the sweep only takes on what no submitter did (a lost
# wake-up, a sweeper killed mid-way).
QUEUED_GRACE = timedelta(seconds=20)


def estimate_for(duration: str) -> prompting.Estimate:
    return prompting.estimate(
        duration=duration,
        tokens_per_second=settings.STUDIO_TOKENS_PER_SECOND,
        usd_per_1k_tokens=settings.STUDIO_USD_PER_1K_TOKENS,
    )


def callbacks_enabled() -> bool:
    """The provider can call us back only at a public https address (plain http in tests)."""
    public = settings.STUDIO_PUBLIC_URL
    if public.startswith("https://"):
        return True
    return bool(public.startswith("http://") and settings.STUDIO_CALLBACKS_ALLOW_HTTP)


@transaction.atomic
def create_generation(
    *,
    team: Team,
    author: User | None,
    draft: prompting.Draft,
    parent: Generation | None = None,
    derivation: str = Derivation.REGENERATED,
) -> Generation:
    """Store a generation with everything chosen, and wake the submitter at commit.

    The prompt stored (and later sent) is the draft's own compiled one: a
    composer's form already compiled it to check its length. With a parent
    (regenerated or remixed from it), it is a new version in the parent's lineage.
    """
    parts = {key: (draft.parts.get(key) or "").strip() for key in prompting.PARTS}
    cost = estimate_for(draft.duration)
    now = timezone.now()
    generation = Generation.objects.create(
        team=team,
        author=author,
        parent=parent,
        derivation=derivation if parent else Derivation.NEW,
        lineage=parent.lineage if parent else uuid.uuid4(),
        prompt=draft.prompt,
        parts={key: value for key, value in parts.items() if value},
        negatives=[key for key in prompting.NEGATIVES if key in draft.negatives],
        negative_text=draft.negative_text,
        language=draft.language,
        compiled_prompt=draft.compiled,
        duration=draft.duration,
        aspect_ratio=draft.aspect_ratio,
        estimated_tokens=cost.tokens,
        estimated_usd=cost.usd,
        status=Status.QUEUED,
        next_poll_at=now + QUEUED_GRACE,
    )
    # The submitter sends it at once (studio.videos.submitter); no worker queue in between.
    transaction.on_commit(wakeup.notify)
    return generation


def callback_token(generation: Generation) -> str:
    """The unguessable token in a generation's callback URL (only its sha256 hash is stored).

    Derived from the secret key rather than drawn at random, so a create sent
    again with the same idempotency key carries the very same body. After a
    secret-key rotation a generation already submitted keeps the token of the key
    it was made with (one of SECRET_KEY_FALLBACKS: the one whose hash is stored),
    so its callbacks, checked against that hash, and its re-sent create still match.
    """
    current = ""
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        digest = salted_hmac(
            "studio.videos.callback", str(generation.code), secret=secret, algorithm="sha256"
        )
        token = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
        if not generation.callback_token_hash or token_hash(token) == generation.callback_token_hash:
            return token
        current = current or token
    return current


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- The pipeline -----------------------------------------------------------------

MAX_FIRST_POLL = 10.0
MAX_POLL_INTERVAL = 30.0
MAX_SUBMIT_ATTEMPTS = 6
MAX_POLL_ATTEMPTS = 30
MAX_DOWNLOAD_ATTEMPTS = 8
# How long the provider may take before a generation is given up on.
MAX_GENERATION_TIME = timedelta(hours=3)
# Claims outlast the longest a step can take; a step that dies leaves a claim
# that lapses, and the sweep takes the row on from there. (A poll's claim lasts
# until its next poll: see Generation.claim_polls.)
# The provider's result links last this long; a younger link that answers 404 is a missing file.
RESULT_LINK_LIFETIME = timedelta(hours=24)
# Rows of a kind one pass takes on at most.
SWEEP_BATCH = 10_000
# Polls wait on the network, not the CPU: many threads, each with short work
# (and as many batch reads in flight at once).
DEFAULT_SWEEP_THREADS = 32
# A finished video handed to a saving stage (studio.videos.saving) is claimed when its save
# starts; if no save has started after this long (the process died), any sweep takes it on.
SAVE_HANDOFF_GRACE = timedelta(seconds=60)

# A create whose outcome is unknown is sent again (same key) only this long
# after the generation was made: a gateway's memory of keys is not for ever.
RESEND_WINDOW = timedelta(hours=1)
AWAITING_RESEND = (
    "The provider's answer to this prompt was lost. The studio will ask again with the same request "
    "key, which the provider answers with the video it already started rather than a second one."
)


def unknown_message(attempted_at: datetime | None, why: str = "") -> str:
    """What a person reads on a generation left "outcome unknown": when, and what to do."""
    when = f" at {timezone.localtime(attempted_at):%Y-%m-%d %H:%M:%S %Z}" if attempted_at else ""
    why = why or "lost the answer"
    return (
        f"Outcome unknown — may have been charged. The studio sent this prompt to the provider{when} and "
        f"{why}, so it cannot tell whether the video was started (and billed). It was not sent again: "
        "check the provider's dashboard; a team admin can paste the provider's task id here to fetch "
        "the video."
    )


def resend_interval() -> timedelta:
    return timedelta(seconds=settings.STUDIO_UNKNOWN_RETRY_SECONDS)


def submit_claim_seconds() -> int:
    if settings.STUDIO_IDEMPOTENT_CREATES:
        # A submit that outlives its claim only gets the same create sent again
        # with the same key, answered with the original task: the claim need
        # only cover one attempt, and a killed worker's create is resolved soon.
        return int(settings.EVOLINK_CONNECT_TIMEOUT + settings.EVOLINK_READ_TIMEOUT) + 5
    # A django-q task is killed after `timeout`; the claim lasts a little longer
    # so a live submit is never mistaken for a dead one.
    return int(settings.Q_CLUSTER.get("timeout", 300)) + 30


def download_claim_seconds() -> float:
    """A download ends by its deadline; probing, the poster and saving get two minutes more."""
    return (
        storage.download_seconds(settings.STUDIO_MAX_VIDEO_BYTES)
        + settings.STUDIO_DOWNLOAD_READ_TIMEOUT
        + 120
    )


def first_poll_delay(estimated_time: int | None) -> float:
    """Not before a few seconds, at most 10 s: half the provider's estimate in between."""
    minimum = float(settings.STUDIO_MIN_POLL_SECONDS)
    half = (estimated_time or 2 * MAX_FIRST_POLL) / 2
    return max(minimum, min(half, MAX_FIRST_POLL))


def next_poll_delay(poll_count: int, estimated_time: int | None = None) -> float:
    """After the first poll: 5 s, then backing off by half each time up to 30 s."""
    if poll_count <= 0:
        return first_poll_delay(estimated_time)
    minimum = float(settings.STUDIO_MIN_POLL_SECONDS)
    return max(minimum, min(MAX_POLL_INTERVAL, 5.0 * 1.5 ** (poll_count - 1)))


def next_polls(now: datetime) -> Case:
    """When a row polled now is next due, by its `poll_count` before this poll: as a database expression.

    The mirror of `next_poll_delay` for one update over many rows (Generation.claim_polls).
    """
    # The backoff reaches MAX_POLL_INTERVAL long before the 12th poll: from there on, the default.
    steps = [next_poll_delay(count + 1) for count in range(12)]
    at = [Value(now + timedelta(seconds=delay), output_field=DateTimeField()) for delay in steps]
    whens = [When(poll_count=count, then=value) for count, value in enumerate(at[:-1])]
    return Case(*whens, default=at[-1], output_field=DateTimeField())


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """Backoff for transient failures, honouring the provider's Retry-After."""
    delay = min(300.0, 5.0 * 2**attempts)
    if retry_after is not None:
        delay = max(delay, min(retry_after, 600.0))
    return delay * random.uniform(0.8, 1.2)


def _callback_url(generation: Generation, token: str) -> str:
    path = reverse("evolink_callback", kwargs={"rest": f"{generation.code}/{token}/"})
    return settings.STUDIO_PUBLIC_URL.rstrip("/") + path


def _get(generation_id: int) -> Generation | None:
    return Generation.objects.select_related("team").filter(pk=generation_id).first()


class _Clients:
    """One provider client per team for a sweep pass, shared by its threads (httpx is thread-safe)."""

    def __init__(self, connections: int = DEFAULT_SWEEP_THREADS, saver: SaveStage | None = None) -> None:
        self._lock = threading.Lock()
        # Where finished videos go to be saved, apart from the polls (None: saved in the poll's thread).
        self.saver = saver
        self._clients: dict[int, EvolinkClient] = {}
        self._connections = max(1, connections)
        # What the pass's batch reads answered for the polls left to their own unit
        # (`_poll_in_batches`), by task id: the task, or the error of its batch.
        self.read_ahead: dict[str, Task | EvolinkError] = {}

    def for_team(self, team: Team) -> EvolinkClient:
        with self._lock:
            if team.pk not in self._clients:
                # Keep a connection alive per thread (httpx keeps 20 by default).
                limits = httpx.Limits(
                    max_connections=self._connections, max_keepalive_connections=self._connections
                )
                self._clients[team.pk] = keys.client_for_team(
                    team, max_retries=0, transport=httpx.HTTPTransport(limits=limits, retries=0)
                )
            return self._clients[team.pk]

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


@contextlib.contextmanager
def _client(team: Team, clients: _Clients | None) -> Iterator[EvolinkClient]:
    """The sweep's shared client, or one for this step alone; never retrying (see the module)."""
    if clients is not None:
        yield clients.for_team(team)
        return
    with keys.client_for_team(team, max_retries=0) as client:
        yield client


def submit_generation(*, generation_id: int) -> bool:
    """Send a queued generation to the provider. Returns whether it did work.

    The claim (queued -> submitting) is the point of no return: from then on a
    create may have reached the provider, so it is only ever sent again with
    the same idempotency key (the sweep's `_resend`), or not at all when
    STUDIO_IDEMPOTENT_CREATES is off.
    """
    generation = _get(generation_id)
    return generation is not None and _submit(generation, None)


def _submit(
    generation: Generation,
    clients: _Clients | None,
    *,
    on_busy: Callable[[int, float | None], None] | None = None,
) -> bool:
    """The create of a queued generation; `on_busy(team id, retry_after)` hears of a 429 (the submitter)."""
    if generation.status != Status.QUEUED:
        return False
    now = timezone.now()
    if not generation.claim(
        statuses=[Status.QUEUED],
        to_status=Status.SUBMITTING,
        seconds=submit_claim_seconds(),
        callback_token_hash=token_hash(callback_token(generation)) if callbacks_enabled() else "",
        submit_attempted_at=now,
        # When a worker killed mid-create leaves the row, it is due for its re-send.
        next_poll_at=now + resend_interval(),
    ):
        return False
    try:
        task = _send_create(generation, clients)
    except EvolinkError as exc:
        if exc.outcome_unknown:
            log.warning("Generation %s: create outcome unknown (%s)", generation.code, exc)
            _outcome_unknown(generation, exc)
        elif exc.permanent:
            log.info("Generation %s: create refused (%s)", generation.code, exc)
            generation.mark_refused(
                message=exc.user_message, code=exc.code or str(exc.status or ""), type=exc.type
            )
        elif exc.status == 429:
            # Rate limited: nothing was created. It waits its turn again, without counting
            # as a failed try: the provider's limit slows a team's creates, it never fails them.
            if on_busy is not None:
                on_busy(generation.team_id, exc.retry_after)
            wait = min(max(exc.retry_after or 5.0, 0.5), 600.0) * random.uniform(1.0, 1.2)
            again_at = timezone.now() + timedelta(seconds=wait) + QUEUED_GRACE
            generation.retry_later(
                status=Status.QUEUED, next_poll_at=again_at, message=BUSY_MESSAGE, counted=False
            )
            _hold_team_creates(generation.team_id, until=again_at)
        elif generation.attempts + 1 >= MAX_SUBMIT_ATTEMPTS:
            generation.mark_refused(
                message="The provider could not be reached after several tries. "
                + exc.describe(retrying=False),
                code=exc.code or str(exc.status or ""),
                type=exc.type,
            )
        else:
            # Nothing was created (the client only says "retry" then): queue it again.
            log.info("Generation %s: create will be retried (%s)", generation.code, exc)
            generation.retry_later(
                status=Status.QUEUED,
                next_poll_at=timezone.now()
                + timedelta(seconds=retry_delay(generation.attempts, exc.retry_after))
                + QUEUED_GRACE,
                message=exc.user_message,
            )
        return True
    _created(generation, task, clients)
    return True


BUSY_MESSAGE = "The provider is busy right now; the studio sends this prompt as soon as it may."


def _hold_team_creates(team_id: int, *, until: datetime) -> int:
    """After a 429: the team's other queued rows wait as long, for every submitter and the sweep alike."""
    return Generation.objects.filter(
        Q(next_poll_at__isnull=True) | Q(next_poll_at__lt=until),
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=timezone.now()),
        team_id=team_id,
        status=Status.QUEUED,
    ).update(next_poll_at=until)


def _send_create(generation: Generation, clients: _Clients | None) -> Task:
    """The create, always the same for a generation: same body, and its code as the idempotency key."""
    token = callback_token(generation) if generation.callback_token_hash else ""
    with _client(generation.team, clients) as client:
        return client.create_task(
            prompt=generation.compiled_prompt,
            duration=generation.duration,
            aspect_ratio=generation.aspect_ratio,
            callback_url=_callback_url(generation, token) if token else None,
            idempotency_key=str(generation.code),
        )


def _outcome_unknown(generation: Generation, exc: EvolinkError) -> None:
    """The create may have made a task: ask again with the same key later, or leave it to a person."""
    if settings.STUDIO_IDEMPOTENT_CREATES:
        generation.await_resend(
            next_poll_at=generation.submit_attempted_at + resend_interval(), message=AWAITING_RESEND
        )
    else:
        generation.mark_unknown(message=unknown_message(generation.submit_attempted_at))


def _created(generation: Generation, task: Task, clients: _Clients | None) -> None:
    """The provider answered with the task (made now, or earlier for the same key): poll it from here."""
    status = task.status if task.status in (Status.PENDING, Status.PROCESSING) else Status.PENDING
    estimated = task.task_info.estimated_time
    if not generation.mark_submitted(
        task_id=task.id,
        status=status,
        progress=task.progress,
        estimated_time=estimated,
        usage=task.usage,
        raw=task.raw,
        next_poll_at=timezone.now() + timedelta(seconds=first_poll_delay(estimated)),
    ):
        # Another sender of the same create (same key, so the same task) was first.
        log.info("Generation %s: task %s was already recorded", generation.code, task.id)
        return
    how = "adopted (replayed for its key)" if task.replayed else "submitted"
    log.info("Generation %s %s as %s (estimated %ss)", generation.code, how, task.id, estimated)
    if task.is_finished:
        # Unusual but harmless: read it back properly at once.
        _poll(generation, clients)


def _resend(generation: Generation, clients: _Clients | None) -> bool:
    """One unit of recovery: the same create once more, with the same idempotency key.

    For a `submitting` row nobody holds (its answer was lost, or its worker
    died), at most once per STUDIO_UNKNOWN_RETRY_SECONDS. A gateway that made
    the task answers with it (`Idempotency-Replayed: true`) and the generation
    goes on as any other; one that never received the first create makes the
    task now, once. A key is never sent with a different create.
    """
    if generation.status != Status.SUBMITTING or generation.task_id or not generation.submit_attempted_at:
        return False
    now = timezone.now()
    if generation.claimed_until and generation.claimed_until > now:
        return False  # a live submit or re-send holds it
    if generation.next_poll_at and generation.next_poll_at > now:
        return False  # at most once per interval, whoever calls
    if not settings.STUDIO_IDEMPOTENT_CREATES:
        return _mark_abandoned(generation, clients)
    if now - generation.created > RESEND_WINDOW:
        return generation.mark_unknown(
            message=unknown_message(generation.submit_attempted_at, "could not get an answer for an hour")
        )
    if not generation.claim(
        statuses=[Status.SUBMITTING],
        seconds=submit_claim_seconds(),
        now=now,
        submit_attempted_at=now,
        next_poll_at=now + resend_interval(),
    ):
        return False
    log.info("Generation %s: sending the create again with the same key", generation.code)
    try:
        task = _send_create(generation, clients)
    except EvolinkError as exc:
        if exc.nothing_created:
            # The gateway refused it before dispatch, and so (same key, same
            # body) it refused or never saw the first one: nothing was made.
            generation.mark_refused(message=exc.user_message, code=exc.code, type=exc.type)
        elif exc.permanent and not exc.outcome_unknown:
            log.warning("Generation %s: the create sent again was refused (%s)", generation.code, exc)
            generation.mark_unknown(
                message=unknown_message(
                    generation.submit_attempted_at,
                    f"the provider refused it when asked again ({exc.message})",
                )
            )
        else:
            # Still no answer (or a busy provider): the next try comes after the interval.
            wait = max(resend_interval(), timedelta(seconds=min(exc.retry_after or 0, 600)))
            generation.await_resend(next_poll_at=now + wait, message=AWAITING_RESEND)
        return True
    _created(generation, task, clients)
    return True


_TASK_ID = re.compile(r"^task-unified-[A-Za-z0-9_-]{1,87}$")
# A task made this long before the generation cannot be its create.
ADOPT_CLOCK_SLACK = timedelta(minutes=5)


class AdoptRefused(Exception):
    """A pasted task id that cannot be this generation's; the message says why, for the form."""


def adopt_task(*, generation: Generation, task_id: str) -> Generation:
    """Settle an "outcome unknown" generation with the provider task a team admin found for it.

    The studio reads the task first and adopts it only if it exists and matches
    what the generation sent, where the task object says (model, prompt, when
    it was made); then it is polled, stored and billed like any other.
    """
    task_id = (task_id or "").strip()
    if generation.status != Status.UNKNOWN or generation.task_id:
        raise AdoptRefused(gettext("Only a generation whose outcome is unknown can take a task id."))
    if not _TASK_ID.match(task_id):
        raise AdoptRefused(gettext("A task id looks like task-unified-1757169743-7cvnl5zw; paste it whole."))
    if Generation.objects.filter(task_id=task_id).exclude(pk=generation.pk).exists():
        raise AdoptRefused(gettext("That task already belongs to another generation."))
    try:
        with _client(generation.team, None) as client:
            task = client.get_task(task_id)
    except EvolinkError as exc:
        if exc.status == 404:
            raise AdoptRefused(
                gettext(
                    "The provider does not know that task. Check that it was copied whole, from the "
                    "account this team's key belongs to."
                )
            ) from None
        raise AdoptRefused(
            gettext("The studio could not read that task: %(reason)s")
            % {"reason": failures.translate(exc.user_message)}
        ) from None
    if task.id != task_id:
        raise AdoptRefused(gettext("The provider answered for another task; nothing was changed."))
    if task.model and task.model != MODEL:
        raise AdoptRefused(
            gettext("That task was made with another model (%(model)s).") % {"model": task.model[:60]}
        )
    sent_prompt = task.raw.get("prompt")
    if isinstance(sent_prompt, str) and sent_prompt.strip() != generation.compiled_prompt.strip():
        raise AdoptRefused(gettext("That task was made from a different prompt than this generation."))
    if task.created and task.created < (generation.created - ADOPT_CLOCK_SLACK).timestamp():
        raise AdoptRefused(
            gettext("That task was made before this generation existed, so it cannot be its video.")
        )
    status = task.status if task.status in (Status.PENDING, Status.PROCESSING) else Status.PENDING
    if not generation.mark_submitted(
        task_id=task.id,
        status=status,
        progress=task.progress,
        estimated_time=task.task_info.estimated_time,
        usage=task.usage,
        raw=task.raw,
        next_poll_at=timezone.now(),  # read it properly at once: it may be done already
    ):
        raise AdoptRefused(gettext("This generation was settled meanwhile; nothing was changed."))
    log.info("Generation %s: a team admin adopted task %s", generation.code, task.id)
    pk = generation.pk
    transaction.on_commit(lambda: async_task("studio.videos.tasks.poll_generation", pk))
    transaction.on_commit(wakeup.notify)  # the sweeper, at rest, polls it at once too
    return generation


def poll_generation(*, generation_id: int) -> bool:
    """Ask the provider how a submitted generation is doing and move it on."""
    generation = _get(generation_id)
    return generation is not None and _poll(generation, None)


def _poll(generation: Generation, clients: _Clients | None) -> bool:
    if generation.status not in POLLED:
        return False
    now = timezone.now()
    next_poll_at = now + timedelta(seconds=next_poll_delay(generation.poll_count + 1))
    if not generation.claim_poll(next_poll_at=next_poll_at, now=now):
        return False
    return _poll_held(generation, clients)


def _poll_held(generation: Generation, clients: _Clients | None) -> bool:
    """The poll itself, for a generation whose claim we hold (its task read ahead by the pass, or now)."""
    now = timezone.now()
    answer = clients.read_ahead.pop(generation.task_id, None) if clients is not None else None
    if answer is None:
        try:
            with _client(generation.team, clients) as client:
                answer = client.get_task(generation.task_id)
        except EvolinkError as exc:
            answer = exc
    if isinstance(answer, EvolinkError):
        _poll_failed(generation, answer, now=now)
    else:
        _apply_task(generation, answer, now=now, clients=clients)
    return True


def _poll_failed(generation: Generation, exc: EvolinkError, *, now: datetime) -> None:
    if exc.status == 404:
        generation.mark_failed(
            message="The provider no longer knows this task, so its video cannot be fetched.",
            code="task_not_found",
            type=exc.type,
        )
    elif exc.permanent:
        generation.mark_failed(
            message=exc.user_message, code=exc.code or str(exc.status or ""), type=exc.type
        )
    elif generation.attempts + 1 >= MAX_POLL_ATTEMPTS:
        generation.mark_failed(
            message="The studio could not reach the provider for a long time and stopped asking. "
            + exc.describe(retrying=False),
            code=exc.code or str(exc.status or ""),
            type=exc.type,
        )
    else:
        generation.retry_later(
            status=generation.status,
            next_poll_at=now + timedelta(seconds=retry_delay(generation.attempts, exc.retry_after)),
        )


def _still_under_way(generation: Generation, task: Task, *, now: datetime) -> bool:
    """The task answered is this generation's, not finished, and not overdue: a progress to record."""
    overdue = generation.submitted_at and now - generation.submitted_at > MAX_GENERATION_TIME
    return task.id in ("", generation.task_id) and not task.is_finished and not overdue


def _progress(task: Task) -> dict:
    """The fields of Generation.mark_progress / progress_changes, from a task still under way."""
    status = Status.PROCESSING if task.status == "processing" else Status.PENDING
    return {"status": status, "progress": task.progress, "usage": task.usage, "raw": task.raw}


def _apply_task(
    generation: Generation, task: Task, *, now: datetime, clients: _Clients | None = None
) -> None:
    if _still_under_way(generation, task, now=now):
        generation.mark_progress(**_progress(task))
        return
    if task.id and task.id != generation.task_id:
        log.warning("Generation %s: the provider answered for another task; ignored", generation.code)
        generation.retry_later(status=generation.status, next_poll_at=now + timedelta(seconds=30))
        return
    if task.status == "completed":
        if not task.result_url:
            generation.mark_failed(
                message="The provider said the video is done but gave no file to download.",
                code="no_result",
            )
            return
        _completed(generation, task, clients)
        return
    if task.status in ("failed", "cancelled"):
        error = task.error
        if task.status == "cancelled":
            message = "The task was cancelled at the provider."
        else:
            reason = (error.message if error else "") or "no reason given"
            message = f"The provider could not make this video: {reason}"
        generation.mark_failed(
            message=message,
            code=(error.code if error else "") or task.status,
            type=error.type if error else "",
        )
        return
    generation.mark_failed(
        message="The provider did not finish this video within 3 hours; the studio stopped waiting.",
        code="timeout",
    )


def _completed(generation: Generation, task: Task, clients: _Clients | None) -> None:
    """Record a finished task and see its video saved: by the saving stage, or here and now.

    With a saving stage (the sweep's) the row is left due for saving, unclaimed, and handed
    over: the poll's thread is free at once, and the stage claims the row when the save
    starts. Without one (a django-q2 task's poll: a callback's, an adopted task's) it is
    saved in this thread, holding the claim mark_completed keeps.
    """
    saver = clients.saver if clients is not None else None
    if saver is None:
        if generation.mark_completed(
            result_url=task.result_url, usage=task.usage, raw=task.raw, claim_seconds=download_claim_seconds()
        ):
            _store(generation)
        return
    if generation.mark_completed(
        result_url=task.result_url,
        usage=task.usage,
        raw=task.raw,
        claim_seconds=None,
        save_by=timezone.now() + SAVE_HANDOFF_GRACE,
    ):
        saver.hand(generation)


def _store_due(generation: Generation, clients: _Clients | None) -> bool:
    """The sweep's store unit: hand the row to the saving stage, or save it here (no stage)."""
    saver = clients.saver if clients is not None else None
    if saver is None:
        return _store_again(generation)
    return generation.status == Status.DOWNLOADING and saver.hand(generation)


DOWNLOAD_GAVE_UP = "The studio could not save the finished video after {n} tries: {reason}"


def _store_again(generation: Generation) -> bool:
    """The sweep's store step: save (again) the video of a `downloading` row nobody holds."""
    if generation.status != Status.DOWNLOADING:
        return False
    # The attempt is counted as it is claimed, so one killed midway counts too.
    spent = generation.attempts >= MAX_DOWNLOAD_ATTEMPTS
    more = {} if spent else {"attempts": generation.attempts + 1}
    if not generation.claim(statuses=[Status.DOWNLOADING], seconds=download_claim_seconds(), **more):
        return False
    if spent:
        reason = "the last try stopped midway."
        generation.mark_failed(
            message=DOWNLOAD_GAVE_UP.format(n=generation.attempts, reason=reason), code="download_failed"
        )
        return True
    _store(generation)
    return True


def _tmp_name(generation: Generation) -> str:
    """Temporary files are named after the generation and its claim (see clean_tmp)."""
    return f"{generation.code}_{int(generation.claimed_until.timestamp() * 1_000_000)}"


def clean_tmp(*, now=None) -> int:
    """Remove temporary download files that no live claim could still be writing; returns how many.

    Cheap (a directory listing and, when it has files, one query): each store
    and each run of sweeps calls it, so a killed download leaves its files only
    until its claim lapses.
    """
    now = now or timezone.now()
    files_storage = file_storage()
    directory = storage.tmp_dir(files_storage)
    names = [path.name.split(".")[0] for path in directory.iterdir()] if directory.is_dir() else []
    if not names:
        return 0
    codes = set()
    for name in names:
        with contextlib.suppress(ValueError):
            codes.add(uuid.UUID(name.split("_")[0]))
    live = {
        _tmp_name(generation)
        for generation in Generation.objects.filter(
            code__in=codes, status=Status.DOWNLOADING, claimed_until__gt=now
        ).only("code", "claimed_until")
    }
    # A file listed only now was created after the query (a download that just
    # started): its claim was not read, so it stays until the next cleanup.
    listed = set(names)
    return storage.clean_tmp(files_storage, keep=lambda name: name in live or name not in listed)


def _store(generation: Generation) -> None:
    """Fetch, check and save the result of a generation whose download claim we hold.

    Whatever goes wrong ends in a retry (the attempt was counted when claimed)
    or, after the last one or when trying again cannot help, a failed row.
    """
    with contextlib.suppress(OSError):  # housekeeping must not stop the store
        clean_tmp()
    if not generation.result_url:
        generation.mark_failed(message="There is no file to download for this video.", code="no_result")
        return
    files_storage = file_storage()
    video_name, poster_name = (
        video_upload_to(generation, "video.mp4"),
        poster_upload_to(generation, "poster.jpg"),
    )
    try:
        stored = storage.store_result(
            generation.result_url,
            storage=files_storage,
            video_name=video_name,
            poster_name=poster_name,
            tmp_name=_tmp_name(generation),
            allow_private=keys.private_results_allowed(generation.team),
        )
    except storage.ResultGone as exc:
        now = timezone.now()
        if generation.completed_at and now - generation.completed_at >= RESULT_LINK_LIFETIME:
            generation.mark_expired()
        else:
            # Too young to have expired: a file not there yet (or not any more). Trying
            # again helps the first; the attempts bound the second.
            _download_failed(
                generation,
                reason=f"the provider's file could not be found at its download link (HTTP {exc.status}).",
            )
        return
    except storage.StorageError as exc:
        if exc.permanent:
            log.warning("Generation %s: the result was refused (%s)", generation.code, exc)
            generation.mark_failed(message=exc.user_message, code=type(exc).__name__)
        else:
            _download_failed(generation, reason=exc.user_message)
        return
    except Exception as exc:
        # Anything else (a storage backend down, a disk full, a bug): counted and retried like the rest.
        log.warning("Generation %s: saving the result failed", generation.code, exc_info=True)
        _download_failed(generation, reason=f"an unexpected error ({exc.__class__.__name__}).")
        return
    if not generation.mark_ready(video=stored.video, poster=stored.poster, info=stored.info.as_fields()):
        _remove_placed(generation, [stored.video, stored.poster])
        return
    # A killed earlier try may have left files at the usual names (storage then chose free ones).
    for name in {video_name, poster_name} - {stored.video, stored.poster}:
        files_storage.delete(name)
    log.info("Generation %s is ready", generation.code)


def _download_failed(generation: Generation, *, reason: str) -> None:
    if generation.attempts >= MAX_DOWNLOAD_ATTEMPTS:
        generation.mark_failed(
            message=DOWNLOAD_GAVE_UP.format(n=generation.attempts, reason=reason), code="download_failed"
        )
        return
    log.info("Generation %s: download will be retried (%s)", generation.code, reason)
    generation.retry_download(
        next_poll_at=timezone.now() + timedelta(seconds=retry_delay(generation.attempts - 1)),
        message=f"Saving the video failed: {reason} The studio will try again shortly.",
    )


def _remove_placed(generation: Generation, names: list[str]) -> None:
    """The row was deleted, or finished by another worker, while we saved: remove what it does not use."""
    row = Generation.objects.filter(pk=generation.pk).values("video", "poster").first()
    used = {row["video"], row["poster"]} if row else set()
    for name in set(names) - used:
        file_storage().delete(name)
    state = "deleted" if row is None else "finished elsewhere"
    log.info("Generation %s was %s while saving; the files saved for it are removed", generation.code, state)


# --- The sweep: one pass gives every due or abandoned generation one unit of work ----


def _mark_abandoned(generation: Generation, clients: _Clients | None) -> bool:
    """A submit that died after its claim, where it may not be re-sent: the create may have gone out.

    Rows sent before creates carried a key (no attempt time), or with STUDIO_IDEMPOTENT_CREATES off.
    """
    message = unknown_message(generation.submit_attempted_at, "stopped before the answer came")
    if not generation.mark_unknown(message=message):
        return False
    log.warning("Generation %s: submit died mid-way; marked unknown", generation.code)
    return True


# Stands in for "no time set" where due times are compared in the database.
_LONG_AGO = Value(datetime(2000, 1, 1, tzinfo=UTC), output_field=DateTimeField())


@dataclass(frozen=True)
class SweepKind:
    """One kind of work the sweep looks for: which rows, and the one-unit step for a row.

    A step claims its row with a conditional update, does one thing and returns
    whether it did; a row someone else took is simply not done. A row is due
    when nobody holds it and, if the kind `waits`, its `next_poll_at` (a first
    poll's delay, a backoff) has come. The polls are `batched`: the pass claims
    and reads them 50 at a time (`_poll_in_batches`), and only a poll with
    more to do than recording progress goes on to the step, holding its claim.
    """

    name: str
    rows: Q
    step: Callable[[Generation, _Clients], bool]
    waits: bool = True
    batched: bool = False

    def due(self, now: datetime) -> Q:
        return self.rows & self.free(now)

    def free(self, now: datetime) -> Q:
        """Nobody holds the row and, if the kind waits, its time has come (`due` without `rows`)."""
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        if self.waits:
            free &= Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now)
        return free

    def due_at(self) -> Coalesce | Greatest:
        """When a row of this kind falls due, as a database expression (the mirror of `due`)."""
        lapses = Coalesce("claimed_until", _LONG_AGO)
        return Greatest(Coalesce("next_poll_at", _LONG_AGO), lapses) if self.waits else lapses


POLL = SweepKind("poll", Q(status__in=POLLED), lambda g, clients: _poll_held(g, clients), batched=True)
SWEEP_KINDS: tuple[SweepKind, ...] = (
    SweepKind(
        "abandoned",
        Q(status=Status.SUBMITTING, task_id="", submit_attempted_at__isnull=True),
        _mark_abandoned,
        waits=False,
    ),
    # A create whose answer was lost, or whose worker died: the same create again, with the same key.
    SweepKind(
        "resend",
        Q(status=Status.SUBMITTING, task_id="", submit_attempted_at__isnull=False),
        lambda g, clients: _resend(g, clients),
    ),
    SweepKind("submit", Q(status=Status.QUEUED), lambda g, clients: _submit(g, clients)),
    # Polls are the bulk of the work: 50 cost a claim, a request and at most one write together.
    POLL,
    SweepKind("store", Q(status=Status.DOWNLOADING), _store_due),
)


@dataclass
class SweepReport:
    done: Counter[str] = field(default_factory=Counter)  # units that did work, by kind
    errors: int = 0  # units that raised
    seconds: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.done or self.errors)

    def __str__(self) -> str:
        done = ", ".join(f"{kind} {count}" for kind, count in sorted(self.done.items())) or "nothing"
        return f"{done}, errors {self.errors} in {self.seconds:.2f}s"


def _find_work(now: datetime) -> list[tuple[SweepKind, Generation]]:
    """The due rows of the kinds that are not batched, each a unit of work."""
    work: list[tuple[SweepKind, Generation]] = []
    for kind in SWEEP_KINDS:
        if not kind.batched:
            due = Generation.objects.filter(kind.due(now)).select_related("team")
            work += [(kind, generation) for generation in due.order_by("next_poll_at")[:SWEEP_BATCH]]
    return work


def _poll_batches(now: datetime) -> list[tuple[int, list[int]]]:
    """The due polls, longest due first, as (team id, row ids) batches: one batch read each."""
    due = Generation.objects.filter(POLL.due(now)).order_by("next_poll_at")
    by_team: dict[int, list[int]] = {}
    for team_id, pk in due.values_list("team_id", "pk")[:SWEEP_BATCH]:
        by_team.setdefault(team_id, []).append(pk)
    return [
        (team_id, pks[start : start + MAX_BATCH])
        for team_id, pks in by_team.items()
        for start in range(0, len(pks), MAX_BATCH)
    ]


# What recording a poll needs of a row; a poll left to its unit is loaded whole.
POLL_FIELDS = [
    "team",
    "task_id",
    "status",
    "progress",
    "usage",
    "provider_task",
    "attempts",
    "error_message",
    "submitted_at",
]


def _read_batch(rows: list[Generation], clients: _Clients) -> dict[str, Task] | EvolinkError:
    """One batch read for one team's claimed rows (no database work: it runs on the pool)."""
    try:
        return clients.for_team(rows[0].team).get_tasks([row.task_id for row in rows], one_by_one=False)
    except EvolinkError as exc:
        return exc


def _run_now(function: Callable, *args: object) -> Future:
    """`pool.submit` without a pool: runs at once, in the calling thread."""
    future: Future = Future()
    future.set_result(function(*args))
    return future


def _poll_in_batches(
    batches: list[tuple[int, list[int]]], clients: _Clients, *, now: datetime, threads: int
) -> tuple[int, list[Generation]]:
    """Polls, 50 to a read: claim, read, record; returns (polls recorded, polls left to their unit).

    The batches go in rounds of `threads // 2`: a round is claimed (one
    update, one select) and its reads sent while the round before is still
    being read, so at most `threads` reads are in flight and no claim is made
    long before its read. The calling thread does all the database work, so
    writers never queue for SQLite's lock; the pool only waits on the provider.
    A task still under way costs its batch's share of one write when it
    changed and no write at all when it did not (the claim scheduled its next
    poll). Whatever else a read answered (a finished task, an error, a task
    left out, no batch read at this gateway) is left to the poll's own unit,
    which holds the claim.
    """
    recorded = 0
    left: list[Generation] = []
    schedule = next_polls(now)
    teams = Team.objects.in_bulk({team_id for team_id, _pks in batches})

    def claim(round_: list[tuple[int, list[int]]]) -> tuple[int, list[list[Generation]]]:
        pks = [pk for _team_id, batch in round_ for pk in batch]
        version = Generation.claim_polls(pks=pks, free=POLL.free(now), next_poll_at=schedule)
        claimed = Generation.objects.filter(claim_version=version).only(*POLL_FIELDS)
        rows = {row.pk: row for row in claimed}
        for row in rows.values():
            row.team = teams[row.team_id]
        reads = [[rows[pk] for pk in batch if pk in rows] for _team_id, batch in round_]
        return version, [read for read in reads if read]

    def record(rows: list[Generation], answer: dict[str, Task] | EvolinkError) -> tuple[list, list]:
        """(rows whose progress changed, rows left to their unit)."""
        if isinstance(answer, EvolinkError):
            if not answer.permanent:
                # Busy or unreachable: each row takes the error (backoff, attempts counted), no request more.
                clients.read_ahead.update((row.task_id, answer) for row in rows)
            else:
                log.info(
                    "Sweep: a batch read of %d tasks failed (%s); they are polled alone", len(rows), answer
                )
            return [], rows
        changed, unit = [], []
        for row in rows:
            task = answer.get(row.task_id)
            if task is None or not _still_under_way(row, task, now=now):
                if task is not None:
                    clients.read_ahead[row.task_id] = task
                unit.append(row)
                continue
            changes = row.progress_changes(**_progress(task))
            for name, value in changes.items():
                setattr(row, name, value)
            if changes:
                changed.append(row)
        return changed, unit

    def finish(version: int, reads: list[tuple[Future, list[Generation]]]) -> None:
        nonlocal recorded
        changed, unit = [], []
        for future, rows in reads:
            more_changed, more_unit = record(rows, future.result())
            changed += more_changed
            unit += more_unit
            recorded += len(rows) - len(more_unit)
        if changed:
            Generation.record_progress(changed, claim_version=version)
        if unit:
            # Loaded whole for their units, in one query; one another worker took over is left out.
            whole = Generation.objects.filter(pk__in=[row.pk for row in unit], claim_version=version)
            left.extend(whole.select_related("team"))

    size = max(1, threads // 2)
    rounds = [batches[start : start + size] for start in range(0, len(batches), size)]
    with contextlib.ExitStack() as stack:
        submit = _run_now
        if threads > 1 and len(batches) > 1:
            submit = stack.enter_context(ThreadPoolExecutor(threads, thread_name_prefix="batch-read")).submit
        reading: list[tuple[int, list[tuple[Future, list[Generation]]]]] = []
        for round_ in rounds:
            version, reads = claim(round_)
            reading.append((version, [(submit(_read_batch, rows, clients), rows) for rows in reads]))
            if len(reading) > 1:
                finish(*reading.pop(0))
        for version, reads in reading:
            finish(version, reads)
    return recorded, left


def _run_unit(kind: SweepKind, generation: Generation, clients: _Clients) -> bool | None:
    """One unit: whether it did work, or None when it raised (logged, never fatal to the pass)."""
    try:
        return kind.step(generation, clients)
    except Exception:
        log.exception("Sweep: %s of generation %s failed", kind.name, generation.code)
        return None


def _run_in_pool(
    work: list[tuple[SweepKind, Generation]], clients: _Clients, *, threads: int
) -> list[tuple[SweepKind, bool | None]]:
    """The units on a pool of threads; each thread keeps one database connection for the pass."""
    opened: list[BaseDatabaseWrapper] = []

    def share_connection() -> None:
        # Django lets only the thread that opened a connection close it, unless
        # told otherwise: the pass closes them all once its threads are done.
        connections[DEFAULT_DB_ALIAS].inc_thread_sharing()
        opened.append(connections[DEFAULT_DB_ALIAS])

    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="sweep", initializer=share_connection) as pool:
            futures = [(kind, pool.submit(_run_unit, kind, generation, clients)) for kind, generation in work]
            return [(kind, future.result()) for kind, future in futures]
    finally:
        for wrapper in opened:
            wrapper.close()
            wrapper.dec_thread_sharing()


def sweep(
    *, threads: int | None = None, now: datetime | None = None, saver: SaveStage | None = None
) -> SweepReport:
    """One pass: every due or abandoned generation gets one unit of work, `threads` at a time.

    Each unit claims its own row, so a unit that finds the row taken (by a
    submitter, a callback's poll or another sweeper) simply does nothing:
    any number of sweepers may run. The polls are claimed, read and recorded
    in batches first (`_poll_in_batches`). With `threads` of 0 or 1 everything
    runs one after another in the calling thread (the tests' transaction sees it).

    Finished videos are saved apart from the polls, on `saver` (the sweeper's saving
    stage, which goes on after the pass); without one, a pass with threads makes a stage
    of its own and waits for it before it returns.
    """
    started = time.monotonic()
    report = SweepReport()
    now = now or timezone.now()
    batches = _poll_batches(now)
    work = _find_work(now)
    if batches or work:
        threads = int(settings.STUDIO_SWEEP_THREADS if threads is None else threads)
        own_saver = saver is None and threads > 1
        if own_saver:
            saver = SaveStage(settings.STUDIO_SAVE_THREADS)
        clients = _Clients(connections=threads, saver=saver)
        try:
            recorded, left = _poll_in_batches(batches, clients, now=now, threads=threads)
            if recorded:
                report.done[POLL.name] += recorded
            work = [(POLL, generation) for generation in left] + work
            if threads <= 1:
                outcomes = [(kind, _run_unit(kind, generation, clients)) for kind, generation in work]
            elif work:
                outcomes = _run_in_pool(work, clients, threads=min(threads, len(work)))
            else:
                outcomes = []
        finally:
            clients.close()
            if own_saver:
                saver.close(wait=True)
                report.errors += saver.errors
        for kind, did_work in outcomes:
            if did_work is None:
                report.errors += 1
            elif did_work:
                report.done[kind.name] += 1
    report.seconds = time.monotonic() - started
    return report


def next_due() -> datetime | None:
    """When the sweep next has something to do (None: nothing in flight); one query."""
    rows = Generation.objects.filter(reduce(operator.or_, (kind.rows for kind in SWEEP_KINDS)))
    times = rows.aggregate(**{kind.name: Min(kind.due_at(), filter=kind.rows) for kind in SWEEP_KINDS})
    return min((at for at in times.values() if at is not None), default=None)


# How often the temporary files of killed downloads are looked for.
CLEAN_TMP_EVERY = 60.0


class SweepLoop:
    """The sweeper's rounds, one at a time: `round` does what is due and says how long to pause.

    Apart from the waiting (run_sweeper's), so a test can drive it round after round without sleeping.
    """

    def __init__(
        self,
        *,
        interval: float,
        idle_interval: float,
        threads: int | None = None,
        saver: SaveStage | None = None,
    ) -> None:
        # The heartbeat /healthz reads, and the scheduled housekeeping.
        from studio.ops.sweeper import SweeperChores

        self.interval = interval
        self.idle_interval = idle_interval
        self.shortest = min(interval, 0.5)
        self.threads = threads
        self.saver = saver  # the sweeper's saving stage (None: each pass makes one and waits for it)
        self.passes = 0
        self._clean_at = 0.0
        self._chores = SweeperChores()

    def round(self) -> float:
        """Chores, a pass if anything is due; the pause before the next round, in seconds."""
        try:
            if time.monotonic() >= self._clean_at:
                clean_tmp()
                self._clean_at = time.monotonic() + CLEAN_TMP_EVERY
            self._chores.tick()
            now = timezone.now()
            due_at = next_due()
            if due_at is not None and due_at <= now:
                report = sweep(threads=self.threads, now=now, saver=self.saver)
                self.passes += 1
                if report:
                    log.info("Sweep: %s", report)
                if report.errors:
                    # A unit that raised may raise again: not before the usual interval.
                    return self.interval
                due_at = next_due()
        except Exception:
            # The database went away, say: the next pass tries again.
            log.exception("Sweep failed")
            return self.interval
        if due_at is None:
            # Nothing in flight: new work wakes the loop (run_sweeper), this only bounds a lost wake-up.
            return self.idle_interval
        return max(self.shortest, min(self.interval, (due_at - timezone.now()).total_seconds()))


def run_sweeper(
    *,
    stop: threading.Event,
    interval: float | None = None,
    threads: int | None = None,
    idle_interval: float | None = None,
    submit_threads: int | None = None,
) -> int:
    """Sweep until `stop` is set; returns how many passes ran. `manage.py sweep` runs this.

    The first pass runs at once, so a sweeper that restarts (even in a crash
    loop) moves work on straight away. After a pass it sleeps until the next
    generation falls due, at most `interval` while something is in flight and
    at least a little (a due row that a step declined must not spin the loop).
    With nothing in flight it sleeps `idle_interval` (STUDIO_SWEEP_IDLE_INTERVAL):
    new work wakes it sooner (the submitter, after it sent a create, or a
    wake-up it heard: a callback, say), so at rest the loop costs a query or
    two a minute. A pass that is under way when `stop` is set is finished first.

    Beside it, on threads of its own, the submitter sends creates as they are
    made (studio.videos.submitter; `submit_threads` of 0: none), and the saving
    stage saves finished videos (studio.videos.saving).
    """
    from studio.videos.submitter import Submitter

    # Finished videos are saved on this stage's threads, apart from the passes (studio.videos.saving).
    saver = SaveStage(settings.STUDIO_SAVE_THREADS)
    loop = SweepLoop(
        interval=float(settings.STUDIO_SWEEP_INTERVAL if interval is None else interval),
        idle_interval=float(settings.STUDIO_SWEEP_IDLE_INTERVAL if idle_interval is None else idle_interval),
        threads=threads,
        saver=saver,
    )
    wake = threading.Event()
    threading.Thread(target=lambda: (stop.wait(), wake.set()), name="sweep-stop", daemon=True).start()
    submitter_thread = None
    if submit_threads is None or submit_threads > 0:
        submitter = Submitter(threads=submit_threads, on_sent=wake.set)
        submitter_thread = threading.Thread(
            target=submitter.run, kwargs={"stop": stop, "on_wake": wake.set}, name="submitter"
        )
        submitter_thread.start()
    while not stop.is_set():
        wake.clear()
        # As Django does around each request: drop a connection that broke or aged out.
        close_old_connections()
        if wake.wait(loop.round()):
            # Woken early: let the wake-ups of the same moment (a burst of creates) come together.
            stop.wait(min(loop.shortest, 0.1))
    if submitter_thread is not None:
        submitter_thread.join()
    # Saves under way are finished; those still waiting are due for any sweep after their grace.
    saver.close(wait=False)
    connection.close()
    return loop.passes


# --- Callbacks: a hint to look again, never trusted as the answer -------------------

# Compared against when the generation does not exist, so an unknown code takes
# about as long to refuse as a wrong token.
_NO_TOKEN_HASH = hashlib.sha256(b"no generation").hexdigest()


def handle_callback(*, code: str, token: str, body: bytes) -> bool:
    """Check the token and queue a re-read of the task; True when the token was right.

    The body is not believed: the provider's own answer to a query is. A
    repeated, late or out-of-order callback only asks for a poll, and a poll of
    a finished generation does nothing.
    """
    try:
        generation = Generation.objects.filter(code=uuid.UUID(code)).first()
    except ValueError:
        generation = None
    expected = (
        generation.callback_token_hash if generation and generation.callback_token_hash else _NO_TOKEN_HASH
    )
    given = token_hash(token)
    if not hmac.compare_digest(given, expected) or generation is None or not generation.callback_token_hash:
        return False
    hinted = ""
    # Any JSON at all may arrive (a list, 60,000 nested brackets): only a plain id is a hint.
    with contextlib.suppress(ValueError, RecursionError, AttributeError):
        hinted = str((json.loads(body) or {}).get("id") or "")
    if hinted and generation.task_id and hinted != generation.task_id:
        log.info("Callback for generation %s names another task; ignored", generation.code)
        return True
    # A poll's claim lasts until its next poll (Generation.claim_polls): the hint ends it, so the
    # poll can run now. One under way at this moment is fenced out by the new poll's claim.
    moved = Generation.objects.filter(pk=generation.pk, status__in=POLLED).update(
        next_poll_at=timezone.now(), claimed_until=None
    )
    if moved:
        pk = generation.pk
        transaction.on_commit(lambda: async_task("studio.videos.tasks.poll_generation", pk))
        # The sweeper, at rest, hears it too and polls at once if no worker did.
        transaction.on_commit(wakeup.notify)
    log.info("Callback for generation %s (%s)", generation.code, "poll queued" if moved else "nothing to do")
    return True
