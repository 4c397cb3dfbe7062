"""python manage.py rotatekeys: re-encrypt every team's EvoLink key with the current key.

Put a new key first in STUDIO_ENCRYPTION_KEYS (keep the old ones after it),
deploy, run this, then the old keys can be removed.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from studio.videos.keys import rotate_keys


class Command(BaseCommand):
    help = "Re-encrypt all team API keys with the first key of STUDIO_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated, unreadable = rotate_keys()
        self.stdout.write(f"Re-encrypted {rotated} team key(s).")
        if unreadable:
            raise CommandError(
                f"{unreadable} team key(s) could not be decrypted with any configured key; "
                "those teams must enter their key again."
            )
