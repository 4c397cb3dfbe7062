"""The submitter: creates go out as soon as they are made, fairly between people, within the rate limit.

It runs in the sweeper's process (`services.run_sweeper` starts it) and sends
queued generations to the provider on a few threads of its own, so a create
never waits behind a sweep pass, a poll or a save, nor behind a worker queue.

- Woken at commit (`wakeup.notify`, called by `create_generation`), it reads
  the queued rows that are due and adds those it does not hold yet to one
  queue per person. The threads take from the queues in turn (round-robin), so
  a run of 24 takes never starves a colleague's single generation: her one is
  sent next, whatever is still waiting of the run.
- A 429 from the provider pauses that team's creates for its Retry-After (or
  a few seconds): the generation stays queued, is not counted as a failed
  attempt, and goes out once the pause is over. Other teams go on meanwhile.
- Each create is `services._submit`, unchanged: the "submitting" claim, the
  idempotency key and the unknown-outcome handling are the same as ever, and any
  number of submitters (one per sweeper, on every machine) may run: a row
  another one claimed is simply skipped.
- Without a wake-up (one lost, or the channel down) it still looks every
  STUDIO_SWEEP_IDLE_INTERVAL, and the sweep submits a row queued for longer
  than services.QUEUED_GRACE: a lost wake-up costs latency, never a stuck row.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from studio.videos import services, wakeup
from studio.videos.models import Generation, Status

log = logging.getLogger(__name__)

# How long a team's creates wait after a 429 that gave no Retry-After.
DEFAULT_BUSY_SECONDS = 5.0
# Queued rows one look reads at most (the rest come with the next look).
LOOK_BATCH = 2000
# The longest a wait for a wake-up lasts before it checks for a stop by itself.
STOP_SLICE = 5.0


def person_of(team_id: int, author_id: int | None) -> tuple[int, int | None]:
    """Whose turn a generation counts for: its author (within the team), or the team for one without."""
    return (team_id, author_id)


class Submitter:
    """Queues by person, taken in turn by the sending threads; pauses by team after a 429."""

    def __init__(self, *, threads: int | None = None, on_sent: Callable[[], None] | None = None) -> None:
        self.threads = max(1, int(settings.STUDIO_SUBMIT_THREADS if threads is None else threads))
        self._on_sent = on_sent or (lambda: None)
        self._cond = threading.Condition()
        # Insertion-ordered: the person at the front is next; one served moves to the back.
        self._queues: dict[tuple[int, int | None], deque[tuple[int, int]]] = {}
        self._held: set[int] = set()  # queued here or being sent
        self._paused: dict[int, float] = {}  # team id -> time.monotonic() it may send again
        self._stopping = False
        self._clients: services._Clients | None = None
        self._listener: wakeup.Listener = wakeup.Listener()
        self._listen_again_at = 0.0
        self._told_at = 0.0
        self.sent = 0

    # --- what a look at the rows finds --------------------------------------------------

    def look(self, now: datetime | None = None) -> float | None:
        """Take on the queued rows due now; returns seconds until the next one falls due (None: none queued).

        One query. A queued row's `next_poll_at` is when the sweep would take it
        (services.QUEUED_GRACE after it fell due), so it is due here that much earlier.
        """
        now = now or timezone.now()
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        # Read before taking the lock: the sending threads go on taking turns meanwhile.
        rows = list(
            Generation.objects.filter(free, status=Status.QUEUED)
            .order_by("next_poll_at", "pk")
            .values_list("pk", "team_id", "author_id", "next_poll_at")[:LOOK_BATCH]
        )
        horizon = now + services.QUEUED_GRACE
        later: float | None = None
        added = 0
        with self._cond:
            for pk, team_id, author_id, next_poll_at in rows:
                if next_poll_at is not None and next_poll_at > horizon:
                    later = (next_poll_at - horizon).total_seconds()
                    break
                if pk in self._held:
                    continue
                self._held.add(pk)
                self._queues.setdefault(person_of(team_id, author_id), deque()).append((pk, team_id))
                added += 1
            if added:
                self._cond.notify_all()
        return later

    # --- taking turns -------------------------------------------------------------------

    def take(self, *, block: bool = True) -> int | None:
        """The next generation to send: the first person in turn whose team is not paused.

        Blocks until there is one (or the submitter stops) unless `block` is False.
        """
        with self._cond:
            while not self._stopping:
                clock = time.monotonic()
                for person, queue in self._queues.items():
                    pk, team_id = queue[0]
                    if self._paused.get(team_id, 0.0) > clock:
                        continue
                    queue.popleft()
                    # Served: to the back of the line (or out of it).
                    del self._queues[person]
                    if queue:
                        self._queues[person] = queue
                    return pk
                if not block:
                    return None
                paused = [until for until in self._paused.values() if until > clock]
                self._cond.wait(min(paused) - clock if paused and self._queues else None)
            return None

    def busy(self, team_id: int, retry_after: float | None) -> None:
        """The provider answered 429 for this team: hold its creates back for a while."""
        seconds = min(max(retry_after or DEFAULT_BUSY_SECONDS, 0.5), 600.0)
        with self._cond:
            self._paused[team_id] = max(self._paused.get(team_id, 0.0), time.monotonic() + seconds)
        log.info("The provider is busy for team %s: its creates wait %.1fs", team_id, seconds)

    def send(self, pk: int) -> bool:
        """One create, as services._submit makes it; whether it did work."""
        try:
            generation = services._get(pk)
            return generation is not None and services._submit(
                generation, self._client_pool(), on_busy=self.busy
            )
        except Exception:
            log.exception("Submitter: the create of generation %s failed", pk)
            return False
        finally:
            with self._cond:
                self._held.discard(pk)
                self.sent += 1
                # The sweep is told of its new rows to poll once a burst is out (or every second
                # during one), not after each create: a first poll is seconds away anyway.
                clock = time.monotonic()
                tell = not self._held or clock - self._told_at >= 1.0
                if tell:
                    self._told_at = clock
            if tell:
                self._on_sent()

    def send_due(self) -> int:
        """Everything due, sent one after another in the calling thread (tests; no threads)."""
        self.look()
        count = 0
        while (pk := self.take(block=False)) is not None:
            count += bool(self.send(pk))
        self._drop_clients()
        return count

    def _client_pool(self) -> services._Clients:
        with self._cond:
            if self._clients is None:
                self._clients = services._Clients(connections=self.threads)
            return self._clients

    def _idle(self) -> bool:
        with self._cond:
            return not self._queues and not self._held

    def _drop_clients(self) -> None:
        """While idle: a team's key may change meanwhile, so the next create builds its client again."""
        with self._cond:
            clients, self._clients = self._clients, None
            self._paused = {team: until for team, until in self._paused.items() if until > time.monotonic()}
        if clients is not None:
            clients.close()

    # --- the loop -----------------------------------------------------------------------

    def _sender(self) -> None:
        try:
            while (pk := self.take()) is not None:
                # As around each request: a connection that broke or aged out is dropped first.
                close_old_connections()
                self.send(pk)
        finally:
            connection.close()

    def run(self, *, stop: threading.Event, on_wake: Callable[[], None] | None = None) -> None:
        """Send creates until `stop` is set: look at every wake-up, and at least every idle interval."""
        idle = float(settings.STUDIO_SWEEP_IDLE_INTERVAL)
        busy_interval = float(settings.STUDIO_SWEEP_INTERVAL)
        senders = [
            threading.Thread(target=self._sender, name=f"submit-{n}", daemon=True)
            for n in range(self.threads)
        ]
        for thread in senders:
            thread.start()
        self._listener = wakeup.listen()
        self._listen_again_at = time.monotonic() + 60
        threading.Thread(
            target=self._interrupt_on_stop, args=(stop,), name="submit-stop", daemon=True
        ).start()
        try:
            while not stop.is_set():
                close_old_connections()
                if self._wait(stop, self.round(idle=idle, busy=busy_interval)) and on_wake is not None:
                    on_wake()
        finally:
            self._listener.close()
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            for thread in senders:
                thread.join(timeout=60)
            self._drop_clients()
            connection.close()

    def round(self, *, idle: float, busy: float) -> float:
        """One look at the queued rows; how long to wait for a wake-up before the next (one query)."""
        try:
            later = self.look()
        except Exception:
            log.exception("Submitter: the queued generations could not be read")
            return busy
        if self._idle():
            self._drop_clients()
        wait = idle if later is None else min(idle, later)
        if not self._listener.live:
            # No wake-ups to be had: look as often as the sweep does.
            wait = min(wait, busy)
            if time.monotonic() >= self._listen_again_at:
                self._listen_again_at = time.monotonic() + 60
                self._listener = wakeup.listen()
        return wait

    def _interrupt_on_stop(self, stop: threading.Event) -> None:
        """A stop ends the wait for a wake-up at once (on Redis and PostgreSQL, harmlessly, every sweeper's)."""
        stop.wait()
        self._listener.interrupt()

    def _wait(self, stop: threading.Event, seconds: float) -> bool:
        """Wait for a wake-up, at most `seconds`, in slices of STOP_SLICE (no query meanwhile).

        A stop interrupts the wait (`_interrupt_on_stop`); the slices only bound a stop
        whose interruption was lost.
        """
        deadline = time.monotonic() + max(0.0, seconds)
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                if self._listener.wait(min(left, STOP_SLICE)):
                    return not stop.is_set()
            except Exception:
                # The channel broke (Redis or the database went away): open it again, later.
                log.warning("Wake-ups were interrupted; listening again", exc_info=True)
                self._listener.close()
                stop.wait(min(left, 1.0))
                self._listener = wakeup.listen()
        return False


def send_due() -> int:
    """What one wake-up makes a submitter do, in the calling thread: send every create due now."""
    return Submitter(threads=1).send_due()
