"""Two small tables that several machines share: heartbeats and the chores' turns."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """When a long-running process (the sweeper) last showed it was alive, and which one."""

    name = models.CharField(max_length=40, primary_key=True)
    at = models.DateTimeField()
    holder = models.CharField(max_length=200, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"


class Chore(models.Model):
    """A job that one machine of many runs at an interval (housekeeping).

    The process whose update moves `due_at` on first gets the turn; the others'
    updates then match no row. One statement, so it holds on SQLite and PostgreSQL.
    """

    name = models.CharField(max_length=40, primary_key=True)
    due_at = models.DateTimeField()
    holder = models.CharField(max_length=200, blank=True, default="")
    ran_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return f"{self.name} due {self.due_at:%Y-%m-%d %H:%M:%S}"
