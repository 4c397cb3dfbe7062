"""`manage.py updatemessages`: the one way the translation catalogues are brought up to date.

It runs Django's makemessages for the templates and Python code (locale/<lang>/LC_MESSAGES/django.po)
and for the browser scripts (djangojs.po), always with the same flags, then compilemessages, so that
everyone who touches a string produces the same files: no source locations (they change on every
edit and make merge conflicts), no line wrapping, no obsolete entries. A run that changes nothing
leaves the files byte for byte as they were (makemessages would rewrite the header's date).

It needs GNU gettext (`apt-get install gettext`); the studio itself does not: the compiled .mo files
are committed, and tests/test_i18n.py fails when they are not current.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.core.management import BaseCommand, call_command

from studio.ops.pofile import untranslated

# Where no string of the studio's interface lives (and, for .venv, thousands of others').
IGNORE = [
    ".venv",
    "venv",
    "data",
    "bench",
    "tests",
    "staticfiles",
    "test-artifacts",
    "deploy",
    "node_modules",
]
LOCALES = ["zh_Hans"]
DOMAINS = ["django", "djangojs"]

_POT_DATE = re.compile(rb'^"POT-Creation-Date: [^"]*"\n', re.MULTILINE)


class Command(BaseCommand):
    help = "Brings locale/ up to date with the source (django.po, djangojs.po) and compiles the .mo files."

    def add_arguments(self, parser):
        parser.add_argument("--no-compile", action="store_true", help="Update the .po files only.")

    def handle(self, *args, **options):
        locale_dir = Path(settings.LOCALE_PATHS[0])
        before = {path: path.read_bytes() for path in locale_dir.glob("*/LC_MESSAGES/*.po")}
        for domain in DOMAINS:
            call_command(
                "makemessages",
                locale=LOCALES,
                domain=domain,
                ignore_patterns=list(IGNORE),
                no_location=True,
                no_wrap=True,
                no_obsolete=True,
                verbosity=max(0, options["verbosity"] - 1),
            )
        for path, old in before.items():
            new = path.read_bytes() if path.exists() else b""
            if _POT_DATE.sub(b"", new) == _POT_DATE.sub(b"", old):
                path.write_bytes(old)  # only the date moved: keep the file (and git) quiet
        if not options["no_compile"]:
            call_command("compilemessages", locale=LOCALES, ignore_patterns=list(IGNORE), verbosity=0)
        for path in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
            todo = len(untranslated(path))
            self.stdout.write(
                f"{path.relative_to(settings.BASE_DIR)}: {f'{todo} to translate' if todo else 'complete'}"
            )
