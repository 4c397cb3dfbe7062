"""A WSGI application served by an asyncio (ASGI) server, on a few threads, without a thread per slow client.

gunicorn's threaded worker gives each request a thread until its last byte is written,
so eight people watching video over slow links hold all eight threads of two workers
and everyone else's pages wait. Here the event loop owns the sockets, and the threads
only compute: a request runs the WSGI application on one of `threads` threads (the
same bound as before), a buffered answer (every page: Django's HttpResponse) is
produced and closed on that thread, and a streamed one (the media views) is read one
chunk per turn on the pool, each chunk written by the loop, which waits with no thread
at all while a slow client drains its socket (gunicorn's ASGI worker applies the
transport's flow control).

What the application sees is the WSGI environ gunicorn's threaded worker gives it,
less gunicorn's private keys; the headers with an underscore in their name are dropped
as gunicorn does by default (they could pose as a proxy's). The request body is read
by the loop before the application runs (a slow upload holds no thread either), up to
`max_body` bytes (413 beyond), spooled to disk past 1 MB. A streamed answer stops as
soon as the client goes away. Framework-free: nothing here knows Django.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

SPOOL_BYTES = 1024 * 1024
_DONE = object()


class _Started:
    """What the application passed to start_response."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.called = False
        self.written: list[bytes] = []

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info=None) -> Callable:
        # PEP 3333 lets an error page replace the headers while nothing was sent; nothing
        # is sent before the application returns, so a second call simply wins.
        self.status = int(status.split(" ", 1)[0])
        self.headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        self.called = True
        return self.written.append  # PEP 3333's write(): kept and sent before the body


def _environ(scope: dict, body) -> dict[str, Any]:
    root = scope.get("root_path", "")
    path = scope["path"]
    if root and path.startswith(root):
        path = path[len(root) :]
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        # WSGI strings are the URL's bytes as latin-1; ASGI's path is decoded as UTF-8.
        "SCRIPT_NAME": root.encode("utf-8").decode("latin-1"),
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]) if server[1] is not None else "",
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").upper()
        if "_" in name:
            continue
        value = raw_value.decode("latin-1")
        if name == "CONTENT-TYPE":
            key = "CONTENT_TYPE"
        elif name == "CONTENT-LENGTH":
            key = "CONTENT_LENGTH"
        else:
            key = "HTTP_" + name.replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def _next_chunk(iterator: Iterator[bytes]) -> object:
    for chunk in iterator:
        if chunk:
            return chunk
    return _DONE


class WsgiBridge:
    """An ASGI application that runs `app` (WSGI) on at most `threads` threads."""

    def __init__(self, app: Callable, *, threads: int = 4, max_body: int = 16 * 1024 * 1024) -> None:
        self.app = app
        self.threads = threads
        self.max_body = max_body
        self._pool: ThreadPoolExecutor | None = None

    @property
    def pool(self) -> ThreadPoolExecutor:
        # Made in the serving process (gunicorn forks its workers after importing the app).
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="wsgi")
        return self._pool

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        # Anything else (websocket) is not served: returning closes it.

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._pool is not None:
                    await asyncio.get_running_loop().run_in_executor(None, self._pool.shutdown)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _read_body(self, receive: Callable):
        body = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - handed to the app
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body.close()
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                body.close()
                return "too big"
            body.write(chunk)
            if not message.get("more_body", False):
                body.seek(0)
                return body

    async def _http(self, scope: dict, receive: Callable, send: Callable) -> None:
        body = await self._read_body(receive)
        if body is None:
            return
        if body == "too big":
            await send({"type": "http.response.start", "status": 413, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        loop = asyncio.get_running_loop()
        started = _Started()
        try:
            result, buffered = await loop.run_in_executor(self.pool, self._run, scope, body, started)
        finally:
            body.close()
        await send({"type": "http.response.start", "status": started.status, "headers": started.headers})
        if buffered is not None:
            await send({"type": "http.response.body", "body": b"".join(started.written) + buffered})
            return
        await self._stream(result, started.written, loop, receive, send)

    def _run(self, scope: dict, body, started: _Started) -> tuple[Iterable[bytes] | None, bytes | None]:
        """On a pool thread: the application's answer, whole when it is buffered anyway."""
        environ = _environ(scope, body)
        environ["wsgi.file_wrapper"] = FileWrapper
        result = self.app(environ, started.start_response)
        if not isinstance(result, list | tuple) and getattr(result, "streaming", True):
            if not started.called:  # a generator application calls start_response as it starts
                iterator = iter(result)
                result = _Prepended(_next_chunk(iterator), iterator, result)
            return result, None
        # A buffered answer (Django's HttpResponse): joined and closed here, on the thread
        # that made it, so request_finished tidies up that thread's database connections.
        try:
            return None, b"".join(result)
        finally:
            if close := getattr(result, "close", None):
                close()

    async def _stream(self, result, written: list[bytes], loop, receive: Callable, send: Callable) -> None:
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.ensure_future(watch())
        iterator = iter(result)
        try:
            for chunk in written:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            while not gone.is_set():
                chunk = await loop.run_in_executor(self.pool, _next_chunk, iterator)
                if chunk is _DONE or gone.is_set():
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if not gone.is_set():
                await send({"type": "http.response.body", "body": b""})
        except OSError:  # the client went away while its socket drained (ASGI's ClientDisconnected)
            pass
        finally:
            watcher.cancel()
            if close := getattr(result, "close", None):
                try:
                    await loop.run_in_executor(self.pool, close)
                except (RuntimeError, asyncio.CancelledError):
                    close()  # the worker is stopping (its pool shut down, this task cancelled)


class _Prepended:
    """A WSGI iterable with its first chunk already read (to learn the headers)."""

    def __init__(self, first: object, rest: Iterator[bytes], result: Iterable[bytes]) -> None:
        self.first, self.rest, self.result = first, rest, result

    def __iter__(self) -> Iterator[bytes]:
        if self.first is not _DONE:
            yield self.first  # type: ignore[misc]
            yield from self.rest

    def close(self) -> None:
        if close := getattr(self.result, "close", None):
            close()


class FileWrapper:
    """wsgi.file_wrapper: a file sent in chunks of at least 64 KB (one turn on the pool each).

    Django hands a FileResponse's file (whitenoise's static files among them) to it; the
    default would be 4 KB reads, each a turn on the pool.
    """

    def __init__(self, filelike, block_size: int = 8192) -> None:
        self.filelike, self.block_size = filelike, max(block_size, 64 * 1024)

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.filelike.read(self.block_size):
            yield chunk

    def close(self) -> None:
        if close := getattr(self.filelike, "close", None):
            close()
