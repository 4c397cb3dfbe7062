"""python manage.py demoprovider: run the local stand-in for EvoLink.

runstudio starts it as a subprocess in demo mode with
`--port {STUDIO_DEMO_PROVIDER_PORT} --allow-insecure-callbacks`; Ctrl-C or
SIGTERM stops it cleanly (the socket is released and its files removed).
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from studio.videos.demoprovider import FAULT_NAMES, DemoProvider, parse_fault


class Command(BaseCommand):
    help = "Run the demo video provider (the EvoLink contract, served locally)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
        parser.add_argument(
            "--port",
            type=int,
            default=settings.STUDIO_DEMO_PROVIDER_PORT,
            help="Port to listen on (default STUDIO_DEMO_PROVIDER_PORT).",
        )
        parser.add_argument(
            "--generation-seconds", type=float, default=8.0, help="How long a generation takes (default 8)."
        )
        parser.add_argument(
            "--result-ttl",
            type=float,
            default=24 * 3600,
            help="Seconds a result link stays valid (default 86400, as the real provider).",
        )
        parser.add_argument(
            "--allow-insecure-callbacks",
            action="store_true",
            help="Accept http:// and loopback/private callback URLs (for a local studio).",
        )
        parser.add_argument(
            "--fault",
            action="append",
            default=[],
            metavar="FAULT",
            help=f"Apply a fault to every matching request; repeatable. One of: {', '.join(FAULT_NAMES)} "
            "(with an optional :argument, e.g. slow:3, fail:content_policy_violation, 429:5).",
        )
        parser.add_argument("--big-file-mb", type=int, default=0, help="Pad served results to this many MB.")
        parser.add_argument(
            "--public-url",
            default="",
            help="Base URL written into result links (default: the listen address).",
        )
        parser.add_argument("--revoked-key", action="append", default=None, help="Keys answered with 401.")
        parser.add_argument(
            "--broke-key", action="append", default=None, help="Keys answered with 402 on create."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for fault in options["fault"]:
            try:
                parse_fault(fault)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        # Make sure the demo provider's own lines show even under a quiet root logger.
        logging.getLogger("studio.videos.demoprovider").setLevel(logging.INFO)
        try:
            server = DemoProvider(
                (options["host"], options["port"]),
                generation_seconds=options["generation_seconds"],
                result_ttl=options["result_ttl"],
                allow_insecure_callbacks=options["allow_insecure_callbacks"],
                faults=options["fault"],
                big_file_mb=options["big_file_mb"],
                public_url=options["public_url"],
                revoked_keys=options["revoked_key"] or ("sk-revoked",),
                broke_keys=options["broke_key"] or ("sk-broke",),
            )
        except OSError as exc:
            raise CommandError(f"Cannot listen on {options['host']}:{options['port']}: {exc}") from None

        def stop(signum: int, frame: object) -> None:
            # Turned into KeyboardInterrupt so serve_forever unwinds in the main thread.
            raise KeyboardInterrupt

        # SIGINT too: a process started in the background may inherit it ignored.
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"Demo provider listening on {server.base_url} (Ctrl-C to stop)")
        sys.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            self.stdout.write("Demo provider stopped.")
