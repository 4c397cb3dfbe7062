"""python manage.py demoprovider: run the local stand-in for EvoLink (studio/demoprovider/).

The same options as ``python -m studio.demoprovider``; only the default port
comes from the studio's settings (STUDIO_DEMO_PROVIDER_PORT).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from studio.demoprovider import cli


class Command(BaseCommand):
    help = "Run the demo video provider (the EvoLink contract, served locally)."

    def add_arguments(self, parser: CommandParser) -> None:
        cli.add_arguments(parser, default_port=settings.STUDIO_DEMO_PROVIDER_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            cli.serve(options, self.stdout.write)
        except cli.UsageError as exc:
            raise CommandError(str(exc)) from None
