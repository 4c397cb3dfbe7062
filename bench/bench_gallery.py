# ruff: noqa: RUF001 - Chinese punctuation in Chinese prompts is intended
"""How fast the gallery opens with 10,000 generations, next to a minimal Django view.

Runs by itself: `.venv/bin/python bench/bench_gallery.py [--requests N]`.

1. Builds a throwaway SQLite database in a temporary data folder with one team
   and 100, then 10,000 generations (comments and favourites on some).
2. Counts the SQL queries of one gallery page at 100 and at 10,000 generations,
   in-process (CaptureQueriesContext): the goal is the same number.
3. Serves the studio under gunicorn on a free loopback port and times, with N
   sequential httpx requests each: a minimal view (bench-only URLconf), the
   gallery page, a deep keyset page, a filtered search, and the live-refresh
   partial with nothing new (204), bare and with the 24 cards of the first
   page sent as "seen" (what a browser sends). Reports median and p95, and each as a
   multiple of the minimal view's median: the goal is the gallery within 3x.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


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


def populate(team, people, upto: int, start: int) -> None:
    """Adds generations start..upto-1, spread over the last year, in batches."""
    from django.utils import timezone

    from studio.accounts.models import Team
    from studio.videos.models import Comment, Favourite, Generation, ReviewStatus, Status

    rng = random.Random(start)
    now = timezone.now()
    batch: list[Generation] = []
    for index in range(start, upto):
        prompt = f"{PROMPTS[index % len(PROMPTS)]} (take {index})"
        status = Status.READY if index % 50 else rng.choice([Status.PROCESSING, Status.FAILED])
        batch.append(
            Generation(
                team=team,
                author=people[index % len(people)],
                created=now - dt.timedelta(minutes=upto - index),
                prompt=prompt,
                compiled_prompt=prompt,
                duration=rng.choice(["4", "5", "8", "auto"]),
                aspect_ratio=rng.choice(["16:9", "16:9", "9:16"]),
                status=status,
                progress=100 if status == Status.READY else 40,
                review_status=rng.choice(list(ReviewStatus)),
                video=f"teams/{team.code}/videos/{index}.mp4" if status == Status.READY else "",
                poster=f"teams/{team.code}/posters/{index}.jpg" if status == Status.READY else "",
                video_duration=5.0 if status == Status.READY else None,
            )
        )
    Generation.objects.bulk_create(batch, batch_size=1000)
    Team.gallery_changed(team.pk)  # as services.create_generation does for each
    created = list(Generation.objects.filter(team=team).order_by("-id")[: upto - start])
    Comment.objects.bulk_create(
        [Comment(generation=g, author=people[1], body="Looks good") for g in created if g.pk % 3 == 0],
        batch_size=1000,
    )
    Favourite.objects.bulk_create(
        [Favourite(generation=g, user=people[0]) for g in created if g.pk % 7 == 0], batch_size=1000
    )


def count_queries(client, url: str, *, cached: bool = False) -> int:
    """The queries of one request: of drawing the page, or (cached) of serving it from the page cache."""
    from django.core.cache import caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if cached:
        client.get(url)
    else:
        caches["pages"].clear()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return len(queries)


class Timer:
    """Times each URL with N requests, taken in interleaved rounds.

    Every URL gets its share of each round, so a slow spell of the machine
    (this one is shared) falls on all of them alike instead of on whichever
    URL happened to be measured then.
    """

    ROUNDS = 10

    def __init__(self, http, n: int) -> None:
        self.http, self.n = http, n
        self.rows: list[tuple[str, list[float]]] = []
        self.urls: list[tuple[str, object, int, dict | None]] = []

    def add(self, name: str, url, expect: int = 200, headers: dict | None = None) -> None:
        """url is a string, or a function of the request's number (for a URL never asked before)."""
        self.urls.append((name, url, expect, headers))

    def run(self) -> list[tuple[str, list[float]]]:
        times: dict[str, list[float]] = {name: [] for name, *_ in self.urls}
        count = 0
        for _name, url, _expect, headers in self.urls:  # warm up
            for _ in range(5):
                count += 1
                self.http.get(url(count) if callable(url) else url, headers=headers)
        per_round = max(1, self.n // self.ROUNDS)
        for _ in range(self.ROUNDS):
            for name, url, expect, headers in self.urls:
                for _ in range(per_round):
                    count += 1
                    target = url(count) if callable(url) else url
                    started = time.perf_counter()
                    response = self.http.get(target, headers=headers)
                    times[name].append((time.perf_counter() - started) * 1000)
                    assert response.status_code == expect, (target, response.status_code)
        return [(name, times[name]) for name, *_ in self.urls]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per URL (default 200)")
    parser.add_argument("--generations", type=int, default=10_000)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    server = None
    try:
        setup_django(data_dir)
        import httpx
        from django.contrib.auth.models import User
        from django.test import Client
        from django.urls import reverse

        from studio.accounts.models import Membership, Role, Team

        team = Team.objects.create(name="Bench team")
        people = []
        for name in ("alice", "bob", "carol"):
            user = User.objects.create_user(
                f"{name}@example.org", f"{name}@example.org", None, first_name=name
            )
            Membership.objects.create(
                team=team, user=user, role=Role.OWNER if name == "alice" else Role.CREATOR
            )
            people.append(user)

        client = Client()
        client.force_login(people[0])
        client.get(reverse("home"))  # the first visit stores the team in the session

        populate(team, people, 100, 0)
        queries_small = count_queries(client, reverse("home"))
        populate(team, people, args.generations, 100)
        queries_big = count_queries(client, reverse("home"))
        filtered = reverse("home") + "?q=fox&favourites=on&status=ready"
        queries_filtered = count_queries(client, filtered)
        queries_cached = count_queries(client, filtered, cached=True)

        from studio.videos import gallery
        from studio.videos.models import Generation

        newest = Generation.objects.filter(team=team).order_by("-created", "-id").first()
        top = gallery.encode_cursor(newest)
        deep = Generation.objects.filter(team=team).order_by("-created", "-id")[args.generations - 200]
        deep_cursor = gallery.encode_cursor(deep)
        first_page = Generation.objects.filter(team=team).order_by("-created", "-id")[: gallery.PAGE_SIZE]
        seen = "".join(f"&seen={g.code.hex}.{gallery.card_version(g.updated)}" for g in first_page)
        team.refresh_from_db()
        version = team.gallery_version

        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "studio.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                *os.environ.get("BENCH_GUNICORN_EXTRA", "").split(),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        # What a signed-in browser sends: its session and its CSRF cookie.
        cookies = {name: client.cookies[name].value for name in ("sessionid", "csrftoken")}
        # A browser keeps its cookies; httpx's cookie jar (http.cookiejar) spends
        # about half a millisecond of Python on each Set-Cookie (Django renews the
        # CSRF cookie on every page that has a form). That is the client's time,
        # not the server's: send the cookies as a plain header instead.
        cookie_header = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        with httpx.Client(base_url=base, headers=cookie_header, timeout=10) as http:
            for _ in range(100):
                try:
                    if http.get("/bench/minimal/").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise SystemExit("gunicorn did not start")
            htmx = {"HX-Request": "true"}
            timer = Timer(http, args.requests)
            timer.add("minimal Django view", "/bench/minimal/")
            timer.add("signed in, no page (who is asking)", "/bench/who/")
            timer.add("empty signed-in studio page", "/bench/page/")
            timer.add("gallery page (newest 24)", "/")
            timer.add("gallery page deep in (keyset)", f"/?after={deep_cursor}", headers=htmx)
            timer.add("gallery search + filters", "/?q=fox&status=ready&aspect=16:9")
            # A query no one asked before is a cache miss: the page drawn from the
            # database, as on the first visit after a change to the team's gallery.
            timer.add("gallery page, drawn (not cached)", lambda n: f"/?sort=newest&n={n}")
            timer.add(
                "live refresh, nothing changed (204)",
                f"/gallery/changes/?top={top}&v={version}{seen}",
                expect=204,
                headers=htmx,
            )
            timer.add(
                "live refresh, version moved (24 seen)",
                f"/gallery/changes/?top={top}&v=1{seen}",
                headers=htmx,
            )
            rows = timer.run()

        medians = {name: statistics.median(times) for name, times in rows}
        baseline = medians["minimal Django view"]
        page_baseline = medians["empty signed-in studio page"]
        print(
            f"Gallery benchmark: {args.generations:,} generations in one team, SQLite, gunicorn (1 sync worker)"
        )
        print(
            f"{args.requests} sequential requests per URL over loopback (httpx), in {Timer.ROUNDS} interleaved rounds\n"
        )
        print(f"{'URL':<34} {'median ms':>10} {'p95 ms':>8} {'x minimal':>10} {'x empty page':>13}")
        print("-" * 79)
        for name, times in rows:
            median = statistics.median(times)
            print(
                f"{name:<34} {median:>10.2f} {p95(times):>8.2f} {median / baseline:>10.2f}"
                f" {median / page_baseline:>13.2f}"
            )
        print()
        print("SQL queries per gallery page (in-process, CaptureQueriesContext)")
        print(f"  drawn, with 100 generations:          {queries_small}")
        print(f"  drawn, with {args.generations:,} generations:       {queries_big}")
        print(f"  drawn, with {args.generations:,}, filtered:         {queries_filtered}")
        print(f"  from the page cache:                   {queries_cached}")
        gallery = medians["gallery page (newest 24)"]
        refresh = medians["live refresh, nothing changed (204)"]
        drawn = medians["gallery page, drawn (not cached)"]
        constant = queries_small == queries_big == queries_filtered
        print()
        print(f"Constant queries per page:                       {'yes' if constant else 'NO'}")
        print(
            f"Gallery within 3x of the minimal view:           {'yes' if gallery <= 3 * baseline else 'no'}"
        )
        print(
            f"Gallery within 3x of the empty signed-in page:   {'yes' if gallery <= 3 * page_baseline else 'no'}"
        )
        print(
            f"Live refresh within 3x of the minimal view:      {'yes' if refresh <= 3 * baseline else 'no'}"
        )
        print(f"Gallery drawn (not cached) within 3x of minimal: {'yes' if drawn <= 3 * baseline else 'no'}")
        return 0 if constant else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
