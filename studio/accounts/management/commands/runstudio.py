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
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")
STOP_GRACE_SECONDS = 10


def gunicorn_command(host: str, port: int, web_workers: int) -> list[str]:
    """The web server as runstudio runs it (the gallery bench measures the same)."""
    return [
        sys.executable, "-m", "gunicorn", "studio.wsgi:application",
        "--bind", f"{host}:{port}",
        "--workers", str(web_workers),
        "--threads", "4",
        "--timeout", "120",
        # The gallery's live refresh names the cards on screen in its query string.
        "--limit-request-line", "8190",
        "--access-logfile", "-",
        "--logger-class", "studio.lib.gunicorn_logging.RedactingLogger",
        # gunicorn's control socket sits at one path per user (~/.gunicorn/gunicorn.ctl):
        # a second studio on the machine would take it over, and unlink it on exit.
        "--no-control-socket",
    ]  # fmt: skip


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
        if demo:
            parts["demo provider"] = [
                python, MANAGE, "demoprovider",
                "--host", "127.0.0.1",
                "--port", str(settings.STUDIO_DEMO_PROVIDER_PORT),
                "--allow-insecure-callbacks",
            ]  # fmt: skip

        children = self._start(parts)
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

    def _start(self, parts: dict[str, list[str]]) -> dict[str, subprocess.Popen]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "studio.settings"),
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
