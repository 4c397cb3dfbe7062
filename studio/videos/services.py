"""Work that spans models or calls the provider: creating, submitting, polling, storing.

Generation rows are the truth about the work. Every step claims its row with a
conditional update (`filter(pk=..., status=...).update(...)`, then checks the
count), so two workers never move the same generation and any task may run
twice. A periodic sweep (`sweep`) polls what is due and reconciles what nobody
is moving, so a worker killed at any moment only delays a generation.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from studio.accounts.models import Team
from studio.videos import prompting
from studio.videos.models import Generation, Status

log = logging.getLogger(__name__)

# A queued generation whose submit task never ran (lost on the Redis broker, or
# a studio killed before the worker took it) is submitted by the sweep after this.
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
    return bool(public.startswith("http://") and getattr(settings, "STUDIO_CALLBACKS_ALLOW_HTTP", False))


def create_generation(
    *,
    team: Team,
    author: User | None,
    prompt: str,
    parts: dict[str, str],
    negatives: list[str],
    negative_text: str,
    duration: str,
    aspect_ratio: str,
    parent: Generation | None = None,
) -> Generation:
    """Store a generation with everything chosen, and queue its submit after commit."""
    parts = {key: (parts.get(key) or "").strip() for key in prompting.PARTS if (parts.get(key) or "").strip()}
    negatives = [key for key in prompting.NEGATIVES if key in negatives]
    compiled = prompting.compile_prompt(
        prompt=prompt, parts=parts, negatives=negatives, negative_text=negative_text
    )
    cost = estimate_for(duration)
    now = timezone.now()
    generation = Generation.objects.create(
        team=team,
        author=author,
        parent=parent,
        prompt=prompt,
        parts=parts,
        negatives=negatives,
        negative_text=negative_text,
        language=prompting.detect_language(" ".join([prompt, *parts.values(), negative_text])),
        compiled_prompt=compiled,
        duration=duration,
        aspect_ratio=aspect_ratio,
        estimated_tokens=cost.tokens,
        estimated_usd=cost.usd,
        status=Status.QUEUED,
        next_poll_at=now + QUEUED_GRACE,
    )
    pk = generation.pk
    transaction.on_commit(lambda: async_task("studio.videos.tasks.submit_generation", pk))
    return generation


def recent_generations(*, team: Team, author: User, limit: int = 6) -> list[Generation]:
    """The person's latest generations in this team, newest first, for the composer."""
    return list(Generation.objects.filter(team=team, author=author).order_by("-created", "-id")[:limit])


def new_callback_token() -> tuple[str, str]:
    """An unguessable token for the callback URL, and the sha256 hash that is stored."""
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).hexdigest()
