"""The gateway's books: which create made which task under which idempotency key, and credits.

Idempotency, as EvoLink's gateway does it for its own clients:

- A create carrying ``Idempotency-Key`` (or ``X-Evo-Run-Id``, the same value)
  that the ledger has seen in the last 24 hours makes no task: the answer is
  the original task as it stands now, with ``Idempotency-Replayed: true``.
- The same key with a different request is refused with 422
  (``idempotency_key_reused``) and makes nothing, as the IETF
  Idempotency-Key draft and Stripe's ledger do: answering a task for another
  prompt would be worse than an error. "The same request" is the task it
  describes (model, prompt, duration and aspect ratio, defaults filled in);
  ``callback_url`` is left out, because it says where to report, not what to
  make, and a client that keeps only a hash of its callback secret must mint a
  new URL to re-send. The replayed task keeps its original callback.
- Only a create that made a task is recorded: one refused (400, 402, a
  fault before the task) leaves the key free for the next try.
- Keys are per account; the demo provider is one account, whatever the key.

Credits: every task reserves its price when created (``credits_reserved``);
the reservation is spent when it completes and returned when it fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from .tasks import DEFAULT_ASPECT_RATIO, DEFAULT_DURATION, IN_FLIGHT, MODEL, DemoTask

KEY_TTL = 24 * 3600
MAX_KEY_LENGTH = 255
DEFAULT_CREDITS = 1_000_000.0  # about USD 14,700: a demo never runs out unless asked to


class IdempotencyConflict(Exception):
    """The key was first used for a different request."""


def fingerprint(body: dict) -> str:
    """What makes two creates the same task (see the module docstring)."""
    return json.dumps(
        [
            body.get("model", MODEL),
            body["prompt"],
            body.get("duration", DEFAULT_DURATION),
            body.get("aspect_ratio", DEFAULT_ASPECT_RATIO),
        ]
    )


@dataclass
class KeyRecord:
    fingerprint: str
    first_seen: float
    task_ids: list[str] = field(default_factory=list)
    creates: int = 0  # valid creates that carried the key, replays included
    replays: int = 0


class Ledger:
    """Not locked itself: the server calls it under its own lock, with its tasks."""

    def __init__(self, *, honour_keys: bool = True, credits: float = DEFAULT_CREDITS) -> None:
        self.honour_keys = honour_keys
        self.credits = credits
        self.keys: dict[str, KeyRecord] = {}

    def replay(self, key: str, body: dict, tasks: dict[str, DemoTask], now: float) -> DemoTask | None:
        """The task to answer again for this key, or None when a new one must be made.

        Counts the create either way; raises IdempotencyConflict for a reused key.
        """
        record = self.keys.get(key)
        if record is None or now - record.first_seen > KEY_TTL:
            return None
        record.creates += 1
        if not self.honour_keys:
            return None
        if record.fingerprint != fingerprint(body):
            raise IdempotencyConflict(key)
        # The newest task of the key: one the server no longer has (a test dropped
        # it) cannot be replayed, so the create makes another.
        original = tasks.get(record.task_ids[-1])
        if original is not None:
            record.replays += 1
        return original

    def record(self, key: str, body: dict, task: DemoTask, now: float) -> None:
        """Note the task a create with this key made (after replay() said to make one)."""
        record = self.keys.get(key)
        if record is None or now - record.first_seen > KEY_TTL:
            record = self.keys[key] = KeyRecord(fingerprint(body), now, creates=1)
        record.task_ids.append(task.id)

    # Credits

    def remaining(self, tasks: Iterable[DemoTask]) -> float:
        """What the account may still reserve: its credits less spent and held ones."""
        spent_or_held = sum(t.credits_reserved if t.status in IN_FLIGHT else t.credits_used for t in tasks)
        return round(self.credits - spent_or_held, 2)

    def balance(self, tasks: list[DemoTask], key_digest: str) -> dict:
        """The body of GET /v1/credits, for the account and the calling key."""
        remaining = self.remaining(tasks)
        used_by_key = sum(t.credits_used for t in tasks if t.key_digest == key_digest)
        return {
            "data": {
                "user": {"remaining_credits": remaining},
                # Demo keys have no limit of their own: the account's balance is theirs.
                "token": {
                    "used_credits": round(used_by_key, 2),
                    "remaining_credits": remaining,
                    "unlimited_credits": True,
                },
            }
        }

    # What tests and drills read

    def report(self, tasks: list[DemoTask]) -> dict:
        """Creates and tasks per key, what was billed and what was fetched.

        ``sent_twice`` lists the keys that made more than one task (only possible
        when the ledger does not honour keys, or after a key expired);
        ``billed_unfetched`` the completed (so charged) tasks whose result file
        was never downloaded in full.
        """
        keys = {
            key: {"creates": r.creates, "replays": r.replays, "tasks": list(r.task_ids)}
            for key, r in self.keys.items()
        }
        return {
            "keys": keys,
            "tasks": [
                {
                    "id": t.id,
                    "idempotency_key": t.idempotency_key,
                    "status": t.status,
                    "billed": t.status == "completed",
                    "credits_used": t.credits_used,
                    "downloads": t.downloads,
                }
                for t in tasks
            ],
            "sent_twice": sorted(key for key, r in self.keys.items() if len(r.task_ids) > 1),
            "billed_unfetched": [t.id for t in tasks if t.status == "completed" and not t.downloads],
            "unkeyed_tasks": sum(1 for t in tasks if not t.idempotency_key),
            "credits": {"granted": self.credits, "remaining": self.remaining(tasks)},
        }
