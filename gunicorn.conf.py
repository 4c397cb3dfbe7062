"""gunicorn's settings for Omni Studio: the one place for them.

Everything that serves the studio with gunicorn reads this file: `manage.py
runstudio`, the Docker image, docker-compose and the gallery bench. Run it by
hand with `gunicorn -c gunicorn.conf.py` (gunicorn also finds it on its own in
this folder). Options on the command line win over this file; the environment
variables below change it without editing it.

- STUDIO_BIND: the address to listen on (default 127.0.0.1:8000; the image sets 0.0.0.0:8000).
- STUDIO_WEB_WORKERS: worker processes (default 2), each with 4 threads.
- STUDIO_WEB_SERVER: `async` (default) or `threads`, how each worker process serves.

`async`: gunicorn's asyncio worker owns the sockets and the studio's WSGI application runs
on 4 threads per process (studio.lib.wsgi_bridge). A thread computes an answer; the event
loop writes it, so a slow client (a video watched over a slow link) holds no thread while
its socket drains, and pages never wait behind video bytes. `threads`: gunicorn's threaded
worker as before (a thread per request until its last byte is sent), kept as a fallback.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

# The studio's package, whichever folder gunicorn was started from (`--config /app/gunicorn.conf.py`).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from studio.lib.env import env_int, env_str

chdir = str(Path(__file__).resolve().parent)
bind = [env_str("STUDIO_BIND", "127.0.0.1:8000")]
workers = env_int("STUDIO_WEB_WORKERS", 2, minimum=1)
_server = env_str("STUDIO_WEB_SERVER", "async").lower()
if _server == "async":
    worker_class = "asgi"
    # The thread count is the bridge's (studio.wsgi.WEB_THREADS); gunicorn's own is unused here.
    wsgi_app = "studio.wsgi:bridged"
elif _server == "threads":
    worker_class = "gthread"
    wsgi_app = "studio.wsgi:application"
    threads = 4
else:
    raise SystemExit(f"STUDIO_WEB_SERVER must be async or threads, not {_server!r}.")
# A request may wait on the database or the provider; the slowest page answers well within this.
timeout = 120
# The gallery's live refresh names the cards on screen in its query string.
limit_request_line = 8190
accesslog = "-"
# Access and error logs without the secrets some URLs carry, in STUDIO_LOG_FORMAT.
logger_class = "studio.lib.gunicorn_logging.RedactingLogger"


def _control_socket() -> str | None:
    """gunicorn's control socket, one per data folder and machine (None: none at all).

    gunicorn's default is one path per user ($XDG_RUNTIME_DIR or ~/.gunicorn), so a
    second studio on the machine would take it over and unlink it on exit. The data
    folder tells two studios apart; the host name, two containers sharing a volume.
    A Unix socket's path is limited to 107 bytes: past that, no control socket.
    """
    base = Path(__file__).resolve().parent
    data_dir = Path(env_str("STUDIO_DATA_DIR") or base / "data").resolve()
    host = "".join(c if c.isalnum() or c in "-_." else "_" for c in socket.gethostname())[:40] or "host"
    path = str(data_dir / f"gunicorn-{host}.ctl")
    return path if len(os.fsencode(path)) <= 107 else None


if _path := _control_socket():
    control_socket = _path
else:
    control_socket_disable = True
