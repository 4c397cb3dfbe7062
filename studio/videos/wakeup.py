"""Wake-ups: "there is new work", sent at commit and heard by the sweepers without a query loop.

A wake-up is only ever a hint. Whoever hears one looks at the rows (the truth),
and a wake-up lost (a sweeper restarting, a full buffer, Redis away) only costs
latency: the sweeper still looks by itself every STUDIO_SWEEP_IDLE_INTERVAL.

One channel per set-up, chosen from the settings:
- REDIS_URL: Redis pub/sub; a sweeper blocks on its subscription (a blocking
  read, no polling), on any number of machines.
- PostgreSQL without Redis: LISTEN/NOTIFY on a connection of the sweeper's own.
- Otherwise (SQLite, one machine): a datagram socket per listening process in
  the data folder (`wake/`); a notify sends one datagram to each.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

log = logging.getLogger(__name__)

CHANNEL = "studio_wake"
# The longest path a Unix socket may have (sun_path, with its terminating NUL).
_MAX_SOCKET_PATH = 107


def kind() -> str:
    """Which channel this set-up uses: "redis", "postgres" or "socket"."""
    if settings.REDIS_URL:
        return "redis"
    if connection.vendor == "postgresql":
        return "postgres"
    return "socket"


def socket_dir() -> Path:
    return Path(settings.DATA_DIR) / "wake"


def channel_name() -> str:
    # Studios sharing one Redis keep apart by their queue's name, as django-q2 does.
    return f"{settings.Q_CLUSTER.get('name', 'studio')}:{CHANNEL}"


# --- Sending -------------------------------------------------------------------------

_redis_lock = threading.Lock()
_redis_client = None


def _redis():
    global _redis_client
    with _redis_lock:
        if _redis_client is None:
            import redis

            _redis_client = redis.Redis.from_url(
                settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
            )
        return _redis_client


def notify() -> None:
    """Tell every listening sweeper to look now. Never raises: a lost wake-up only costs latency."""
    try:
        channel = kind()
        if channel == "redis":
            _redis().publish(channel_name(), b"1")
        elif channel == "postgres":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])
        else:
            _notify_sockets()
    except Exception:
        log.warning("A wake-up could not be sent; the sweeper's own look picks the work up", exc_info=True)


def _notify_sockets() -> None:
    directory = socket_dir()
    if not directory.is_dir():
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for path in directory.glob("*.sock"):
            try:
                sender.sendto(b"1", str(path))
            except BlockingIOError:
                pass  # its buffer is full of wake-ups already: it will look anyway
            except (ConnectionRefusedError, FileNotFoundError):
                # Nobody listens there any more (a killed sweeper): tidy it away.
                with contextlib.suppress(OSError):
                    path.unlink()


# --- Listening -----------------------------------------------------------------------


class Listener:
    """What a sweeper waits on. `wait` returns True when woken, False after `timeout`.

    `live` is False when the channel could not be opened (then `wait` only
    sleeps, and the caller looks at its shorter busy interval instead).
    """

    live = False

    def wait(self, timeout: float) -> bool:
        self._closed.wait(max(0.0, timeout))
        return False

    def close(self) -> None:
        self._closed.set()

    def interrupt(self) -> None:
        """End a `wait` under way now, from another thread (a stop)."""
        self._closed.set()

    def __init__(self) -> None:
        self._closed = threading.Event()


class SocketListener(Listener):
    def __init__(self) -> None:
        super().__init__()
        directory = socket_dir()
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
        if len(str(self.path)) > _MAX_SOCKET_PATH:
            raise OSError(f"the data folder's path is too long for a socket ({self.path})")
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(self.path))
        self._socket.setblocking(False)
        self.live = True

    def wait(self, timeout: float) -> bool:
        readable, _, _ = select.select([self._socket], [], [], max(0.0, timeout))
        woken = False
        if readable:
            # Many wake-ups in a row are one look.
            with contextlib.suppress(BlockingIOError):
                while self._socket.recv(64):
                    woken = True
        return woken

    def interrupt(self) -> None:
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"1", str(self.path))

    def close(self) -> None:
        super().close()
        with contextlib.suppress(OSError):
            self.path.unlink()
        self._socket.close()


class PostgresListener(Listener):
    def __init__(self) -> None:
        super().__init__()
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self._conn = psycopg.connect(**params, autocommit=True)
        self._conn.execute(f"LISTEN {CHANNEL}")
        self.live = True

    def wait(self, timeout: float) -> bool:
        woken = False
        for _notice in self._conn.notifies(timeout=max(0.0, timeout), stop_after=1):
            woken = True
        if woken:
            # Drain what came in the same moment without waiting.
            for _notice in self._conn.notifies(timeout=0):
                pass
        return woken

    def interrupt(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])
        except Exception:
            log.debug("Could not interrupt the listener", exc_info=True)
        finally:
            connection.close()

    def close(self) -> None:
        super().close()
        with contextlib.suppress(Exception):
            self._conn.close()


class RedisListener(Listener):
    def __init__(self) -> None:
        super().__init__()
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5)
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(channel_name())
        self.live = True

    def wait(self, timeout: float) -> bool:
        woken = self._pubsub.get_message(timeout=max(0.0, timeout)) is not None
        while woken and self._pubsub.get_message(timeout=0) is not None:
            pass
        return woken

    def interrupt(self) -> None:
        with contextlib.suppress(Exception):
            _redis().publish(channel_name(), b"1")

    def close(self) -> None:
        super().close()
        with contextlib.suppress(Exception):
            self._pubsub.close()


def listen() -> Listener:
    """A listener on this set-up's channel; one that only sleeps when the channel cannot be opened."""
    channel = kind()
    try:
        if channel == "redis":
            return RedisListener()
        if channel == "postgres":
            return PostgresListener()
        return SocketListener()
    except Exception:
        log.warning(
            "Wake-ups (%s) are off: the sweeper looks every few seconds instead", channel, exc_info=True
        )
        return Listener()
