"""django-q2 entry points: look the row up by id, call a service, report whether work was done.

Only short steps run here (a submit after Generate, a poll a callback asked
for), so they never wait behind the sweep, which is its own process
(`manage.py sweep`). Every task is safe to run twice (the services claim rows
with conditional updates), because django-q2 may run one again after a worker
dies (database broker) or lose one (Redis broker); the sweep picks up what gets lost.
"""

from __future__ import annotations

from studio.videos import services


def submit_generation(generation_id: int) -> bool:
    return services.submit_generation(generation_id=generation_id)


def poll_generation(generation_id: int) -> bool:
    return services.poll_generation(generation_id=generation_id)
