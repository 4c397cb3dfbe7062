"""`manage.py sweep`: the loop that moves generations on, until SIGTERM or SIGINT.

It sends creates as they are made (its submitter, woken at commit), polls what
is due, saves finished videos and picks up work nobody is moving (see
`services.run_sweeper`). Run one beside the web server and the django-q2
workers; more on more machines are safe, since every unit claims its row.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from django.core.management.base import BaseCommand, CommandParser

from studio.videos import services


class Command(BaseCommand):
    help = "Polls in-flight generations and moves on what nobody is moving, until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval", type=float, default=None, help="Longest pause between passes, in seconds."
        )
        parser.add_argument("--threads", type=int, default=None, help="Units of work run at once.")

    def handle(self, *args, interval: float | None, threads: int | None, **options) -> None:
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            self.stdout.write(f"{signal.strsignal(signum)}, finishing…")
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.stdout.write("The sweep is running.")
        passes = services.run_sweeper(stop=stop, interval=interval, threads=threads)
        self.stdout.write(f"The sweep stopped after {passes} passes.")
