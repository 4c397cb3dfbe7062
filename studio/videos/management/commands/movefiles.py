"""python manage.py movefiles --to s3|local: move an install's videos and posters to the bucket, or back.

Copies every file the generations name from the local folder (MEDIA_ROOT) to
the S3 bucket configured by STUDIO_STORAGE_URL / STUDIO_S3_* (or back), each
verified by size and SHA-256 before the next; resumable and idempotent (see
studio.videos.movefiles). The source stays unless --delete-source is given,
and then goes only once its copy was verified. Rows are not changed: the names
are the same in both places, and which one the studio uses is configuration.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from studio.videos import movefiles


class Command(BaseCommand):
    help = "Copy (or move, with --delete-source) stored videos and posters to the S3 bucket or back."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--to", required=True, choices=["s3", "local"], help="where the files go")
        parser.add_argument(
            "--delete-source",
            action="store_true",
            help="delete each file from where it was, once its copy is verified (default: keep it)",
        )
        parser.add_argument("--dry-run", action="store_true", help="only say what would be copied")

    def handle(self, *args: Any, **options: Any) -> None:
        to, verbosity = options["to"], options["verbosity"]
        ticker = movefiles.Ticker(self.stdout.write, verbosity=verbosity)
        where = "the bucket" if to == "s3" else "the local folder"
        if verbosity:
            self.stdout.write(f"Copying stored videos and posters to {where}…")
        try:
            report = movefiles.move_files(
                to=to, delete_source=options["delete_source"], dry_run=options["dry_run"], progress=ticker
            )
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        counts = ", ".join(f"{count:,} {status}" for status, count in sorted(report.counts.items()))
        if verbosity:
            self.stdout.write(
                f"Done: {counts or 'no stored files'}; {movefiles.human_bytes(report.copied_bytes)} copied."
            )
            if options["delete_source"] and not options["dry_run"]:
                self.stdout.write("Sources of verified copies were deleted.")
        if not report.ok:
            raise CommandError(
                f"{len(report.problems)} file(s) were not moved (listed above); "
                "the others are in place. Fix those and run the command again."
            )
