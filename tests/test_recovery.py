"""A create whose answer was lost: sent again with the same key, or left to a person.

The gateway is tests/gateway.py's fake behind httpx.MockTransport (the HTTP is
not the point here); the end-to-end run against the demo provider is at the end.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from studio.videos import prompting, services, tasks
from studio.videos.evolink import EvolinkClient
from studio.videos.models import Generation, Status
from tests.gateway import FakeGateway


@pytest.fixture
def enqueued(monkeypatch):
    calls: list[tuple] = []
    monkeypatch.setattr("studio.videos.services.async_task", lambda *args, **kw: calls.append(args))
    return calls


def fake_clients(monkeypatch, gateway: FakeGateway) -> None:
    """Every provider client of the studio talks to this fake gateway."""

    def client_for_team(team, **options) -> EvolinkClient:
        return EvolinkClient(
            "https://api.example.org",
            "sk-test-key",
            transport=gateway.transport,
            sleep=lambda seconds: None,
            max_retries=int(options.get("max_retries", 0)),
        )

    monkeypatch.setattr("studio.videos.keys.client_for_team", client_for_team)


@pytest.fixture
def gateway(monkeypatch, settings, enqueued) -> FakeGateway:
    settings.STUDIO_PUBLIC_URL = ""
    settings.STUDIO_IDEMPOTENT_CREATES = True
    settings.STUDIO_UNKNOWN_RETRY_SECONDS = 30
    fake = FakeGateway()
    fake_clients(monkeypatch, fake)
    return fake


def new_generation(team, author) -> Generation:
    draft = prompting.Draft(
        prompt="A paper boat drifts down a rain-soaked street",
        parts={"camera": "low tracking shot"},
        negatives=("no_dialogue",),
        duration="5",
        aspect_ratio="16:9",
    )
    return services.create_generation(team=team, author=author, draft=draft)


def reload(generation: Generation) -> Generation:
    return Generation.objects.get(pk=generation.pk)


def later(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


class Clock:
    """Runs a sweep as if it were another moment: the claims and writes of its steps too."""

    def __init__(self, monkeypatch) -> None:
        self.monkeypatch = monkeypatch

    def sweep(self, at) -> services.SweepReport:
        with self.monkeypatch.context() as patch:
            patch.setattr("django.utils.timezone.now", lambda: at)
            return services.sweep(threads=0, now=at)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return Clock(monkeypatch)


# --- Re-sending with the same key -----------------------------------------------------


def test_a_lost_answer_is_sent_again_with_the_same_key_and_the_original_task_adopted(
    clock, alice, team_a, gateway
):
    gateway.faults = ["drop_after_create"]
    generation = new_generation(team_a, alice)

    assert tasks.submit_generation(generation.pk) is True
    waiting = reload(generation)
    assert waiting.status == Status.SUBMITTING and waiting.in_flight  # the studio is still on it
    assert waiting.error_code == "outcome_unknown" and waiting.claimed_until is None
    assert waiting.next_poll_at == waiting.submit_attempted_at + timedelta(seconds=30)
    assert "same request key" in waiting.error_message

    assert services.sweep(threads=0).done["resend"] == 0  # not before the interval
    assert clock.sweep(later(31)).done["resend"] == 1

    adopted = reload(generation)
    assert adopted.status == Status.PENDING
    assert adopted.task_id == next(iter(gateway.tasks))
    assert (adopted.error_code, adopted.error_message, adopted.attempts) == ("", "", 0)
    first, second = gateway.creates()
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == str(generation.code)
    assert first.body == second.body
    assert len(gateway.tasks) == 1
    # From here it is an ordinary generation in flight: polled like any other.
    gateway.tasks[adopted.task_id]["status"] = "processing"
    assert clock.sweep(later(60)).done["poll"] == 1
    assert reload(generation).status == Status.PROCESSING


def test_a_create_sent_again_at_most_once_per_interval(alice, team_a, gateway, settings, clock):
    settings.STUDIO_UNKNOWN_RETRY_SECONDS = 45
    gateway.honour_key = True
    gateway.faults = ["drop", "drop", "drop"]
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    start = reload(generation).submit_attempted_at

    sent = []
    for seconds in (10, 30, 44, 46, 50, 80, 120):
        clock.sweep(start + timedelta(seconds=seconds))
        sent.append(len(gateway.creates()))

    assert sent == [1, 1, 1, 2, 2, 2, 3]  # at 46 s, then 45 s after that re-send
    assert reload(generation).status == Status.SUBMITTING


def test_a_create_that_never_arrived_is_made_once_when_sent_again(clock, alice, team_a, gateway):
    gateway.faults = ["drop"]  # lost before the gateway made anything
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    assert gateway.tasks == {}

    clock.sweep(later(31))

    assert reload(generation).status == Status.PENDING
    assert len(gateway.tasks) == 1 and len(gateway.creates()) == 2


def test_a_worker_killed_during_the_create_is_resolved_once_its_claim_lapses(alice, team_a, gateway, clock):
    generation = new_generation(team_a, alice)
    # The worker claimed the row, the gateway made the task for its key, and the worker died.
    now = timezone.now()
    Generation.objects.filter(pk=generation.pk).update(
        status=Status.SUBMITTING,
        submit_attempted_at=now,
        next_poll_at=now + timedelta(seconds=30),
        claimed_until=now + timedelta(seconds=services.submit_claim_seconds()),
    )
    made = gateway.make_task(key=str(generation.code))

    assert clock.sweep(now + timedelta(seconds=31)).done["resend"] == 0  # its claim still holds
    lapse = services.submit_claim_seconds() + 1
    assert lapse < 120 - 3  # resolved within 2 minutes of the create, with a sweep every 3 s
    assert clock.sweep(now + timedelta(seconds=lapse)).done["resend"] == 1

    assert reload(generation).task_id == made["id"]
    assert len(gateway.tasks) == 1


def test_a_row_from_before_keys_is_never_sent_again(clock, alice, team_a, gateway):
    generation = new_generation(team_a, alice)
    Generation.objects.filter(pk=generation.pk).update(
        status=Status.SUBMITTING, claimed_until=timezone.now() - timedelta(seconds=1)
    )  # no attempt time: sent by a studio that sent no key

    assert clock.sweep(later(600)).done["abandoned"] == 1

    assert reload(generation).status == Status.UNKNOWN
    assert gateway.creates() == []


def test_a_resend_rejected_before_any_charge_fails_the_generation(clock, alice, team_a, gateway):
    gateway.faults = ["drop", (402, "insufficient_quota")]
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)

    clock.sweep(later(31))

    failed = reload(generation)
    assert failed.status == Status.FAILED and failed.error_code == "insufficient_quota"
    assert "Nothing was charged" in failed.error_message


def test_a_resend_refused_otherwise_is_left_to_a_person(clock, alice, team_a, gateway):
    gateway.faults = ["drop", (403, "permission_denied")]
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)

    clock.sweep(later(31))

    unknown = reload(generation)
    assert unknown.status == Status.UNKNOWN
    assert "may have been charged" in unknown.error_message
    assert "refused it when asked again" in unknown.error_message
    clock.sweep(later(3600))
    assert len(gateway.creates()) == 2


def test_a_busy_gateway_on_resend_waits_another_interval(clock, alice, team_a, gateway):
    gateway.faults = ["drop", (503, "")]
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)

    clock.sweep(later(31))

    waiting = reload(generation)
    assert waiting.status == Status.SUBMITTING and waiting.next_poll_at > timezone.now() + timedelta(
        seconds=25
    )


def test_resending_stops_after_an_hour(clock, alice, team_a, gateway):
    gateway.faults = ["drop"]
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    Generation.objects.filter(pk=generation.pk).update(created=timezone.now() - timedelta(hours=2))

    clock.sweep(later(31))

    assert reload(generation).status == Status.UNKNOWN
    assert len(gateway.creates()) == 1


# --- Re-sending off: wait and say so ----------------------------------------------------


def test_with_resending_off_a_lost_answer_waits_with_the_time_of_the_attempt(
    clock, alice, team_a, gateway, settings
):
    settings.STUDIO_IDEMPOTENT_CREATES = False
    gateway.faults = ["drop_after_create"]
    generation = new_generation(team_a, alice)

    tasks.submit_generation(generation.pk)
    clock.sweep(later(7200))

    unknown = reload(generation)
    assert unknown.status == Status.UNKNOWN and not unknown.in_flight
    assert unknown.error_message.startswith("Outcome unknown — may have been charged.")
    assert f"{timezone.localtime(unknown.submit_attempted_at):%Y-%m-%d %H:%M:%S}" in unknown.error_message
    assert len(gateway.creates()) == 1  # never sent again


def test_with_resending_off_a_killed_submit_is_marked_unknown(clock, alice, team_a, gateway, settings):
    settings.STUDIO_IDEMPOTENT_CREATES = False
    generation = new_generation(team_a, alice)
    now = timezone.now()
    Generation.objects.filter(pk=generation.pk).update(
        status=Status.SUBMITTING, submit_attempted_at=now, claimed_until=now + timedelta(seconds=5)
    )

    clock.sweep(later(600))
    unknown = reload(generation)
    assert unknown.status == Status.UNKNOWN and "may have been charged" in unknown.error_message
    assert gateway.creates() == []


# --- A team admin pastes the provider's task id ------------------------------------------


@pytest.fixture
def unknown(alice, team_a, gateway, settings) -> Generation:
    settings.STUDIO_IDEMPOTENT_CREATES = False
    gateway.faults = ["drop_after_create"]
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    generation = reload(generation)
    assert generation.status == Status.UNKNOWN
    return generation


def paste(client, generation: Generation, task_id: str):
    return client.post(reverse("generation_task", args=[generation.code]), {"task_id": task_id})


def test_a_team_admin_pastes_the_task_id_and_the_studio_fetches_it(
    alice_client, unknown, gateway, enqueued, django_capture_on_commit_callbacks
):
    task_id = next(iter(gateway.tasks))
    page = alice_client.get(reverse("generation_detail", args=[unknown.code]))
    assert b"Paste its task id" in page.content

    with django_capture_on_commit_callbacks(execute=True):
        response = paste(alice_client, unknown, f"  {task_id} ")

    assert response.status_code == 302
    adopted = reload(unknown)
    assert (adopted.status, adopted.task_id) == (Status.PENDING, task_id)
    assert adopted.next_poll_at <= timezone.now()
    assert enqueued[-1] == ("studio.videos.tasks.poll_generation", unknown.pk)
    assert len(gateway.creates()) == 1  # read, never created again


def test_a_pasted_task_of_another_model_is_refused(alice_client, unknown, gateway):
    other = gateway.make_task()
    other["model"] = "some-other-model"

    response = paste(alice_client, unknown, other["id"])

    assert response.status_code == 400
    assert "another model" in response.content.decode()
    assert reload(unknown).status == Status.UNKNOWN


def test_a_pasted_task_with_a_different_prompt_is_refused(alice_client, unknown, gateway):
    other = gateway.make_task()
    other["prompt"] = "A cat on a sofa"  # an undocumented field, checked where the task has it

    response = paste(alice_client, unknown, other["id"])

    assert response.status_code == 400 and "different prompt" in response.content.decode()
    assert reload(unknown).task_id == ""


def test_a_pasted_task_made_before_the_generation_is_refused(alice_client, unknown, gateway):
    other = gateway.make_task()
    other["created"] = int(time.time()) - 86400

    response = paste(alice_client, unknown, other["id"])

    assert response.status_code == 400 and "before this generation existed" in response.content.decode()


def test_a_pasted_task_the_provider_does_not_know_is_refused(alice_client, unknown):
    response = paste(alice_client, unknown, "task-unified-1-nosuchtask")

    assert response.status_code == 400
    assert "does not know that task" in response.content.decode()
    assert reload(unknown).status == Status.UNKNOWN


@pytest.mark.parametrize("task_id", ["", "not-a-task", "task-unified-" + "x" * 200, "task-unified-1/../2"])
def test_a_pasted_value_that_is_no_task_id_is_refused_without_asking(alice_client, unknown, gateway, task_id):
    asked = len(gateway.seen)
    response = paste(alice_client, unknown, task_id)
    assert response.status_code == 400
    assert len(gateway.seen) == asked


def test_a_task_already_adopted_elsewhere_is_refused(alice_client, alice, team_a, unknown, gateway):
    task_id = next(iter(gateway.tasks))
    Generation.objects.create(team=team_a, author=alice, prompt="x", compiled_prompt="x", task_id=task_id)

    response = paste(alice_client, unknown, task_id)

    assert response.status_code == 400 and "another generation" in response.content.decode()


def test_only_an_unknown_generation_takes_a_task_id(alice_client, alice, team_a, gateway):
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    task_id = gateway.make_task()["id"]

    response = paste(alice_client, reload(generation), task_id)

    assert response.status_code == 302
    assert reload(generation).task_id != task_id
    with pytest.raises(services.AdoptRefused, match="outcome is unknown"):
        services.adopt_task(generation=reload(generation), task_id=task_id)


def test_a_reviewer_may_not_paste_a_task_id(bob_client, unknown, gateway):
    response = paste(bob_client, unknown, next(iter(gateway.tasks)))
    assert response.status_code == 403
    assert reload(unknown).status == Status.UNKNOWN
    page = bob_client.get(reverse("generation_detail", args=[unknown.code]))
    assert b"Paste its task id" not in page.content


def test_another_team_gets_404(charlie_client, unknown, gateway):
    assert paste(charlie_client, unknown, next(iter(gateway.tasks))).status_code == 404


def test_pasting_needs_post(alice_client, unknown):
    assert alice_client.get(reverse("generation_task", args=[unknown.code])).status_code == 405


# --- End to end, over real HTTP to the demo provider (which honours the key) -------------


def test_a_lost_create_answer_ends_ready_with_one_task_at_the_provider(
    alice, team_a, studio_on_demo_provider, settings, enqueued, clock
):
    provider = studio_on_demo_provider
    settings.STUDIO_PUBLIC_URL = ""
    settings.STUDIO_IDEMPOTENT_CREATES = True
    provider.server.queue_fault("drop_after_create", on="create")
    generation = new_generation(team_a, alice)

    tasks.submit_generation(generation.pk)
    assert reload(generation).status == Status.SUBMITTING
    clock.sweep(later(31))  # sent again with the same key: the original task, replayed

    deadline = time.monotonic() + 60
    while reload(generation).status not in (Status.READY, Status.FAILED) and time.monotonic() < deadline:
        clock.sweep(later(60))
        time.sleep(0.2)
    ready = reload(generation)
    assert ready.status == Status.READY, ready.error_message
    report = provider.server.ledger_report()
    assert len(provider.server.tasks) == 1 and report["sent_twice"] == []
    assert report["keys"][str(generation.code)]["replays"] == 1
    assert report["billed_unfetched"] == []
    assert ready.task_id == next(iter(provider.server.tasks))
