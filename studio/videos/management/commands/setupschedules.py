from __future__ import annotations

from django.core.management.base import BaseCommand

from studio.videos import services


class Command(BaseCommand):
    help = "Creates or corrects the background schedules (the generation sweep); safe to run any time."

    def handle(self, *args, **options) -> None:
        changed = services.ensure_schedules()
        self.stdout.write("Schedules created or updated." if changed else "Schedules already in place.")
