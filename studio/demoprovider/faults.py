"""Faults the demo provider can inject, to rehearse everything that goes wrong.

A fault is a name with an optional argument after a colon (``slow:3``). It comes
from a request header (``X-Demo-Fault``, that request only), from the queue
(``POST /_demo/faults``: the next ``count`` matching requests), or stands for
every matching request (``--fault`` on the command line), in that order.

==========================  =================================================
``429[:seconds]``           429 rate_limit_error with Retry-After (default 1)
``500``/``502``/``503``     that status with the documented JSON error body;
                            ``503:empty`` answers with no body at all (also
                            ``400``, ``401``, ``402``, ``403``, ``404``, ``413``)
``fail[:code]``             (create) the task is created and ends failed with
                            that error code (default content_policy_violation)
``slow[:seconds]``          handle the request, then wait (default 5 s) before
                            answering: a create still creates its task
``expired``                 (create) the result link is born expired;
                            (file) the file answers 410
``malformed``               handle the request, answer 200 with invalid JSON
``drop``                    read the request, close the connection unanswered
``drop_after_create``       (create) create the task, then drop the connection
``big[:megabytes]``         (file) pad the served MP4 to that size
==========================  =================================================
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

# What a request is, for matching faults: the create, any read of tasks (one, a
# batch or the list, and the balance), or a result file.
REQUEST_KINDS = ("create", "query", "file", "any")
FAULT_NAMES = (
    "400",
    "401",
    "402",
    "403",
    "404",
    "413",
    "429",
    "500",
    "502",
    "503",
    "fail",
    "slow",
    "expired",
    "malformed",
    "drop",
    "drop_after_create",
    "big",
)
# Faults that only make sense for one kind of request; the others apply to all.
FAULT_KINDS = {
    "fail": ("create",),
    "drop_after_create": ("create",),
    "expired": ("create", "file"),
    "big": ("file",),
}

Fault = tuple[str, str]


def parse_fault(spec: str) -> Fault:
    """'slow:3' -> ('slow', '3'). Raises ValueError for an unknown fault name."""
    name, _, arg = spec.strip().partition(":")
    name = name.strip().lower()
    if name not in FAULT_NAMES:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
    return name, arg.strip()


def applies(name: str, kind: str) -> bool:
    return kind in FAULT_KINDS.get(name, (kind,))


@dataclass
class QueuedFault:
    name: str
    arg: str
    on: str
    remaining: int


class Faults:
    """The queue and the standing faults of one server; safe to use from any thread."""

    def __init__(self, standing: Sequence[str] = ()) -> None:
        self.standing: list[Fault] = [parse_fault(f) for f in standing]
        self.queued: list[QueuedFault] = []
        self._lock = threading.Lock()

    def queue(self, fault: str, *, count: int = 1, on: str = "any") -> None:
        name, arg = parse_fault(fault)
        if on not in REQUEST_KINDS:
            raise ValueError(f"on must be one of {', '.join(REQUEST_KINDS)}")
        with self._lock:
            self.queued.append(QueuedFault(name, arg, on, max(1, int(count))))

    def clear(self) -> None:
        with self._lock:
            self.queued.clear()

    def take(self, kind: str, header: str | None) -> Fault | None:
        """The fault for this request: its header first, then the queue, then standing ones."""
        if header:
            name, arg = parse_fault(header)
            if applies(name, kind):
                return name, arg
        with self._lock:
            for queued in self.queued:
                if queued.on in (kind, "any") and applies(queued.name, kind):
                    queued.remaining -= 1
                    if queued.remaining <= 0:
                        self.queued.remove(queued)
                    return queued.name, queued.arg
        for name, arg in self.standing:
            if applies(name, kind):
                return name, arg
        return None

    def describe(self) -> dict:
        with self._lock:
            queued = [vars(f).copy() for f in self.queued]
        return {"queued": queued, "standing": [":".join(f) for f in self.standing]}
