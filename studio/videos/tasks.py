"""django-q2 entry points: look the row up by id, call a service, report whether work was done.

Only short steps run here (a poll a callback or an adopted task asked for),
so they never wait behind the sweep, which is its own process (`manage.py
sweep`). Creates do not come this way any more: the sweeper's submitter sends
them at commit (studio.videos.submitter); `submit_generation` stays for tasks
queued before that, and runs safely beside it (the submit claims its row). Every task is safe to run twice (the services claim rows
with conditional updates), because django-q2 may run one again after a worker
dies (database broker) or lose one (Redis broker); the sweep picks up what gets lost.
"""

from __future__ import annotations

from studio.videos import services


def submit_generation(generation_id: int) -> bool:
    return services.submit_generation(generation_id=generation_id)


def poll_generation(generation_id: int) -> bool:
    return services.poll_generation(generation_id=generation_id)
