"""The generation pipeline against the demo provider over real HTTP: every state and step."""

from __future__ import annotations

import importlib
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from studio.videos import prompting, services, tasks
from studio.videos.models import Generation, Status


@pytest.fixture
def enqueued(monkeypatch):
    """Records what would be queued for django-q2, and the wake-ups sent, instead of sending them."""
    calls: list[tuple] = []
    monkeypatch.setattr("studio.videos.services.async_task", lambda *args, **kw: calls.append(args))
    monkeypatch.setattr("studio.videos.wakeup.notify", lambda: calls.append(("wake-up",)))
    return calls


@pytest.fixture
def provider(studio_on_demo_provider, settings, enqueued):
    settings.STUDIO_PUBLIC_URL = ""  # polling only, unless a test says otherwise
    settings.STUDIO_MIN_POLL_SECONDS = 3
    return studio_on_demo_provider


def new_generation(team, author, **overrides) -> Generation:
    values = {
        "prompt": "A paper boat drifts down a rain-soaked street",
        "parts": {"camera": "low tracking shot", "sound": "ambient only: rain"},
        "negatives": ["no_dialogue"],
        "negative_text": "",
        "duration": "5",
        "aspect_ratio": "16:9",
    }
    values.update(overrides)
    return services.create_generation(team=team, author=author, draft=prompting.Draft(**values))


