"""The demo provider's command line, shared by ``python -m studio.demoprovider`` and
``python manage.py demoprovider`` (runstudio starts the latter in demo mode with
``--port {STUDIO_DEMO_PROVIDER_PORT} --allow-insecure-callbacks``).

Ctrl-C or SIGTERM stops it cleanly: the socket is released and its files removed.
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

from .faults import FAULT_NAMES, parse_fault
from .render import RENDERS
from .server import DemoProvider

DEFAULT_PORT = 8765


class UsageError(Exception):
    """A bad option or a port that cannot be had; the message says which."""


def add_arguments(parser: argparse.ArgumentParser, *, default_port: int = DEFAULT_PORT) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
    parser.add_argument(
        "--port", type=int, default=default_port, help=f"Port to listen on (default {default_port})."
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
        "--render",
        choices=RENDERS,
        default="full",
        help="full: draw each prompt (default); tiny: one plain clip per shape, made once.",
    )
    parser.add_argument(
        "--ignore-idempotency-key",
        action="store_true",
        help="Make a new task for every create, as a gateway without an idempotency ledger would.",
    )
    parser.add_argument(
        "--credits", type=float, default=None, help="The account's starting credits (default 1,000,000)."
    )
    parser.add_argument(
        "--public-url", default="", help="Base URL written into result links (default: the listen address)."
    )
    parser.add_argument("--revoked-key", action="append", default=None, help="Keys answered with 401.")
    parser.add_argument(
        "--broke-key", action="append", default=None, help="Keys answered with 402 on create."
    )


def build_server(options: dict[str, Any]) -> DemoProvider:
    """A DemoProvider from parsed options; UsageError when they do not make one."""
    for fault in options["fault"]:
        try:
            parse_fault(fault)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    extra = {} if options["credits"] is None else {"credits": options["credits"]}
    try:
        return DemoProvider(
            (options["host"], options["port"]),
            generation_seconds=options["generation_seconds"],
            result_ttl=options["result_ttl"],
            allow_insecure_callbacks=options["allow_insecure_callbacks"],
            faults=options["fault"],
            big_file_mb=options["big_file_mb"],
            render=options["render"],
            honour_idempotency=not options["ignore_idempotency_key"],
            public_url=options["public_url"],
            revoked_keys=options["revoked_key"] or ("sk-revoked",),
            broke_keys=options["broke_key"] or ("sk-broke",),
            **extra,
        )
    except OSError as exc:
        where = f"{options['host']}:{options['port']}"
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"Cannot listen on {where}: the port is already in use (another demo provider or "
                "studio?). Choose a free one with --port; for `manage.py runstudio` and "
                "`manage.py demoprovider`, set STUDIO_DEMO_PROVIDER_PORT."
            ) from None
        raise UsageError(f"Cannot listen on {where}: {exc.strerror or exc}") from None


def serve(options: dict[str, Any], write: Callable[[str], Any]) -> None:
    """Listen until SIGTERM or Ctrl-C, writing a line when listening and one when stopped."""
    server = build_server(options)
    # Make sure the demo provider's own lines show even under a quiet root logger.
    logging.getLogger("studio.demoprovider").setLevel(logging.INFO)

    def stop(signum: int, frame: object) -> None:
        # Turned into KeyboardInterrupt so serve_forever unwinds in the main thread.
        raise KeyboardInterrupt

    # SIGINT too: a process started in the background may inherit it ignored.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    write(f"Demo provider listening on {server.base_url} (Ctrl-C to stop)")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        write("Demo provider stopped.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m studio.demoprovider", description="Serve EvoLink's video API locally."
    )
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        serve(options, print)
    except UsageError as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
