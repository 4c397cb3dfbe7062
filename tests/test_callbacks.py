"""The provider's callback: a secret per task, checked in constant time, and only ever a hint."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from studio.videos import services, tasks
from studio.videos.models import Generation, Status
from tests.test_pipeline import new_generation, reload, wait_for_provider

TOKEN = "a-secret-token-for-tests-only-0123456789abcdef"


@pytest.fixture
def enqueued(monkeypatch):
    calls: list[tuple] = []
    monkeypatch.setattr("studio.videos.services.async_task", lambda *args, **kw: calls.append(args))
    return calls


def hook(generation: Generation | str, token: str = TOKEN) -> str:
    code = generation.code if isinstance(generation, Generation) else generation
    return f"/hooks/evolink/{code}/{token}/"


def processing(team, author, **fields) -> Generation:
    generation = Generation.objects.create(
        team=team,
        author=author,
        prompt="p",
        compiled_prompt="p.",
        status=Status.PROCESSING,
        task_id="task-unified-1-abc",
        callback_token_hash=hashlib.sha256(TOKEN.encode()).hexdigest(),
        next_poll_at=timezone.now() + timedelta(seconds=25),
        **fields,
    )
    return generation


def post(client, url: str, body: dict | None = None):
    return client.post(
        url, json.dumps(body or {"id": "task-unified-1-abc", "status": "completed"}), "application/json"
    )


def test_a_valid_callback_queues_a_reread_at_once(
    client, alice, team_a, enqueued, django_capture_on_commit_callbacks
):
    generation = processing(team_a, alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, hook(generation))
    assert response.status_code == 204
    assert enqueued == [("studio.videos.tasks.poll_generation", generation.pk)]
    generation = reload(generation)
    assert generation.next_poll_at <= timezone.now()
    # The body is not believed: nothing but the poll time changed.
    assert generation.status == Status.PROCESSING
    assert generation.result_url == ""


@pytest.mark.parametrize(
    "path",
    [
        "wrong-token",
        "",
        TOKEN + "x",
        TOKEN[:-1],
    ],
)
def test_a_forged_token_changes_nothing(
    client, alice, team_a, enqueued, path, django_capture_on_commit_callbacks
):
    generation = processing(team_a, alice)
    before = reload(generation).next_poll_at
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, hook(generation, path))
    assert response.status_code == 204
    assert enqueued == []
    assert reload(generation).next_poll_at == before


def test_a_generation_without_a_callback_token_accepts_none(client, alice, team_a, enqueued):
    generation = processing(team_a, alice)
    Generation.objects.filter(pk=generation.pk).update(callback_token_hash="")
    assert post(client, hook(generation, "")).status_code == 204
    assert post(client, hook(generation, TOKEN)).status_code == 204
    assert enqueued == []


@pytest.mark.parametrize(
    "path",
    [
        "/hooks/evolink/not-a-uuid/x/",
        "/hooks/evolink/00000000-0000-0000-0000-000000000000/x/",
        "/hooks/evolink/a/b/c/d",
    ],
)
def test_unknown_tasks_and_odd_paths_get_a_quiet_204(client, db, enqueued, path):
    assert post(client, path).status_code == 204
    assert enqueued == []


def test_only_post_is_accepted(client, alice, team_a):
    generation = processing(team_a, alice)
    response = client.get(hook(generation))
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_the_token_never_reaches_a_log(
    client, alice, team_a, enqueued, caplog, django_capture_on_commit_callbacks
):
    generation = processing(team_a, alice)
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, hook(generation))
        post(client, hook(generation, TOKEN + "forged"))
        client.get(hook(generation))
        post(client, "/hooks/evolink/nonsense/" + TOKEN)
    assert caplog.records  # the valid one was logged...
    for record in caplog.records:
        assert TOKEN not in record.getMessage()  # ...without its token
        assert TOKEN not in str(getattr(record, "request", ""))


def test_duplicate_and_late_callbacks_change_nothing_twice(
    client, alice, team_a, enqueued, django_capture_on_commit_callbacks
):
    generation = processing(team_a, alice)
    Generation.objects.filter(pk=generation.pk).update(status=Status.READY, next_poll_at=None)
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, hook(generation)).status_code == 204
    assert enqueued == []
    generation = reload(generation)
    assert generation.status == Status.READY and generation.next_poll_at is None


def test_a_callback_naming_another_task_is_ignored(
    client, alice, team_a, enqueued, django_capture_on_commit_callbacks
):
    generation = processing(team_a, alice)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, hook(generation), {"id": "task-unified-someone-else", "status": "completed"})
    assert enqueued == []


# --- Against the demo provider ------------------------------------------------------------


@pytest.fixture
def http_callbacks(studio_on_demo_provider, settings):
    """Callbacks over plain http to the live server: the studio's test-only setting.

    It lets the client send an http callback URL; the demo provider here
    accepts it (allow_insecure_callbacks), where the real provider would not.
    """
    settings.STUDIO_CALLBACKS_ALLOW_HTTP = True
    settings.STUDIO_MIN_POLL_SECONDS = 3
    return studio_on_demo_provider


def test_out_of_order_callbacks_follow_the_provider_not_the_body(
    client, alice, team_a, http_callbacks, settings, enqueued, django_capture_on_commit_callbacks
):
    settings.STUDIO_PUBLIC_URL = "https://studio.example.org"
    http_callbacks.server.generation_seconds = 0.3
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    generation = reload(generation)
    sent = next(iter(http_callbacks.server.tasks.values()))
    assert sent.callback_url.startswith(f"https://studio.example.org/hooks/evolink/{generation.code}/")
    token = sent.callback_url.rstrip("/").rsplit("/", 1)[1]
    assert len(token) >= 40
    # Only the hash is stored.
    assert generation.callback_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(
        list(Generation.objects.values_list("provider_task", "usage", "error_message", "result_url"))
    )
    wait_for_provider(http_callbacks)
    # A stale "failed" arrives after the task completed: the re-read finds it completed.
    with django_capture_on_commit_callbacks(execute=True):
        post(client, hook(generation, token), {"id": generation.task_id, "status": "failed"})
    assert enqueued[-1] == ("studio.videos.tasks.poll_generation", generation.pk)
    tasks.poll_generation(generation.pk)
    assert reload(generation).status == Status.READY
    # Then an old "processing" one: nothing moves backwards.
    with django_capture_on_commit_callbacks(execute=True):
        post(client, hook(generation, token), {"id": generation.task_id, "status": "processing"})
    assert reload(generation).status == Status.READY


@pytest.mark.django_db(transaction=True)
def test_a_real_callback_from_the_provider_reaches_the_studio(
    live_server, alice, team_a, http_callbacks, settings, enqueued
):
    settings.STUDIO_PUBLIC_URL = live_server.url
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    generation = reload(generation)
    assert generation.next_poll_at > timezone.now() + timedelta(seconds=2)
    deadline = time.monotonic() + 20
    while not http_callbacks.server.callback_attempts and time.monotonic() < deadline:
        time.sleep(0.05)
    assert http_callbacks.server.callback_attempts[0]["status"] == 204
    assert enqueued[-1] == ("studio.videos.tasks.poll_generation", generation.pk)
    assert reload(generation).next_poll_at <= timezone.now()  # no waiting for the scheduled poll
    tasks.poll_generation(generation.pk)
    assert reload(generation).status == Status.READY


# --- A create sent again carries the very same callback URL ------------------------------


def test_a_create_sent_again_carries_the_same_callback_url_and_its_token_works(
    client, alice, team_a, settings, enqueued, monkeypatch, django_capture_on_commit_callbacks
):
    from tests.test_recovery import FakeGateway, fake_clients

    settings.STUDIO_PUBLIC_URL = "https://studio.example.org"
    settings.STUDIO_IDEMPOTENT_CREATES = True
    gateway = FakeGateway(faults=["drop_after_create"])
    fake_clients(monkeypatch, gateway)
    generation = new_generation(team_a, alice)
    tasks.submit_generation(generation.pk)
    assert services._resend(reload(generation), None) is False  # not due yet
    Generation.objects.filter(pk=generation.pk).update(next_poll_at=timezone.now())
    assert services._resend(reload(generation), None) is True

    first, second = gateway.creates()
    assert first.body == second.body  # the gateway's ledger sees the same create
    url = first.body["callback_url"]
    assert url.startswith(f"https://studio.example.org/hooks/evolink/{generation.code}/")
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert len(token) >= 40 and token not in json.dumps(list(Generation.objects.values()), default=str)
    generation = reload(generation)
    assert generation.status == Status.PENDING
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, hook(generation, token), {"id": generation.task_id}).status_code == 204
    assert enqueued[-1] == ("studio.videos.tasks.poll_generation", generation.pk)
