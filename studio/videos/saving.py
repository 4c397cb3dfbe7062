"""The saving stage: finished videos are saved apart from the polls, a few at a time (issue 17).

A poll that finds a task completed records it ("downloading", with the result
link, nobody holding it) and hands the row to this stage; the poll thread is
free at once, so a burst of finished videos never holds up the polls and
creates of other generations. The stage saves on its own small pool of
threads (STUDIO_SAVE_THREADS, default 3): saving is CPU (a frame decoded for
the poster) and memory (a decoder each), and more threads than cores only
cost memory.

Crash-safe as every other step: a handed-off row is claimed only when its save
starts (`services._store_again`, which counts the attempt), so a process killed
with saves still waiting leaves rows that any sweep takes on once their
hand-off grace (`services.SAVE_HANDOFF_GRACE`) is over, and one killed midway
leaves a claim that lapses, as before. Within a process a row is in hand at
most once; across processes the claim decides who saves.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections
from django.db.backends.base.base import BaseDatabaseWrapper

log = logging.getLogger(__name__)


class SaveStage:
    """A bounded pool that saves handed-off generations; one per sweeper process (or per sweep pass)."""

    def __init__(self, threads: int) -> None:
        self.threads = max(1, int(threads))
        self._lock = threading.Lock()
        self._in_hand: set[int] = set()
        self._futures: set[Future] = set()
        self._opened: list[BaseDatabaseWrapper] = []
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="save", initializer=self._share)
        self.saved = 0  # saves that did work
        self.errors = 0  # saves that raised

    def _share(self) -> None:
        # Each saving thread keeps its database connection between saves; `close` closes them all
        # (Django lets only the opening thread close a connection, unless told otherwise).
        wrapper = connections[DEFAULT_DB_ALIAS]
        wrapper.inc_thread_sharing()
        with self._lock:
            self._opened.append(wrapper)

    def hand(self, generation) -> bool:
        """Queue the save of a `downloading` row; False when this stage already has it in hand."""
        with self._lock:
            if generation.pk in self._in_hand:
                return False
            self._in_hand.add(generation.pk)
            future = self._pool.submit(self._save, generation)
            self._futures.add(future)
        future.add_done_callback(self._done)
        return True

    def in_hand(self) -> set[int]:
        with self._lock:
            return set(self._in_hand)

    def _done(self, future: Future) -> None:
        with self._lock:
            self._futures.discard(future)

    def _save(self, generation) -> bool | None:
        from studio.videos import services

        try:
            # As Django does around each request: a connection that broke or aged out is replaced.
            close_old_connections()
            did = services._store_again(generation)
            with self._lock:
                self.saved += bool(did)
            return did
        except Exception:
            log.exception("Saving generation %s failed", generation.code)
            with self._lock:
                self.errors += 1
            return None
        finally:
            with self._lock:
                self._in_hand.discard(generation.pk)

    def wait(self) -> None:
        """Until every save handed so far has ended."""
        while True:
            with self._lock:
                pending = list(self._futures)
            if not pending:
                return
            for future in pending:
                future.exception()

    def close(self, *, wait: bool = True) -> None:
        """Stop: with `wait`, after every queued save; without, the queued ones are dropped (their rows
        stay due for any sweep after the hand-off grace) and only those under way are finished."""
        self._pool.shutdown(wait=True, cancel_futures=not wait)
        with self._lock:
            opened, self._opened = self._opened, []
        for wrapper in opened:
            wrapper.close()
            wrapper.dec_thread_sharing()
