"""django-q2 entry points: look the row up by id, call a service, report whether work was done.

Every task is safe to run twice (the services claim rows with conditional
updates), because django-q2 may run one again after a worker dies (database
broker) or lose one (Redis broker); the sweep reconciles what gets lost.
"""

from __future__ import annotations

from studio.videos import services


def submit_generation(generation_id: int) -> bool:
    return services.submit_generation(generation_id=generation_id)


def poll_generation(generation_id: int) -> bool:
    return services.poll_generation(generation_id=generation_id)


def store_generation(generation_id: int) -> bool:
    return services.store_generation(generation_id=generation_id)


def sweep() -> str:
    return str(services.sweep())


def run_sweeps() -> int:
    """The scheduled task (every minute): sweeps every few seconds until the next one starts."""
    return services.run_sweeps()
