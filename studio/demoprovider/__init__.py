"""A local stand-in for EvoLink's video API, for demo mode and tests.

A separate program: it imports nothing of the studio (a test holds it to that),
so it could be lifted out whole. ``python -m studio.demoprovider`` or
``python manage.py demoprovider`` runs it; tests use ``start_in_thread()``.

It speaks the same contract as the real gateway (/work/shared/evolink-api.md):

- ``POST /v1/videos/generations`` validates the body exactly as documented and
  answers the task object, or the documented error body
  ``{"error": {"code", "message", "type", "param"}}``. ``Idempotency-Key`` (or
  ``X-Evo-Run-Id``) makes a re-sent create answer the original task with
  ``Idempotency-Replayed: true`` (rules in ``ledger.py``).
- ``GET /v1/tasks/{id}`` answers the task object; unknown ids get 404.
- ``POST /v1/tasks/batch`` with ``{"task_ids": [...]}`` (at most 50) answers
  ``{"data": [task, ...]}`` in the order asked, unknown ids absent.
- ``GET /v1/tasks?status=&type=video&model=&page=1&page_size=20`` lists the
  account's tasks newest first (page_size at most 50), short items without
  result links: ``{"data": [...], "total", "page", "page_size"}``.
- ``GET /v1/credits`` answers the balance: a task reserves its price when
  created, spends it when completed, gets it back when it fails. A create the
  balance cannot cover is 402 ``insufficient_user_quota``.
- Bearer auth on all: no key or an empty one gets 401. Any other key works,
  except the revoked keys (default ``sk-revoked``: 401 everywhere) and the broke
  keys (default ``sk-broke``: 402 on create).
- A task goes pending -> processing -> completed over ``generation_seconds``;
  its result is a real MP4 (``render.py``) served from ``GET /files/<token>.mp4``
  until it expires (``result_ttl``, 24 hours by default; 410 after, 404 for
  unknown). ``render="tiny"`` serves a plain clip of the same shape, encoded
  once per process, for tests that do not look at the picture.
- Callbacks: when a task finishes, its object is POSTed to ``callback_url``;
  a non-2xx answer is retried 3 times after 1, 2 and 4 s, 10 s timeout each.
  Only https callback URLs on public hosts are accepted, as the contract says,
  unless the server allows insecure callbacks (``--allow-insecure-callbacks``)
  so a local studio can be called back over plain http on loopback.

Control routes, for tests and drills (no auth):

- ``POST /_demo/faults`` with ``{"fault": "503", "count": 1, "on": "create"}``
  queues a fault for the next ``count`` matching requests (``on`` is
  ``create``, ``query`` (any task or balance read), ``file`` or ``any``);
  ``DELETE`` clears the queue, ``GET`` lists it. A request header
  ``X-Demo-Fault: <fault>`` applies to that one request; ``--fault`` to all.
  The faults are listed in ``faults.py``.
- ``GET /_demo/tasks``: every task object so far, in creation order.
- ``GET /_demo/ledger``: creates, replays and tasks per idempotency key, which
  tasks were billed and how often their result was downloaded, with
  ``sent_twice`` and ``billed_unfetched`` (also ``server.ledger_report()``).
- ``POST /_demo/config`` with any of ``generation_seconds``, ``result_ttl``,
  ``big_file_mb``, ``render``, ``honour_idempotency``, ``credits``,
  ``batch_reads`` changes them while running. ``batch_reads`` (``"on"``) switches
  the batch read off as a gateway without it would answer: ``"404"``, ``"405"``,
  ``"501"`` or ``"malformed"`` (a 200 without a ``data`` list).

Everything is kept in memory (``server.tasks`` in creation order,
``server.callback_attempts``, ``server.requests_seen``) for tests to assert on.
"""

from __future__ import annotations

from .faults import FAULT_NAMES, parse_fault
from .render import pick_duration, pick_size, render_video, tiny_clip
from .server import DemoProvider, start_in_thread
from .tasks import MODEL, DemoTask

__all__ = [
    "FAULT_NAMES",
    "MODEL",
    "DemoProvider",
    "DemoTask",
    "parse_fault",
    "pick_duration",
    "pick_size",
    "render_video",
    "start_in_thread",
    "tiny_clip",
]