def wait_for_provider(provider, status: str = "completed", timeout: float = 120) -> None:
    """Waits until every task at the demo provider reached `status` (generously: a loaded machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks_ = list(provider.server.tasks.values())
        if tasks_ and all(t.status == status for t in tasks_):
            return
        time.sleep(0.05)
    raise AssertionError(f"the demo provider's tasks did not reach {status}")


def reload(generation: Generation) -> Generation:
    return Generation.objects.get(pk=generation.pk)


def media_files(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- End to end -----------------------------------------------------------------


def test_compose_submit_poll_and_store_end_to_end(
    alice_client, alice, team_a, provider, enqueued, settings, django_capture_on_commit_callbacks
):
    data = {
        "prompt": "A paper boat drifts down a rain-soaked street",
        "camera": "low tracking shot",
        "sound": "ambient only: rain",
        "negatives": ["no_dialogue", "no_music"],
        "duration": "4",
        "aspect_ratio": "16:9",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("compose"), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    generation = Generation.objects.get()
    # No worker queue: the submitter is woken at commit.
    assert enqueued == [("wake-up",)]

    assert tasks.submit_generation(generation.pk) is True
    generation = reload(generation)
    assert generation.status == Status.PENDING
    assert generation.task_id.startswith("task-unified-")
    assert generation.provider_estimated_time == 1
    assert generation.usage["billing_rule"] == "per_token"
    assert generation.submitted_at is not None
    # The first poll waits a few seconds: never a tight loop.
    assert generation.next_poll_at >= timezone.now() + timedelta(seconds=2)
    sent = next(iter(provider.server.tasks.values()))
    assert sent.prompt == generation.compiled_prompt
    assert (sent.duration, sent.aspect_ratio, sent.callback_url) == (4, "16:9", "")

    wait_for_provider(provider)
    assert tasks.poll_generation(generation.pk) is True
    generation = reload(generation)
    assert generation.status == Status.READY, generation.error_message
    assert generation.video.name == f"teams/{team_a.code}/videos/{generation.code}.mp4"
    path = Path(settings.MEDIA_ROOT) / generation.video.name
    assert path.stat().st_size == generation.video_bytes > 10_000
    assert (generation.video_width, generation.video_height) == (1280, 720)
    assert generation.video_duration == pytest.approx(4, abs=0.2)
    assert generation.video_fps == pytest.approx(24, abs=0.5)
    assert generation.video_has_audio is True
    assert (Path(settings.MEDIA_ROOT) / generation.poster.name).read_bytes()[:3] == b"\xff\xd8\xff"
    assert generation.usage["completion_tokens"] == 4 * 5792  # settled usage, kept whole
    assert generation.provider_task["status"] == "completed"
    assert generation.completed_at <= generation.ready_at
    assert generation.claimed_until is None and generation.next_poll_at is None
    assert len(provider.server.tasks) == 1
    assert provider.server.file_requests_with_auth == 0
    assert media_files(settings) == sorted([generation.video.name, generation.poster.name])

    # Running any step again changes nothing.
    assert tasks.submit_generation(generation.pk) is False
    assert tasks.poll_generation(generation.pk) is False
    assert services._store_again(reload(generation)) is False
    assert not services.sweep(threads=0)
    assert len(provider.server.tasks) == 1


def test_a_portrait_auto_generation_is_stored_at_its_real_size(alice, team_a, provider, settings):
    generation = new_generation(team_a, alice, aspect_ratio="9:16", duration="3")
    tasks.submit_generation(generation.pk)
    wait_for_provider(provider)
    tasks.poll_generation(generation.pk)
    generation = reload(generation)
    assert generation.status == Status.READY
    assert (generation.video_width, generation.video_height) == (720, 1280)


# --- Submitting ------------------------------------------------------------------


def test_a_submit_run_twice_sends_one_create(alice, team_a, provider):
    generation = new_generation(team_a, alice)
    assert tasks.submit_generation(generation.pk) is True
    assert tasks.submit_generation(generation.pk) is False
    assert len(provider.server.tasks) == 1


def test_a_submitting_row_with_an_expired_claim_becomes_unknown_and_is_never_resent(
    alice, team_a, provider, settings
):
    settings.STUDIO_IDEMPOTENT_CREATES = False  # with it on, tests/test_recovery.py
    generation = new_generation(team_a, alice)
    # The worker claimed it and died: maybe the create reached the provider, maybe not.
    Generation.objects.filter(pk=generation.pk).update(
        status=Status.SUBMITTING, claimed_until=timezone.now() - timedelta(seconds=1)
    )
    report = services.sweep(threads=0)
    assert report.done == {"abandoned": 1}
    generation = reload(generation)
    assert generation.status == Status.UNKNOWN
    assert "not sent again" in generation.error_message
    assert tasks.submit_generation(generation.pk) is False
    services.sweep(threads=0)
    assert provider.server.tasks == {}


def test_a_submitting_row_with_a_live_claim_is_left_alone(alice, team_a, provider):
    generation = new_generation(team_a, alice)
    Generation.objects.filter(pk=generation.pk).update(
        status=Status.SUBMITTING, claimed_until=timezone.now() + timedelta(seconds=60)
    )
    assert not services.sweep(threads=0)
    assert reload(generation).status == Status.SUBMITTING


def test_a_queued_generation_whose_task_was_lost_is_submitted_by_the_sweep(alice, team_a, provider):
    generation = new_generation(team_a, alice)
    assert not services.sweep(threads=0)  # its own task still has time
    Generation.objects.filter(pk=generation.pk).update(next_poll_at=timezone.now() - timedelta(seconds=1))
    assert services.sweep(threads=0).done == {"submit": 1}
    assert reload(generation).status == Status.PENDING
    assert len(provider.server.tasks) == 1


def test_a_create_that_may_have_reached_the_provider_is_unknown(alice, team_a, provider, settings):
    settings.STUDIO_IDEMPOTENT_CREATES = False  # with it on, tests/test_recovery.py
    provider.server.queue_fault("drop_after_create", on="create")
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    generation = reload(generation)
    assert generation.status == Status.UNKNOWN
    assert "may have been charged" in generation.error_message
    services.sweep(threads=0, now=timezone.now() + timedelta(hours=1))
    assert len(provider.server.tasks) == 1  # created once by the provider, never again by us


def test_a_busy_provider_puts_the_generation_back_in_the_queue(alice, team_a, provider):
    provider.server.queue_fault("503", on="create")
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    generation = reload(generation)
    assert generation.status == Status.QUEUED
    assert generation.attempts == 1
    assert generation.next_poll_at > timezone.now()
    assert "try again" in generation.error_message
    assert provider.server.tasks == {}
    # When it is due again, the sweep submits it.
    services.sweep(threads=0, now=generation.next_poll_at + timedelta(seconds=1))
    generation = reload(generation)
    assert generation.status == Status.PENDING
    assert generation.attempts == 0 and generation.error_message == ""


def test_a_refused_create_fails_with_a_message_a_person_understands(alice, team_a, provider):
    provider.server.queue_fault("402", on="create")
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    generation = reload(generation)
    assert generation.status == Status.FAILED
    assert "needs credits" in generation.error_message
    assert generation.error_type == "insufficient_quota_error"


def test_transient_failures_are_limited(alice, team_a, provider):
    provider.server.queue_fault("503", count=100, on="create")
    generation = new_generation(team_a, alice)
    Generation.objects.filter(pk=generation.pk).update(attempts=services.MAX_SUBMIT_ATTEMPTS - 1)
    tasks.submit_generation(generation.pk)
    generation = reload(generation)
    assert generation.status == Status.FAILED
    assert "after several tries" in generation.error_message


# --- Polling ----------------------------------------------------------------------


def test_polls_back_off_and_never_loop_tightly():
    assert services.first_poll_delay(60) == 10
    assert services.first_poll_delay(8) == 4
    assert services.first_poll_delay(1) == 3
    assert services.first_poll_delay(None) == 10
    delays = [services.next_poll_delay(n) for n in range(1, 12)]
    assert delays[0] == 5
    assert delays == sorted(delays)
    assert max(delays) == 30


def test_a_poll_records_progress_and_schedules_the_next(alice, team_a, provider):
    provider.server.generation_seconds = 30
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    wait_for_provider(provider, "processing")
    before = timezone.now()
    assert tasks.poll_generation(generation.pk) is True
    after = timezone.now()
    generation = reload(generation)
    assert generation.status == Status.PROCESSING
    assert 0 <= generation.progress < 100
    assert generation.poll_count == 1
    # The second poll comes 5 s after the first; the poll's claim lasts until then.
    assert before + timedelta(seconds=5) <= generation.next_poll_at <= after + timedelta(seconds=5)
    assert generation.claimed_until == generation.next_poll_at
    # Not due yet: the sweep leaves it alone.
    assert not services.sweep(threads=0)


def test_a_failed_task_ends_with_the_providers_reason(alice, team_a, provider):
    provider.server.queue_fault("fail:content_policy_violation", on="create")
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    wait_for_provider(provider, "failed")
    tasks.poll_generation(generation.pk)
    generation = reload(generation)
    assert generation.status == Status.FAILED
    assert generation.error_code == "content_policy_violation"
    assert generation.error_message.startswith("The provider could not make this video: The prompt or the")


def test_a_task_the_provider_forgot_fails(alice, team_a, provider):
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    provider.server.tasks.clear()
    tasks.poll_generation(generation.pk)
    generation = reload(generation)
    assert generation.status == Status.FAILED
    assert (
        generation.error_message == "The provider no longer knows this task, so its video cannot be fetched."
    )


def test_a_poll_that_fails_transiently_is_retried_later(alice, team_a, provider):
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    provider.server.queue_fault("503", on="query")
    tasks.poll_generation(generation.pk)
    generation = reload(generation)
    assert generation.status == Status.PENDING
    assert generation.attempts == 1
    assert generation.next_poll_at > timezone.now()
    wait_for_provider(provider)
    services.sweep(threads=0, now=generation.next_poll_at + timedelta(seconds=1))
    assert reload(generation).status == Status.READY


def test_a_claimed_generation_is_not_polled_by_another_worker(alice, team_a, provider):
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    generation = reload(generation)
    assert generation.claim(statuses=[Status.PENDING], seconds=60)
    assert tasks.poll_generation(generation.pk) is False
    assert not services.sweep(threads=0, now=timezone.now() + timedelta(seconds=30))


# --- Storing ------------------------------------------------------------------------


def test_a_generation_stuck_in_downloading_is_downloaded_again(alice, team_a, provider, settings):
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    wait_for_provider(provider)
    # The worker died mid-download: the row says downloading, its claim lapsed, a partial tmp file remains.
    task = next(iter(provider.server.tasks.values()))
    Generation.objects.filter(pk=generation.pk).update(
        status=Status.DOWNLOADING,
        result_url=f"{provider.base_url}/files/{task.file_token}.mp4",
        claimed_until=timezone.now() - timedelta(seconds=1),
        next_poll_at=None,
    )
    tmp = Path(settings.MEDIA_ROOT) / "tmp"
    tmp.mkdir(parents=True)
    (tmp / "download-dead.part").write_bytes(b"half a file")
    assert services.sweep(threads=0).done == {"store": 1}
    generation = reload(generation)
    assert generation.status == Status.READY
    assert (Path(settings.MEDIA_ROOT) / generation.video.name).exists()


def test_an_expired_result_link_expires_the_generation(alice, team_a, provider):
    provider.server.queue_fault("expired", on="create")
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    wait_for_provider(provider)
    tasks.poll_generation(generation.pk)
    generation = reload(generation)
    # A link younger than 24 hours has not expired: the file is missing, and is asked for again.
    assert generation.status == Status.DOWNLOADING
    assert "could not be found" in generation.error_message and "expired" not in generation.error_message
    # Once the link is 24 hours old, the answer means what it says.
    Generation.objects.filter(pk=generation.pk).update(
        completed_at=timezone.now() - timedelta(hours=24, seconds=1), next_poll_at=timezone.now()
    )
    assert services.sweep(threads=0).done == {"store": 1}
    generation = reload(generation)
    assert generation.status == Status.EXPIRED
    assert "expired" in generation.error_message
    assert not generation.video


def test_an_oversize_result_fails_and_leaves_no_file(alice, team_a, provider, settings):
    settings.STUDIO_MAX_VIDEO_BYTES = 1024 * 1024
    provider.server.big_file_mb = 3
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    wait_for_provider(provider)
    tasks.poll_generation(generation.pk)
    generation = reload(generation)
    assert generation.status == Status.FAILED
    assert "larger than the studio accepts" in generation.error_message
    assert media_files(settings) == []


def test_a_dropped_download_is_retried(alice, team_a, provider):
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    wait_for_provider(provider)
    provider.server.queue_fault("drop", on="file")
    tasks.poll_generation(generation.pk)
    generation = reload(generation)
    assert generation.status == Status.DOWNLOADING
    assert generation.attempts == 1 and generation.claimed_until is None
    services.sweep(threads=0, now=generation.next_poll_at + timedelta(seconds=1))
    assert reload(generation).status == Status.READY


# --- Claims ---------------------------------------------------------------------------


def test_a_comment_or_review_does_not_spoil_a_claim(alice, team_a, provider):
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    generation = reload(generation)
    # A teammate reviews it while a worker holds what it read: `updated` moves, the claim still holds.
    Generation.objects.filter(pk=generation.pk).update(
        review_status="approved", updated=timezone.now() + timedelta(seconds=1)
    )
    assert generation.claim(statuses=[Status.PENDING], seconds=60)


def test_a_worker_whose_claim_was_taken_over_writes_nothing(alice, team_a, provider):
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    slow = reload(generation)
    assert slow.claim(statuses=[Status.PENDING], seconds=60)
    # Its claim lapses and another worker takes the row...
    Generation.objects.filter(pk=generation.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    other = reload(generation)
    assert other.claim(statuses=[Status.PENDING], seconds=60)
    assert other.claim_version != slow.claim_version
    # ...so what the first one finally writes is refused.
    assert not slow.retry_later(status=Status.PENDING, next_poll_at=timezone.now())
    assert not slow.mark_progress(status=Status.PROCESSING, progress=50, usage={}, raw={"id": "x"})
    assert reload(generation).claim_version == other.claim_version


# --- The sweep ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_sweep_polls_concurrently_in_threads(alice, team_a, provider, monkeypatch):
    provider.server.generation_seconds = 0.3
    generations = [new_generation(team_a, alice) for _ in range(6)]
    for generation in generations:
        tasks.submit_generation(generation.pk)
    wait_for_provider(provider)
    # Each poll waits until all six are under way: polls made one after another would never get there.
    together = threading.Barrier(6, timeout=60)
    poll = services._poll_held

    def poll_together(generation, clients):
        together.wait()
        return poll(generation, clients)

    monkeypatch.setattr(services, "_poll_held", poll_together)
    report = services.sweep(threads=8, now=timezone.now() + timedelta(seconds=30))
    assert report.done == {"poll": 6} and report.errors == 0
    assert {g.status for g in Generation.objects.all()} == {Status.READY}


def _polls_seen(provider) -> dict[str, int]:
    seen = provider.server.requests_seen
    return {
        "batch": sum(1 for method, path in seen if path == "/v1/tasks/batch"),
        "single": sum(1 for method, path in seen if method == "GET" and path.startswith("/v1/tasks/task-")),
    }


@pytest.mark.django_db(transaction=True)
def test_the_sweep_reads_its_polls_in_one_batch_request(alice, team_a, provider):
    generations = [new_generation(team_a, alice) for _ in range(3)]
    for generation in generations:
        tasks.submit_generation(generation.pk)
    wait_for_provider(provider)
    provider.server.requests_seen.clear()

    report = services.sweep(threads=4, now=timezone.now() + timedelta(seconds=30))

    assert report.done == {"poll": 3} and report.errors == 0
    assert _polls_seen(provider) == {"batch": 1, "single": 0}
    assert {g.status for g in Generation.objects.all()} == {Status.READY}


@pytest.mark.django_db(transaction=True)
def test_without_the_batch_read_each_poll_asks_alone(alice, team_a, provider):
    generations = [new_generation(team_a, alice) for _ in range(3)]
    for generation in generations:
        tasks.submit_generation(generation.pk)
    wait_for_provider(provider)
    provider.server.requests_seen.clear()
    provider.server.queue_fault("404", on="query")  # the batch read is the pass's first query

    report = services.sweep(threads=4, now=timezone.now() + timedelta(seconds=30))

    assert report.done == {"poll": 3} and report.errors == 0
    assert _polls_seen(provider) == {"batch": 1, "single": 3}
    assert {g.status for g in Generation.objects.all()} == {Status.READY}


def test_a_unit_that_raises_is_counted_and_the_others_go_on(alice, team_a, provider, monkeypatch):
    first, second = new_generation(team_a, alice), new_generation(team_a, alice)
    for generation in (first, second):
        tasks.submit_generation(generation.pk)
    wait_for_provider(provider)  # finished: each poll goes on to its own unit, to save the video
    poll = services._poll_held

    def broken_for_first(generation, clients):
        if generation.pk == first.pk:
            raise RuntimeError("a bug")
        return poll(generation, clients)

    monkeypatch.setattr(services, "_poll_held", broken_for_first)
    report = services.sweep(threads=0, now=timezone.now() + timedelta(seconds=30))
    assert report.errors == 1 and report.done == {"poll": 1}
    assert reload(second).status == Status.READY


def test_next_due_says_when_the_sweep_has_work(alice, team_a, provider):
    assert services.next_due() is None  # nothing in flight: nothing to wake for
    generation = new_generation(team_a, alice)
    assert services.next_due() == reload(generation).next_poll_at
    tasks.submit_generation(generation.pk)
    assert services.next_due() == reload(generation).next_poll_at
    generation = reload(generation)
    assert generation.claim(statuses=[Status.PENDING], seconds=60)
    assert services.next_due() == generation.claimed_until  # when its claim lapses


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_works_at_once_when_it_starts_and_stops_when_asked(alice, team_a, provider):
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    wait_for_provider(provider)
    Generation.objects.filter(pk=generation.pk).update(next_poll_at=timezone.now())
    stop = threading.Event()
    passes: list[int] = []
    # An hour between passes: only the pass made at start can move the generation on.
    sweeper = threading.Thread(
        target=lambda: passes.append(services.run_sweeper(stop=stop, interval=3600, threads=1))
    )
    sweeper.start()
    try:
        deadline = time.monotonic() + 120
        while reload(generation).status != Status.READY and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reload(generation).status == Status.READY
    finally:
        stop.set()
        sweeper.join(timeout=120)
    assert not sweeper.is_alive()
    assert passes == [1]


def test_the_old_sweep_schedule_is_removed_by_the_migration(db):
    """Deployments upgraded from the every-minute django-q2 schedule stop running it."""
    from django.apps import apps
    from django_q.models import Schedule

    migration = importlib.import_module("studio.videos.migrations.0002_claim_version_and_no_sweep_schedule")
    Schedule.objects.create(
        name="studio: poll and reconcile generations", func="studio.videos.tasks.run_sweeps"
    )
    Schedule.objects.create(name="someone else's", func="math.floor")
    migration.remove_sweep_schedule(apps, None)
    assert list(Schedule.objects.values_list("func", flat=True)) == ["math.floor"]
