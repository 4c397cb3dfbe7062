"""What stacking versions costs the gallery page, in-process, at 100,000 generations.

Runs by itself: `.venv/bin/python bench/bench_stacks.py [--size N] [--rounds N]`.

Seeds a throwaway SQLite database the way bench_gallery.py does (three rows in ten
are versions of one video), then times, in interleaved rounds, the first gallery
page and a search with filters, each with stacking (this code) and with stacking
switched off (newest_of_lineage() as no condition, the version count as 1): the
whole gallery_page() call, and apart from it the building of the query (Django
composing the SQL) and its execution alone. Interleaving makes a busy spell of the
machine fall on both alike; the ratios are what to read.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()

    from bench import bench_gallery

    bench_gallery.setup_django(Path(tempfile.mkdtemp(prefix="studio-bench-stacks-")))
    from django.contrib.auth.models import User
    from django.db import connection
    from django.db.models import IntegerField, Q, Value
    from django.utils import timezone

    from studio.accounts.models import Membership, Role, Team
    from studio.videos import gallery
    from studio.videos.models import Generation

    team = Team.objects.create(name="Bench team")
    people = []
    for name in ("alice", "bob", "carol"):
        user = User.objects.create_user(name, f"{name}@example.org", None, first_name=name)
        Membership.objects.create(team=team, user=user, role=Role.OWNER if name == "alice" else Role.CREATOR)
        people.append(user)
    seconds = bench_gallery.populate(team, people, start=0, upto=args.size, newest=timezone.now())
    print(f"seeded {args.size:,} generations in {seconds:.1f} s")
    viewer = people[0]

    def unstacked():
        return (
            mock.patch.object(gallery, "newest_of_lineage", lambda filters, user: Q()),
            mock.patch.object(gallery, "version_count", lambda: Value(1, output_field=IntegerField())),
        )

    def query(filters):
        rows = gallery.annotated(Generation.objects.filter(team=team), viewer)
        return gallery.apply_filters(rows, filters, viewer).order_by("-created", "-id")[
            : gallery.PAGE_SIZE + 1
        ]

    cases = {"first page": gallery.Filters(), "search + filters": gallery.Filters(q="fox", status="ready")}
    times: dict[tuple[str, str, str], list[float]] = {}

    def timed(key, fn, *args):
        started = time.perf_counter()
        result = fn(*args)
        times.setdefault(key, []).append((time.perf_counter() - started) * 1000)
        return result

    def page(filters):
        return gallery.gallery_page(team=team, user=viewer, filters=filters)

    def build(filters):
        return query(filters).query.sql_with_params()

    def execute(sql, params):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    for _ in range(args.rounds):
        for case, filters in cases.items():
            for variant in ("unstacked", "stacked"):
                patches = unstacked() if variant == "unstacked" else ()
                for patch in patches:
                    patch.start()
                try:
                    timed((case, variant, "gallery_page()"), page, filters)
                    sql, params = timed((case, variant, "building the SQL"), build, filters)
                finally:
                    for patch in patches:
                        patch.stop()
                timed((case, variant, "executing it"), execute, sql, params)

    print(
        f"\nmedians of {args.rounds} interleaved rounds, ms (SQLite, {args.size:,} generations, in-process)\n"
    )
    print(f"{'':<36} {'unstacked':>10} {'stacked':>10} {'ratio':>7}")
    for case in cases:
        for part in ("gallery_page()", "building the SQL", "executing it"):
            plain = statistics.median(times[(case, "unstacked", part)])
            stacked = statistics.median(times[(case, "stacked", part)])
            print(f"{case + ': ' + part:<36} {plain:>10.2f} {stacked:>10.2f} {stacked / plain:>7.2f}")
    cards = page(gallery.Filters()).cards
    print(f"\nfirst page: {len(cards)} cards, {sum(card.version_count > 1 for card in cards)} of them stacks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
