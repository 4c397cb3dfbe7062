"""Heartbeats: one row per kind of process, moved on by whichever of them went round last."""

from __future__ import annotations

import os
import socket
from datetime import datetime

from django.utils import timezone

from studio.ops.models import Heartbeat

SWEEPER = "sweeper"


def holder() -> str:
    """This process, as heartbeats and chores name it: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def beat(name: str, *, now: datetime | None = None) -> None:
    """Record that `name` is alive now: one UPDATE (an INSERT the first time)."""
    now = now or timezone.now()
    if not Heartbeat.objects.filter(name=name).update(at=now, holder=holder()):
        # get_or_create: another process may have inserted it in the meantime.
        Heartbeat.objects.get_or_create(name=name, defaults={"at": now, "holder": holder()})


def last_beat(name: str) -> Heartbeat | None:
    return Heartbeat.objects.filter(name=name).first()
