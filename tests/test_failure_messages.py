"""A row the studio has given up on never promises a retry that will not happen."""

from __future__ import annotations

import pytest
from django.utils import timezone

from studio.videos import services
from studio.videos.evolink import EvolinkError
from studio.videos.models import Generation, Status
from tests.factories import make_generation


@pytest.fixture
def provider(studio_on_demo_provider, settings, monkeypatch):
    settings.STUDIO_PUBLIC_URL = ""
    monkeypatch.setattr("studio.videos.services.async_task", lambda *args, **kwargs: None)
    return studio_on_demo_provider


def test_a_create_given_up_on_does_not_say_it_will_be_tried_again(team_a, alice, provider):
    provider.server.queue_fault("503", count=10, on="create")
    generation = make_generation(
        team_a,
        alice,
        status=Status.QUEUED,
        attempts=services.MAX_SUBMIT_ATTEMPTS - 1,
        next_poll_at=timezone.now(),
    )
    assert services.submit_generation(generation_id=generation.pk)
    generation = Generation.objects.get(pk=generation.pk)
    assert generation.status == Status.FAILED
    assert "after several tries" in generation.error_message
    assert "try again" not in generation.error_message


def test_a_poll_given_up_on_does_not_say_it_will_be_tried_again(team_a, alice, provider):
    provider.server.queue_fault("503", count=10, on="query")
    generation = make_generation(
        team_a,
        alice,
        status=Status.PENDING,
        task_id="task-unified-1-abc",
        submitted_at=timezone.now(),
        attempts=services.MAX_POLL_ATTEMPTS - 1,
    )
    assert services.poll_generation(generation_id=generation.pk)
    generation = Generation.objects.get(pk=generation.pk)
    assert generation.status == Status.FAILED
    assert "stopped asking" in generation.error_message
    assert "try again" not in generation.error_message


@pytest.mark.parametrize("status", [429, 500, 503, None])
def test_a_transient_error_says_it_is_retried_only_while_it_is(status):
    error = EvolinkError("busy", status=status)
    assert "will try again" in error.user_message
    assert "try again" not in error.describe(retrying=False)


def test_out_of_credits_says_what_to_do_once():
    """Our sentence says to top up and try again; the provider's suggestion would say it again."""
    error = EvolinkError(
        "The account's credits do not cover this task.",
        status=402,
        code="insufficient_user_quota",
        permanent=True,
        fallback_suggestion="Top up the account's credits, then try again.",
    )
    message = error.user_message
    assert message.lower().count("top") == 1 and message.count("try again") == 1
    assert "needs credits" in message and "Nothing was charged." in message
