# ruff: noqa: RUF001 - Chinese punctuation in Chinese prompts is intended
"""The gallery drawn on every request, next to a bare Django view, at 10,000 and 100,000 generations.

Runs by itself: `.venv/bin/python bench/bench_gallery.py [--requests N] [--concurrent-requests N]
[--database postgres://user@host:5432] [--code DIR]`.

1. Builds a throwaway SQLite database in a temporary data folder (or with
   --database a new database on that PostgreSQL server, ANALYZEd after each
   bulk insert and dropped at the end) with one team of 10,000 generations, 50 of them in flight among the newest (comments and
   favourites on some, three in ten stacked as versions of one video), by bulk_create.
2. Counts the SQL queries of a gallery page in-process (CaptureQueriesContext).
3. Serves the studio under gunicorn as `runstudio` runs it (2 workers, 4
   threads each, the same timeout and request-line limit) and times, with N
   sequential httpx requests each in interleaved rounds: a bare Django view
   (bench-only URLconf), the gallery page, a deep keyset page, a search with
   filters, the live refresh with nothing new (204, sending what a browser
   sends: the in-flight cards' states and the 24 cards near the viewport),
   the live refresh after a row off screen moved, a video's page, and
   searches: English and Chinese (2 characters), with no match and with matches.
   --code DIR measures another checkout of the studio (e.g. an older commit)
   with this same bench.
4. The same URLs from 8 concurrent clients: requests per second (in 4 interleaved rounds).
5. Adds 90,000 older generations (100,000 in all) and does 2 to 4 again, so
   both sizes print side by side (--sizes changes them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if "--code" in sys.argv:  # another checkout of the studio, measured by this bench
    ROOT = Path(sys.argv[sys.argv.index("--code") + 1]).resolve()
sys.path.insert(0, str(ROOT))

from bench_pipeline import throwaway_database  # noqa: E402

IN_FLIGHT = 50
CLIENTS = 8
GOALS = {
    "gallery page (drawn)": 10,
    "live refresh, nothing new (204)": 3,
    "video page": 10,
    "search, no match (English)": 10,
    "search, no match (Chinese, 2 chars)": 10,
    "search, matches (English)": 10,
    "search, matches (Chinese, 2 chars)": 10,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_django(data_dir: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.gallery_settings"
    os.environ["STUDIO_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-not-for-anything-else-0123456789")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


PROMPTS = [
    "A red fox leaps over a frozen stream in a snowy birch forest at dawn, slow dolly-in",
    "Neon rain on a Tokyo street at night, handheld tracking shot, reflections on wet asphalt",
    "一只红狐狸在雪地里奔跑，然后回头看镜头，柔和的金色晨光",
    "Slow aerial shot of waves breaking on black volcanic sand, overcast light",
    "A ballet dancer spins in an empty warehouse, dust in shafts of light",
    "城市夜景延时摄影，车流如光带，镜头缓慢推进",
]


def populate(team, people, *, start: int, upto: int, newest: dt.datetime) -> float:
    """Generations start..upto-1, one a minute going back from `newest`; returns seconds taken.

    Row 0 is the newest; every third of the newest 150 is in flight (50 in all),
    so the first page shows some, as a busy team's does. Three rows in ten are
    versions of one video (a stack of three: rows 10k, 10k+1, 10k+2), so pages
    skip older versions as a team's that regenerates does.
    """
    import uuid

    from django.db import transaction

    from studio.videos.models import Comment, Favourite, Generation, ReviewStatus, Status

    started = time.perf_counter()
    rng = random.Random(start)
    flying = [Status.QUEUED, Status.PENDING, Status.PROCESSING, Status.DOWNLOADING]
    with transaction.atomic():
        for first in range(start, upto, 5000):
            batch = []
            for index in range(first, min(first + 5000, upto)):
                if index % 10 == 0 or index % 10 > 2:
                    lineage = uuid.uuid4()
                prompt = f"{PROMPTS[index % len(PROMPTS)]} (take {index})"
                if index < 3 * IN_FLIGHT and index % 3 == 0:
                    status = flying[index % len(flying)]
                else:
                    status = Status.FAILED if index % 97 == 0 else Status.READY
                ready = status == Status.READY
                batch.append(
                    Generation(
                        team=team,
                        author=people[index % len(people)],
                        created=newest - dt.timedelta(minutes=index),
                        prompt=prompt,
                        compiled_prompt=prompt,
                        duration=rng.choice(["4", "5", "8", "auto"]),
                        aspect_ratio=rng.choice(["16:9", "16:9", "9:16"]),
                        status=status,
                        progress=100 if ready else 40,
                        review_status=rng.choice(list(ReviewStatus)),
                        video=f"teams/{team.code}/videos/{index}.mp4" if ready else "",
                        poster=f"teams/{team.code}/posters/{index}.jpg" if ready else "",
                        video_duration=5.0 if ready else None,
                        lineage=lineage,
                    )
                )
            rows = Generation.objects.bulk_create(batch)
            if rows[0].pk is None:  # not every backend returns primary keys from bulk_create
                rows = list(Generation.objects.filter(team=team, created__in=[g.created for g in batch]))
            Comment.objects.bulk_create(
                [Comment(generation=g, author=people[1], body="Looks good") for g in rows if g.pk % 3 == 0]
            )
            Favourite.objects.bulk_create(
                [Favourite(generation=g, user=people[0]) for g in rows if g.pk % 7 == 0]
            )
    return time.perf_counter() - started


def count_queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return len(queries)


class Timer:
    """Times each URL with N requests, taken in interleaved rounds.

    Every URL gets its share of each round, so a slow spell of the machine
    (this one is shared) falls on all of them alike.
    """

    ROUNDS = 10

    def __init__(self, http, urls: list[tuple[str, str, int, dict | None]], n: int) -> None:
        self.http, self.urls, self.n = http, urls, n

    def run(self) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {name: [] for name, *_ in self.urls}
        for _name, url, expect, headers in self.urls:  # warm up (and check the answers)
            for _ in range(5):
                response = self.http.get(url, headers=headers)
                assert response.status_code == expect, (url, response.status_code)
        per_round = max(1, self.n // self.ROUNDS)
        for _ in range(self.ROUNDS):
            for name, url, expect, headers in self.urls:
                for _ in range(per_round):
                    started = time.perf_counter()
                    response = self.http.get(url, headers=headers)
                    times[name].append((time.perf_counter() - started) * 1000)
                    assert response.status_code == expect, (url, response.status_code)
        return times


def concurrent_rps(base: str, cookie: dict, url: str, expect: int, headers: dict | None, total: int) -> float:
    """Requests per second of `total` requests to one URL from CLIENTS clients at once."""
    import httpx

    each = max(1, total // CLIENTS)
    errors: list[str] = []
    barrier = threading.Barrier(CLIENTS + 1)

    def client() -> None:
        with httpx.Client(base_url=base, headers=cookie, timeout=30) as http:
            http.get(url, headers=headers)  # its own connection, warm
            barrier.wait()
            for _ in range(each):
                status = http.get(url, headers=headers).status_code
                if status != expect:
                    errors.append(f"{url}: {status}")

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert not errors, errors[:3]
    return each * CLIENTS / elapsed


def urls_for(team) -> tuple[list[tuple[str, str, int, dict | None]], str]:
    """The URLs to time, built from the team's rows as a browser that opened the gallery would send them."""
    from django.urls import reverse

    from studio.videos import gallery
    from studio.videos.models import Generation, Status

    rows = Generation.objects.filter(team=team).order_by("-created", "-id")
    owner = team.memberships.get(role="owner").user
    first_page = gallery.gallery_page(team=team, user=owner, filters=gallery.Filters()).cards
    top = gallery.encode_cursor(first_page[0])
    deep = gallery.encode_cursor(rows[rows.count() - 200])
    sent = "".join(
        f"&watch={g.code}:{g.status}:{g.progress}"
        if g.in_flight
        else f"&seen={g.code.hex}.{gallery.card_token(g.updated, g.version_count)}"
        for g in first_page
    )
    version = gallery.newest_change(team)
    ready = rows.filter(status=Status.READY).first()
    htmx = {"HX-Request": "true"}
    urls = [
        ("bare Django view", "/bench/minimal/", 200, None),
        ("gallery page (drawn)", "/", 200, None),
        ("gallery page deep in (keyset)", f"/?after={deep}", 200, htmx),
        ("gallery search + filters", "/?q=fox&status=ready&aspect=16:9", 200, None),
        ("live refresh, nothing new (204)", f"/gallery/changes/?top={top}&v={version}{sent}", 204, htmx),
        # What an open gallery asks after a row off screen moved (the pipeline,
        # another filter's card): the cards on screen are looked at, nothing is sent.
        ("live refresh, a row elsewhere moved", f"/gallery/changes/?top={top}&v=1{sent}", 200, htmx),
        ("video page", reverse("generation_detail", args=[ready.code]), 200, None),
        # Search alone: a word no prompt holds, a 2-character Chinese word none
        # holds, and terms in one prompt in six (a page of matches, newest first).
        ("search, no match (English)", "/?q=zebra", 200, None),
        ("search, no match (Chinese, 2 chars)", "/?q=咖啡", 200, None),
        ("search, matches (English)", "/?q=fox", 200, None),
        ("search, matches (Chinese, 2 chars)", "/?q=狐狸", 200, None),
    ]
    return urls, reverse("home") + "?q=fox&favourites=on&status=ready"


