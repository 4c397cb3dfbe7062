"""One command runs the whole studio: web server, background worker, sweeper
and, with no EvoLink key, the demo provider.

It prepares the database and static files, then starts each part as a child
process and stays in the foreground. Ctrl-C (SIGINT) or SIGTERM stops them all;
if one part dies, the others are stopped too so that nothing half-runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")
STOP_GRACE_SECONDS = 10


GUNICORN_CONF = str(Path(settings.BASE_DIR) / "gunicorn.conf.py")


def gunicorn_command(host: str, port: int, web_workers: int) -> list[str]:
    """The web server as runstudio runs it (the gallery bench measures the same).

    Every other setting, the control socket's place included, is in gunicorn.conf.py.
    """
    return [
        sys.executable, "-m", "gunicorn",
        "--config", GUNICORN_CONF,
        "--bind", f"{host}:{port}",
        "--workers", str(web_workers),
    ]  # fmt: skip


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (bound as gunicorn and the demo provider bind)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return True  # not ours to judge: the server says what is wrong with the address
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, chosen by the system."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _next_free_port(host: str, port: int) -> int | None:
    return next((p for p in range(port + 1, min(port + 50, 65536)) if port_is_free(host, p)), None)


class Command(BaseCommand):
    help = "Apply migrations, collect static files, and run the web server, worker and sweeper together."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on (default 8000).")
        parser.add_argument(
            "--web-workers", type=int, default=2, help="gunicorn worker processes (default 2)."
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="Run the web server only (no worker, no sweeper)."
        )

    def handle(self, *args, host: str, port: int, web_workers: int, no_worker: bool, **options) -> None:
        if not port_is_free(host, port):
            other = _next_free_port(host, port)
            hint = f" (for example --port {other})" if other else ""
            raise CommandError(
                f"Port {port} on {host} is already in use (another studio or server?). "
                f"Start the studio on another port with --port{hint}."
            )
        self.stdout.write("Preparing the database…")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Collecting static files…")
        call_command("collectstatic", interactive=False, verbosity=0)

        python = sys.executable
        parts: dict[str, list[str]] = {
            "web": gunicorn_command(host, port, web_workers),
        }
        if not no_worker:
            parts["worker"] = [python, MANAGE, "qcluster"]
            parts["sweeper"] = [python, MANAGE, "sweep"]
        demo = not settings.EVOLINK_API_KEY
        env: dict[str, str] = {}
        if demo:
            demo_port = settings.STUDIO_DEMO_PROVIDER_PORT
            if not port_is_free("127.0.0.1", demo_port):
                taken, demo_port = demo_port, free_port()
                self.stdout.write(
                    f"The demo provider's port {taken} is in use (another studio on this machine?): "
                    f"this studio's demo provider uses port {demo_port} instead. To choose it, "
                    "set STUDIO_DEMO_PROVIDER_PORT."
                )
                # The web server, worker and sweeper find the demo provider through this setting.
                env["STUDIO_DEMO_PROVIDER_PORT"] = str(demo_port)
            parts["demo provider"] = [
                python, MANAGE, "demoprovider",
                "--host", "127.0.0.1",
                "--port", str(demo_port),
                "--allow-insecure-callbacks",
            ]  # fmt: skip

        children = self._start(parts, env)
        shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host  # noqa: S104
        url = settings.STUDIO_PUBLIC_URL or f"http://{shown_host}:{port}"
        self.stdout.write(self.style.SUCCESS(f"\nOmni Studio is running: open {url}/"))
        if demo:
            self.stdout.write(
                "Demo mode: no EVOLINK_API_KEY is set, so videos are generated locally by the demo provider."
            )
        self.stdout.write("Press Ctrl-C to stop.\n")
        code = self._supervise(children)
        sys.exit(code)

    def _start(self, parts: dict[str, list[str]], extra_env: dict[str, str]) -> dict[str, subprocess.Popen]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "studio.settings"),
            **extra_env,
        }
        children = {}
        for name, argv in parts.items():
            # Each part leads its own process group, so that stopping it also
            # stops what it started (django-q2's worker processes, gunicorn's).
            children[name] = subprocess.Popen(argv, cwd=settings.BASE_DIR, env=env, start_new_session=True)
        return children

    def _supervise(self, children: dict[str, subprocess.Popen]) -> int:
        stopping = False

        def request_stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(
                        f"The {name} stopped (exit code {child.returncode}); stopping the studio."
                    )
                    exit_code = child.returncode or 1
                    stopping = True
                    break
            time.sleep(0.5)
        self.stdout.write("Stopping…")
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            # A django-q2 worker busy with a task can outlive its parent: end the
            # whole group. Every task and sweep unit is safe to run again later.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
        self.stdout.write("Stopped.")
        return exit_code
