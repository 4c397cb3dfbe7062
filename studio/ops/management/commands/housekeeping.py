"""`manage.py housekeeping`: clear expired sessions, old invitations, sign-in records and temporary files now.

The sweeper does this on its own every STUDIO_HOUSEKEEPING_INTERVAL seconds; this is for
doing it at once, or from cron (`--if-due`: only when no other machine did it within the interval).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from studio.ops import housekeeping


class Command(BaseCommand):
    help = "Clear expired sessions, old invitations, old sign-in records and stale temporary files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-due",
            action="store_true",
            help="Only when it is due (STUDIO_HOUSEKEEPING_INTERVAL since the last run on any machine).",
        )

    def handle(self, *args, if_due: bool, **options) -> None:
        every = timedelta(seconds=settings.STUDIO_HOUSEKEEPING_INTERVAL or 3600)
        if if_due and not housekeeping.take_turn(every):
            self.stdout.write("Not due yet: another run was recent enough.")
            return
        results = housekeeping.run()
        for label, value in results.items():
            shown = "not applicable" if value is None else value
            self.stdout.write(f"{label.replace('_', ' ')}: {shown}")