def measure(base: str, cookie: dict, urls, n: int, concurrent: int) -> tuple[dict, dict]:
    import httpx

    with httpx.Client(base_url=base, headers=cookie, timeout=30) as http:
        times = Timer(http, urls, n).run()
    # The concurrent requests in interleaved rounds too: a busy spell of the
    # machine would otherwise fall on whichever URL's turn it was.
    rounds = 4
    each_round = max(1, concurrent // rounds // CLIENTS) * CLIENTS  # what concurrent_rps sends
    seconds = dict.fromkeys(times, 0.0)
    for _ in range(rounds):
        for name, url, expect, headers in urls:
            seconds[name] += each_round / concurrent_rps(base, cookie, url, expect, headers, each_round)
    rps = {name: rounds * each_round / elapsed for name, elapsed in seconds.items()}
    return {name: statistics.median(values) for name, values in times.items()}, {
        "p95": {name: statistics.quantiles(values, n=20)[-1] for name, values in times.items()},
        "rps": rps,
    }


def start_gunicorn(port: int) -> subprocess.Popen:
    """gunicorn exactly as runstudio starts it."""
    from studio.accounts.management.commands.runstudio import gunicorn_command

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = gunicorn_command("127.0.0.1", port, 2)
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def analyze() -> None:
    """Fresh planner statistics after a bulk insert, as an operator runs ANALYZE after a big import.

    PostgreSQL's autovacuum would get there in its own time; the bench must
    not depend on when. SQLite's planner here uses no statistics.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per URL (default 200)")
    parser.add_argument(
        "--concurrent-requests",
        type=int,
        default=400,
        help=f"requests per URL from {CLIENTS} clients (default 400)",
    )
    parser.add_argument("--sizes", default="10000,100000", help="team sizes, in order (default 10000,100000)")
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--code", help="the studio checkout to measure (default: this one)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    data_dir = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    server = None
    drop = None
    print(f"load average at the start: {load_average()} (1, 5, 15 min)", flush=True)
    try:
        if args.database:
            os.environ["DATABASE_URL"], drop = throwaway_database(args.database, "bench_gallery")
        setup_django(data_dir)
        import httpx
        from django.contrib.auth.models import User
        from django.test import Client
        from django.urls import reverse
        from django.utils import timezone

        from studio.accounts.models import Membership, Role, Team

        team = Team.objects.create(name="Bench team")
        people = []
        for name in ("alice", "bob", "carol"):
            user = User.objects.create_user(
                f"{name}@example.org", f"{name}@example.org", None, first_name=name
            )
            role = Role.OWNER if name == "alice" else Role.CREATOR
            Membership.objects.create(team=team, user=user, role=role)
            people.append(user)
        client = Client()
        client.force_login(people[0])
        client.get(reverse("home"))  # the first visit stores the team in the session
        cookie = {"Cookie": "; ".join(f"{k}={client.cookies[k].value}" for k in ("sessionid", "csrftoken"))}

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_gunicorn(port)
        newest = timezone.now()
        results: dict[int, tuple[dict, dict, dict]] = {}
        seeded = 0
        for size in sizes:
            seconds = populate(team, people, start=seeded, upto=size, newest=newest)
            print(f"seeded {size - seeded:,} generations in {seconds:.1f} s (bulk_create)", flush=True)
            analyze()
            seeded = size
            urls, filtered = urls_for(team)
            queries = {
                "gallery page": count_queries(client, reverse("home")),
                "gallery page, filtered": count_queries(client, filtered),
            }
            with httpx.Client(base_url=base, timeout=2) as http:
                for _ in range(200):
                    try:
                        if http.get("/bench/minimal/").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                else:
                    raise SystemExit("gunicorn did not start")
            medians, extra = measure(base, cookie, urls, args.requests, args.concurrent_requests)
            results[size] = (medians, extra, queries)

        names = [name for name, *_ in urls]
        small, big = sizes[0], sizes[-1]
        print()
        engine = "PostgreSQL" if args.database else "SQLite"
        print(
            f"Gallery benchmark: one team, {IN_FLIGHT} generations in flight, {engine}, gunicorn as runstudio runs it "
            f"(2 workers x 4 threads), code: {ROOT}"
        )
        print(
            f"{args.requests} sequential requests per URL over loopback (httpx), in {Timer.ROUNDS} interleaved rounds"
        )
        print()
        head = f"{'URL':<38}" + "".join(f" {f'{size:,}: ms':>12} {'p95':>6} {'x bare':>7}" for size in sizes)
        print(head + f" {'goal':>6}")
        print("-" * len(head + "       "))
        for name in names:
            line = f"{name:<38}"
            for size in sizes:
                medians, extra, _ = results[size]
                bare = medians["bare Django view"]
                line += f" {medians[name]:>12.2f} {extra['p95'][name]:>6.2f} {medians[name] / bare:>7.2f}"
            goal = GOALS.get(name)
            print(line + (f" {f'<= {goal}x':>6}" if goal else ""))
        print()
        print(
            f"{CLIENTS} concurrent clients, {args.concurrent_requests} requests per URL: requests per second"
        )
        print()
        head = f"{'URL':<38}" + "".join(f" {f'{size:,}: req/s':>14} {'x bare':>7}" for size in sizes)
        print(head)
        print("-" * len(head))
        for name in names:
            line = f"{name:<38}"
            for size in sizes:
                rps = results[size][1]["rps"]
                line += f" {rps[name]:>14.0f} {rps['bare Django view'] / rps[name]:>7.2f}"
            print(line)
        print()
        print("SQL queries (in-process, CaptureQueriesContext)")
        for what in results[small][2]:
            print(
                f"  {what:<24}" + "".join(f" {f'{size:,}:':>9} {results[size][2][what]:>3}" for size in sizes)
            )
        constant = results[small][2] == results[big][2]
        print()
        print(f"Constant queries per page: {'yes' if constant else 'NO'}")
        for name, goal in GOALS.items():
            for size in sizes:
                medians = results[size][0]
                rps = results[size][1]["rps"]
                ratio = medians[name] / medians["bare Django view"]
                ratio_rps = rps["bare Django view"] / rps[name]
                verdict = "yes" if ratio <= goal and ratio_rps <= goal else "no"
                print(
                    f"{name} within {goal}x of the bare view at {size:,}: {verdict} "
                    f"({ratio:.2f}x alone, {ratio_rps:.2f}x at {CLIENTS} clients)"
                )
        print(f"load average at the end: {load_average()} (1, 5, 15 min)")
        return 0 if constant else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        if drop is not None:
            drop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
