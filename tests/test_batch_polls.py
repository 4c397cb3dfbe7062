"""The sweep's polls, 50 to a batch read: requests per sweep, writes per poll, and the fallback.

Against the demo provider over real HTTP on loopback; its tasks are put in place
directly (processing for a very long time, so their progress stays put).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from studio.demoprovider import DemoTask
from studio.videos import evolink, services
from studio.videos.models import Generation, Status


@pytest.fixture
def provider(studio_on_demo_provider, settings, monkeypatch):
    settings.STUDIO_PUBLIC_URL = ""  # polling only
    settings.STUDIO_MIN_POLL_SECONDS = 3
    # Which gateways lack the batch read is remembered per process: start afresh.
    monkeypatch.setattr(evolink, "_UNSUPPORTED", {})
    monkeypatch.setattr("studio.videos.services.async_task", lambda *args, **kw: None)
    return studio_on_demo_provider


def in_flight(provider, team, author, count: int, *, status: str = Status.PROCESSING) -> list[Generation]:
    """`count` generations whose tasks the provider reports processing (progress 0 for days), all due."""
    now = time.time()
    ids = [f"task-unified-{int(now)}-batch{i:05d}" for i in range(count)]
    for task_id in ids:
        provider.server.tasks[task_id] = DemoTask(
            id=task_id,
            created=now,
            prompt="p",
            duration=5,
            aspect_ratio="16:9",
            callback_url="",
            generation_seconds=10**7,
            status="processing",
        )
    past = timezone.now() - timedelta(seconds=1)
    Generation.objects.bulk_create(
        Generation(
            team=team,
            author=author,
            prompt="p",
            compiled_prompt="p.",
            status=status,
            task_id=task_id,
            submitted_at=past,
            next_poll_at=past,
        )
        for task_id in ids
    )
    return list(Generation.objects.order_by("pk"))


def make_due_again() -> None:
    Generation.objects.update(next_poll_at=timezone.now() - timedelta(seconds=1), claimed_until=None)


def reads_seen(provider) -> dict[str, int]:
    seen, provider.server.requests_seen[:] = list(provider.server.requests_seen), []
    return {
        "batch": sum(1 for _method, path in seen if path == "/v1/tasks/batch"),
        "single": sum(1 for method, path in seen if method == "GET" and path.startswith("/v1/tasks/task-")),
    }


def writes(queries) -> list[str]:
    """The statements that write ("50 times: UPDATE ..." is one executemany)."""
    verbs = ("UPDATE", "INSERT", "DELETE")
    return [q["sql"] for q in queries if q["sql"].split(": ", 1)[-1].lstrip().upper().startswith(verbs)]


# --- Requests and writes ------------------------------------------------------------------------


def test_a_thousand_polls_cost_twenty_requests(alice, team_a, provider):
    in_flight(provider, team_a, alice, 1000, status=Status.PENDING)

    report = services.sweep(threads=8)

    assert report.done == {"poll": 1000} and report.errors == 0
    assert reads_seen(provider) == {"batch": 20, "single": 0}
    assert Generation.objects.filter(status=Status.PROCESSING, poll_count=1).count() == 1000


def test_each_batch_asks_for_fifty_tasks_of_one_team(alice, team_a, charlie, team_b, provider):
    in_flight(provider, team_a, alice, 60)
    in_flight(provider, team_b, charlie, 10)
    provider.server.requests_seen.clear()

    assert services.sweep(threads=0).done == {"poll": 70}
    # 50 + 10 for team A, 10 for team B: a batch read goes out with one team's key.
    assert reads_seen(provider) == {"batch": 3, "single": 0}


def test_a_poll_that_finds_nothing_new_writes_nothing(alice, team_a, provider):
    in_flight(provider, team_a, alice, 60, status=Status.PENDING)
    services.sweep(threads=0)  # pending -> processing: written
    before = {g.pk: g.updated for g in Generation.objects.all()}
    make_due_again()

    started = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        report = services.sweep(threads=0)
    ended = timezone.now()

    assert report.done == {"poll": 60}
    # The claim of each batch (two batches, one at a time with threads=0), nothing else.
    assert len(writes(queries)) == 2
    assert all("claim_version" in sql and "poll_count" in sql for sql in writes(queries))
    assert len(queries) <= 12  # the due rows, then per batch its claim and its rows; never per row
    rows = list(Generation.objects.all())
    assert {g.pk: g.updated for g in rows} == before  # the gallery sees no change
    assert {g.poll_count for g in rows} == {2}
    # The claim scheduled the next poll (7.5 s after the second) and lasts until then.
    # (Measured from the sweep's own start and end, so a slow machine does not fail it.)
    after = timedelta(seconds=7.5)
    assert all(g.claimed_until == g.next_poll_at for g in rows)
    assert all(started + after <= g.next_poll_at <= ended + after for g in rows)


def test_the_progress_of_a_batch_is_one_write(alice, team_a, provider):
    in_flight(provider, team_a, alice, 50, status=Status.PENDING)

    with CaptureQueriesContext(connection) as queries:
        services.sweep(threads=0)

    statements = writes(queries)
    assert len(statements) == 2  # the claim, and the progress of the 50 (one statement, executemany)
    assert statements[1].startswith("50 times: UPDATE")
    generation = Generation.objects.first()
    assert generation.status == Status.PROCESSING and generation.provider_task["status"] == "processing"
    assert generation.attempts == 0 and generation.poll_count == 1


@pytest.mark.django_db(transaction=True)  # its units run on the pool's own connections
def test_what_a_batch_read_finds_finished_goes_on_to_its_own_step(alice, team_a, provider, settings):
    rows = in_flight(provider, team_a, alice, 5)
    task = provider.server.tasks[rows[0].task_id]
    task.status = "failed"
    task.fail_code = "content_policy_violation"
    del provider.server.tasks[rows[1].task_id]  # left out of the batch answer: asked alone, then lost

    report = services.sweep(threads=4)

    assert report.done == {"poll": 5} and report.errors == 0
    assert reads_seen(provider) == {"batch": 1, "single": 1}
    failed, lost = Generation.objects.get(pk=rows[0].pk), Generation.objects.get(pk=rows[1].pk)
    assert failed.status == Status.FAILED and failed.error_code == "content_policy_violation"
    assert lost.status == Status.FAILED and lost.error_code == "task_not_found"
    assert Generation.objects.filter(status=Status.PROCESSING).count() == 3


def test_a_busy_provider_answering_the_batch_costs_no_request_more(alice, team_a, provider):
    in_flight(provider, team_a, alice, 3)
    provider.server.requests_seen.clear()
    provider.server.queue_fault("503", on="query")  # the batch read

    report = services.sweep(threads=0)

    assert report.done == {"poll": 3}
    assert reads_seen(provider) == {"batch": 1, "single": 0}  # not one request per task after a 503
    for generation in Generation.objects.all():
        assert generation.attempts == 1 and generation.status == Status.PROCESSING
        assert generation.claimed_until is None and generation.next_poll_at > timezone.now()


def test_a_poll_whose_claim_was_taken_over_records_nothing(alice, team_a, provider):
    (generation,) = in_flight(provider, team_a, alice, 1, status=Status.PENDING)
    now = timezone.now()
    version = Generation.claim_polls(
        pks=[generation.pk], free=services.POLL.free(now), next_poll_at=services.next_polls(now)
    )
    (mine,) = Generation.objects.filter(claim_version=version)
    # Another worker takes the row over (the first claim lapsed)...
    Generation.objects.filter(pk=generation.pk).update(claim_version=7)
    mine.status, mine.progress = Status.PROCESSING, 40
    Generation.record_progress([mine], claim_version=version)
    # ...so the first one's write is refused.
    assert Generation.objects.get(pk=generation.pk).status == Status.PENDING


@pytest.mark.parametrize("min_poll_seconds", [3, 12])
@pytest.mark.parametrize("poll_count", [0, 1, 2, 3, 4, 5, 6, 11, 12, 40])
def test_a_claim_schedules_the_next_poll_with_the_backoff(
    alice, team_a, provider, settings, poll_count, min_poll_seconds
):
    settings.STUDIO_MIN_POLL_SECONDS = min_poll_seconds
    (generation,) = in_flight(provider, team_a, alice, 1)
    Generation.objects.update(poll_count=poll_count)
    now = timezone.now()

    Generation.claim_polls(
        pks=[generation.pk], free=services.POLL.free(now), next_poll_at=services.next_polls(now)
    )

    generation = Generation.objects.get()
    assert generation.poll_count == poll_count + 1
    assert generation.next_poll_at == now + timedelta(seconds=services.next_poll_delay(poll_count + 1))
    assert generation.claimed_until == generation.next_poll_at


# --- A gateway without the batch read -------------------------------------------------------------


@pytest.mark.parametrize("without", ["404", "405", "501", "malformed"])
def test_without_the_batch_read_polls_go_alone_and_it_is_asked_again_later(
    alice, team_a, provider, without, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG, logger="studio.videos.evolink")
    clock = [1000.0]
    monkeypatch.setattr(evolink, "_clock", lambda: clock[0])
    in_flight(provider, team_a, alice, 3)
    provider.server.requests_seen.clear()
    provider.server.configure({"batch_reads": without})

    assert services.sweep(threads=0).done == {"poll": 3}
    assert reads_seen(provider) == {"batch": 1, "single": 3}
    # Remembered: the next sweep does not ask for it.
    make_due_again()
    clock[0] += evolink.UNSUPPORTED_FOR - 1
    assert services.sweep(threads=0).done == {"poll": 3}
    assert reads_seen(provider) == {"batch": 0, "single": 3}
    # Some minutes on it is asked again: still not there, polls alone, and no second warning.
    make_due_again()
    clock[0] += 2
    services.sweep(threads=0)
    assert reads_seen(provider) == {"batch": 1, "single": 3}
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "batch read" in r.message]
    assert len(warnings) == 1 and "not available" in warnings[0].message
    # Once the gateway has it, the batch read is used again.
    provider.server.configure({"batch_reads": "on"})
    make_due_again()
    clock[0] += evolink.UNSUPPORTED_FOR + 1
    assert services.sweep(threads=0).done == {"poll": 3}
    assert reads_seen(provider) == {"batch": 1, "single": 0}
    assert "batch read answers at this gateway again" in caplog.text
    assert Generation.objects.filter(status=Status.PROCESSING, poll_count=4).count() == 3
