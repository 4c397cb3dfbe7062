"""The submitter: creates go out at once, in turn between people, slowed (never failed) by 429s;
woken at commit, with the sweep as its safety net; and at rest the loops make next to no queries."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from studio.videos import prompting, services, submitter, wakeup
from studio.videos.models import Generation, Status


@pytest.fixture
def provider(studio_on_demo_provider, settings, monkeypatch):
    settings.STUDIO_PUBLIC_URL = ""  # polling only
    monkeypatch.setattr("studio.videos.services.async_task", lambda *args, **kw: None)
    return studio_on_demo_provider


@pytest.fixture
def data_dir(settings, tmp_path):
    # A short folder: a Unix socket's path is at most 107 bytes.
    import tempfile

    with tempfile.TemporaryDirectory(prefix="wk") as folder:
        settings.DATA_DIR = folder
        yield folder


def generate(team, author, prompt: str = "A paper boat drifts down a rain-soaked street") -> Generation:
    return services.create_generation(
        team=team, author=author, draft=prompting.Draft(prompt=prompt, duration="5")
    )


def taken_in_order(sub: submitter.Submitter) -> list[int]:
    order = []
    while (pk := sub.take(block=False)) is not None:
        order.append(pk)
    return order


# --- Fairness ---------------------------------------------------------------------------


def test_a_run_of_24_does_not_starve_a_colleagues_single(alice, bob, team_a, monkeypatch):
    monkeypatch.setattr("studio.videos.wakeup.notify", lambda: None)
    run = [generate(team_a, alice, f"Take {n} of the fox") for n in range(24)]
    single = generate(team_a, bob, "Bob's one lighthouse")
    sub = submitter.Submitter(threads=1)
    sub.look()
    order = taken_in_order(sub)
    # Round-robin between people: alice's first take, then bob's single, then the rest of her run.
    assert order == [run[0].pk, single.pk] + [g.pk for g in run[1:]]


def test_a_single_made_while_a_run_is_going_out_is_next(alice, bob, team_a, team_b, charlie, monkeypatch):
    monkeypatch.setattr("studio.videos.wakeup.notify", lambda: None)
    run = [generate(team_a, alice, f"Take {n}") for n in range(6)]
    sub = submitter.Submitter(threads=1)
    sub.look()
    assert [sub.take(block=False), sub.take(block=False)] == [run[0].pk, run[1].pk]
    bobs, charlies = generate(team_a, bob, "Bob's"), generate(team_b, charlie, "Charlie's")
    sub.look()  # the wake-up of their commits
    # Rows already held are not queued twice; the newcomers take their turns at once.
    assert taken_in_order(sub) == [run[2].pk, bobs.pk, charlies.pk, run[3].pk, run[4].pk, run[5].pk]


def test_rows_not_due_yet_or_claimed_are_left_and_the_next_due_time_is_told(alice, team_a, monkeypatch):
    monkeypatch.setattr("studio.videos.wakeup.notify", lambda: None)
    due, later, claimed = generate(team_a, alice), generate(team_a, alice), generate(team_a, alice)
    now = timezone.now()
    Generation.objects.filter(pk=later.pk).update(
        next_poll_at=now + services.QUEUED_GRACE + timedelta(seconds=40)
    )
    Generation.objects.filter(pk=claimed.pk).update(claimed_until=now + timedelta(minutes=1))
    sub = submitter.Submitter(threads=1)
    with CaptureQueriesContext(connection) as queries:
        wait = sub.look(now=now)
    assert len(queries) == 1
    assert 39 <= wait <= 40
    assert taken_in_order(sub) == [due.pk]


# --- The rate limit ---------------------------------------------------------------------


def test_a_429_slows_that_teams_creates_without_failing_them(
    provider, alice, team_a, charlie, team_b, monkeypatch
):
    monkeypatch.setattr("studio.videos.wakeup.notify", lambda: None)
    first, second = generate(team_a, alice, "First"), generate(team_a, alice, "Second")
    other = generate(team_b, charlie, "Other team's")
    Generation.objects.filter(pk=first.pk).update(attempts=services.MAX_SUBMIT_ATTEMPTS - 1)
    provider.server.queue_fault("429:7", on="create")
    sub = submitter.Submitter(threads=1)
    sub.look()
    before = timezone.now()
    assert sub.take(block=False) == first.pk
    assert sub.send(first.pk)
    first.refresh_from_db()
    # Still queued, not counted as a failed try (it was one short of being refused), back after Retry-After.
    assert first.status == Status.QUEUED
    assert first.attempts == services.MAX_SUBMIT_ATTEMPTS - 1
    assert first.error_message == services.BUSY_MESSAGE
    assert first.next_poll_at >= before + timedelta(seconds=7) + services.QUEUED_GRACE
    # Team A waits, here and for every other submitter and the sweep (its queued rows wait as long); team B goes on.
    assert Generation.objects.get(pk=second.pk).next_poll_at == first.next_poll_at
    assert Generation.objects.get(pk=other.pk).next_poll_at < first.next_poll_at
    assert taken_in_order(sub) == [other.pk]
    assert sub.send(other.pk)
    assert Generation.objects.get(pk=other.pk).status == Status.PENDING
    assert Generation.objects.get(pk=second.pk).status == Status.QUEUED
    # Once the pause is over (as if 7 s went by), team A's creates go out, the 429'd one included.
    sub._paused.clear()
    assert taken_in_order(sub) == [second.pk]
    assert sub.send(second.pk)
    sub.look(now=first.next_poll_at - services.QUEUED_GRACE)
    assert taken_in_order(sub) == [first.pk]
    assert sub.send(first.pk)
    first.refresh_from_db()
    assert (first.status, first.error_message) == (Status.PENDING, "")
    assert len(provider.server.tasks) == 3


# --- Wake-ups ---------------------------------------------------------------------------


def test_a_notify_wakes_every_socket_listener_and_tidies_dead_ones(data_dir, monkeypatch):
    monkeypatch.setattr("studio.videos.wakeup.kind", lambda: "socket")  # the single-machine channel
    one, two = wakeup.SocketListener(), wakeup.SocketListener()
    dead = wakeup.SocketListener()
    dead._socket.close()  # a killed sweeper leaves its socket file behind
    try:
        assert not one.wait(0)
        wakeup.notify()
        wakeup.notify()
        assert one.wait(5) and two.wait(5)
        assert not one.wait(0)  # two notifies, one wake-up: drained
        assert not dead.path.exists()
    finally:
        one.close()
        two.close()
    assert not one.path.exists()


@pytest.mark.django_db(transaction=True)
def test_a_postgresql_notify_wakes_a_listener(alice, team_a):
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    listener = wakeup.listen()
    try:
        assert isinstance(listener, wakeup.PostgresListener)
        assert not listener.wait(0)
        wakeup.notify()
        assert listener.wait(10)
    finally:
        listener.close()


@pytest.mark.django_db(transaction=True)
def test_a_generation_is_sent_at_once_when_woken_without_waiting_for_the_interval(
    provider, alice, team_a, settings, data_dir
):
    # An hour between looks: only the wake-up sent at commit can make the create go out.
    settings.STUDIO_SWEEP_IDLE_INTERVAL = 3600
    settings.STUDIO_SWEEP_INTERVAL = 3600
    stop = threading.Event()
    woken = threading.Event()
    sub = submitter.Submitter(threads=2)
    thread = threading.Thread(target=sub.run, kwargs={"stop": stop, "on_wake": woken.set})
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not sub._listener.live and time.monotonic() < deadline:
            time.sleep(0.02)  # the submitter is listening
        generation = generate(team_a, alice)
        while (
            Generation.objects.get(pk=generation.pk).status in (Status.QUEUED, Status.SUBMITTING)
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        assert Generation.objects.get(pk=generation.pk).status == Status.PENDING
        assert woken.is_set()  # the sweep loop is told too
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(provider.server.tasks) == 1


@pytest.mark.django_db(transaction=True)
def test_a_lost_wake_up_is_picked_up_by_the_look_at_the_idle_interval(
    provider, alice, team_a, settings, data_dir, monkeypatch
):
    monkeypatch.setattr("studio.videos.wakeup.notify", lambda: None)  # every wake-up lost
    settings.STUDIO_SWEEP_IDLE_INTERVAL = 0.2
    generation = generate(team_a, alice)
    stop = threading.Event()
    thread = threading.Thread(target=submitter.Submitter(threads=1).run, kwargs={"stop": stop})
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while (
            Generation.objects.get(pk=generation.pk).status in (Status.QUEUED, Status.SUBMITTING)
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        assert Generation.objects.get(pk=generation.pk).status == Status.PENDING
    finally:
        stop.set()
        thread.join(timeout=60)


def test_with_no_submitter_at_all_the_sweep_sends_a_generation_queued_past_the_grace(
    provider, alice, team_a, monkeypatch
):
    monkeypatch.setattr("studio.videos.wakeup.notify", lambda: None)
    generation = generate(team_a, alice)
    assert not services.sweep(threads=0).done  # the submitter's to send, not yet the sweep's
    report = services.sweep(threads=0, now=timezone.now() + services.QUEUED_GRACE + timedelta(seconds=1))
    assert report.done["submit"] == 1
    assert Generation.objects.get(pk=generation.pk).status == Status.PENDING


# --- At rest ----------------------------------------------------------------------------


def test_at_rest_the_sweep_loop_makes_one_query_a_round_and_rounds_are_a_minute_apart(db, settings):
    loop = services.SweepLoop(interval=3.0, idle_interval=60.0, threads=0)
    loop.round()  # the first round does its chores (heartbeat, housekeeping's turn)
    with CaptureQueriesContext(connection) as queries:
        pauses = [loop.round() for _ in range(10)]
    assert pauses == [60.0] * 10
    # Only next_due: one query a round, so about one a minute.
    assert len(queries) == 10
    assert loop.passes == 0


def test_at_rest_the_submitter_looks_once_per_idle_interval(db, settings, data_dir):
    sub = submitter.Submitter(threads=1)
    sub._listener = wakeup.listen()
    try:
        with CaptureQueriesContext(connection) as queries:
            waits = [sub.round(idle=60.0, busy=3.0) for _ in range(10)]
    finally:
        sub._listener.close()
    assert waits == [60.0] * 10
    assert len(queries) == 10


def test_new_work_brings_the_idle_loop_back_to_the_busy_interval(alice, team_a, monkeypatch):
    monkeypatch.setattr("studio.videos.wakeup.notify", lambda: None)
    loop = services.SweepLoop(interval=3.0, idle_interval=60.0, threads=0)
    loop.round()
    generate(team_a, alice)  # queued: the sweep's safety net is due QUEUED_GRACE later
    assert loop.round() == 3.0
